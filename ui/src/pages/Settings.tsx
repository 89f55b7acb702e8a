// Settings: how this browser reaches the chain. A node's RPC is the default; the light client
// (smoldot, in this page) trusts no node: it syncs headers from the chain spec's bootnodes and
// checks every answer against them.
import { type FormEvent, useState } from "react";
import { useChain } from "../chain/ChainProvider";
import { DEFAULT_CHAIN_SPEC_URL, type Connection, connection, nodeUrl, saveConnection } from "../settings";

export function Settings() {
  const { status } = useChain();
  const saved = connection();
  const [kind, setKind] = useState<Connection["kind"]>(saved.kind);
  const [url, setUrl] = useState(saved.kind === "rpc" ? saved.url : nodeUrl());
  const [chainSpecUrl, setChainSpecUrl] = useState(saved.kind === "light" ? saved.chainSpecUrl : DEFAULT_CHAIN_SPEC_URL);
  const problem =
    kind === "rpc" && !/^wss?:\/\/\S+$/.test(url)
      ? "The node's address is a WebSocket URL, such as ws://127.0.0.1:9944."
      : kind === "light" && chainSpecUrl.trim() === ""
        ? "The light client needs the chain spec's address."
        : null;
  const save = (event: FormEvent) => {
    event.preventDefault();
    if (problem) return;
    saveConnection(kind === "rpc" ? { kind, url: url.trim() } : { kind, chainSpecUrl: chainSpecUrl.trim() });
    // One connection per page: the new one starts with the page.
    window.location.reload();
  };
  return (
    <section aria-labelledby="settings-title">
      <h1 id="settings-title">Settings</h1>
      <p data-testid="connection-status">
        Now:{" "}
        {status.state === "connected"
          ? `connected through ${status.via.kind === "light" ? "the light client" : status.url}, block #${status.finalized} finalized, #${status.best} best${
              status.health ? `; ${status.health.peers} peer${status.health.peers === 1 ? "" : "s"}, ${status.health.isSyncing ? "syncing" : "synced"}` : ""
            }`
          : status.state === "failed"
            ? status.error
            : "connecting…"}
      </p>
      <form className="settings" onSubmit={save}>
        <fieldset>
          <legend>Connect to the chain through</legend>
          <label className="check">
            <input type="radio" name="connection" checked={kind === "rpc"} onChange={() => setKind("rpc")} />a node's RPC
          </label>
          <label>
            Node address
            <input value={url} onChange={(event) => setUrl(event.target.value)} disabled={kind !== "rpc"} aria-invalid={kind === "rpc" && !!problem} />
          </label>
          <label className="check">
            <input type="radio" name="connection" checked={kind === "light"} onChange={() => setKind("light")} />
            the light client in this browser (smoldot)
          </label>
          <label>
            Chain spec address
            <input value={chainSpecUrl} onChange={(event) => setChainSpecUrl(event.target.value)} disabled={kind !== "light"} />
            <small>
              The chain spec lists the network's bootnodes; a browser reaches them over WebSocket (the node's <code>/ws</code> listener). The
              indexer serves the chain's at {DEFAULT_CHAIN_SPEC_URL}.
            </small>
          </label>
        </fieldset>
        {problem && <p className="field-error">{problem}</p>}
        <button type="submit" className="primary" disabled={!!problem}>
          Save and reconnect
        </button>
      </form>
    </section>
  );
}
