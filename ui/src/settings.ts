// What a person may change about where the UI connects, kept in this browser.
const NODE_URL = "matrixai.nodeUrl";
const CONNECTION = "matrixai.connection";
const CHAIN_SPEC_URL = "matrixai.chainSpecUrl";

/** The node's WebSocket RPC: the saved choice, else port 9944 on the UI's host (a devnet). */
export function nodeUrl(): string {
  const saved = window.localStorage.getItem(NODE_URL);
  if (saved) return saved;
  const secure = window.location.protocol === "https:";
  return `${secure ? "wss" : "ws"}://${window.location.hostname || "127.0.0.1"}:9944`;
}

/**
 * How the UI reaches the chain: a node's RPC, or a light client (smoldot) in this page that
 * syncs from the chain spec's bootnodes and checks what it reads itself (milestone 3.4).
 */
export type Connection = { kind: "rpc"; url: string } | { kind: "light"; chainSpecUrl: string };

/** Where the indexer serves the chain spec of the chain it follows (`--chain-spec`). */
export const DEFAULT_CHAIN_SPEC_URL = "/api/chain-spec";

export function connection(): Connection {
  if (window.localStorage.getItem(CONNECTION) === "light") {
    return { kind: "light", chainSpecUrl: window.localStorage.getItem(CHAIN_SPEC_URL) || DEFAULT_CHAIN_SPEC_URL };
  }
  return { kind: "rpc", url: nodeUrl() };
}

export function saveConnection(next: Connection): void {
  window.localStorage.setItem(CONNECTION, next.kind);
  if (next.kind === "rpc") window.localStorage.setItem(NODE_URL, next.url);
  else window.localStorage.setItem(CHAIN_SPEC_URL, next.chainSpecUrl);
}
