// One connection to the chain for the whole UI, typed by the descriptors polkadot-api generated
// from artifacts/metadata.scale (the metadata the Rust client is generated from): through a
// node's RPC, or through a light client (smoldot, in a Web Worker) that syncs from the chain
// spec's bootnodes and verifies what it reads.
import { getMetadata, matrixai } from "@polkadot-api/descriptors";
import { type ReactNode, createContext, useContext, useEffect, useMemo, useState } from "react";
import { type PolkadotClient, type TypedApi, createClient } from "polkadot-api";
import type { Chain as SmoldotChain } from "polkadot-api/smoldot";
import { WsEvent, createWsClient } from "polkadot-api/ws";
import { type Connection, connection } from "../settings";

export type MatrixApi = TypedApi<typeof matrixai>;

/** The light client's view of the network (`system_health`), polled while it runs. */
export type Health = { peers: number; isSyncing: boolean };

export type ChainStatus = { via: Connection } & (
  | { state: "connecting"; url: string }
  | { state: "connected"; url: string; finalized: number; best: number; health: Health | null }
  | { state: "failed"; url: string; error: string }
);

/** The client and its typed API exist once the provider has mounted. */
type Chain = { client: PolkadotClient | null; api: MatrixApi | null; status: ChainStatus };

const ChainContext = createContext<Chain | null>(null);

export function ChainProvider({ children }: { children: ReactNode }) {
  const [via] = useState(connection);
  const url = via.kind === "rpc" ? via.url : `light client (${via.chainSpecUrl})`;
  const [status, setStatus] = useState<ChainStatus>({ via, state: "connecting", url });
  const [client, setClient] = useState<PolkadotClient | null>(null);
  useEffect(() => {
    const failed = (error: string) => setStatus({ via, state: "failed", url, error });
    let stopped = false;
    let stop = () => {};
    const started = via.kind === "rpc" ? Promise.resolve(rpcClient(via.url, failed)) : lightClient(via.chainSpecUrl);
    started.then(
      ({ client: connected, destroy }) => {
        if (stopped) return destroy();
        let best = 0;
        let health: Health | null = null;
        const bests = connected.bestBlocks$.subscribe((blocks) => {
          best = blocks[0]?.number ?? best;
        });
        const finalized = connected.finalizedBlock$.subscribe({
          next: (block) => setStatus({ via, state: "connected", url, finalized: block.number, best: Math.max(best, block.number), health }),
          error: (error: Error) => failed(error.message),
        });
        // How many peers the light client has and whether it is still catching up.
        const poll =
          via.kind === "light"
            ? setInterval(() => {
                connected._request<Health>("system_health", []).then((next) => {
                  health = next;
                  setStatus((current) => (current.state === "connected" ? { ...current, health: next } : current));
                }, () => {});
              }, 2_000)
            : undefined;
        setClient(connected);
        stop = () => {
          clearInterval(poll);
          bests.unsubscribe();
          finalized.unsubscribe();
          destroy();
        };
      },
      (error: Error) => stopped || failed(`The light client could not start: ${error.message}`),
    );
    return () => {
      stopped = true;
      stop();
    };
  }, [via, url]);
  const chain = useMemo(() => ({ client, api: client?.getTypedApi(matrixai) ?? null, status }), [client, status]);
  return <ChainContext.Provider value={chain}>{children}</ChainContext.Provider>;
}

type Started = { client: PolkadotClient; destroy: () => void };

function rpcClient(url: string, failed: (error: string) => void): Started {
  const client = createWsClient(url, {
    // The metadata is known offline: nothing is downloaded before the first query.
    getMetadata,
    onStatusChanged: (change) => {
      if (change.type === WsEvent.ERROR || change.type === WsEvent.CLOSE) failed(`The node at ${url} cannot be reached; retrying.`);
    },
  });
  return { client, destroy: () => client.destroy() };
}

/** smoldot and its WebAssembly load only when this mode is chosen: the first page stays small. */
async function lightClient(chainSpecUrl: string): Promise<Started> {
  const response = await fetch(chainSpecUrl).catch(() => null);
  if (!response?.ok) throw new Error(`no chain spec at ${chainSpecUrl} (the indexer serves it with --chain-spec)`);
  const chainSpec = await response.text();
  const [{ getSmProvider }, { startFromWorker }, { default: SmoldotWorker }] = await Promise.all([
    import("polkadot-api/sm-provider"),
    import("polkadot-api/smoldot/from-worker"),
    import("polkadot-api/smoldot/worker?worker"),
  ]);
  const smoldot = startFromWorker(new SmoldotWorker());
  // Awaited here, so that a chain spec smoldot refuses says why; polkadot-api asks for a new
  // chain whenever it restarts the connection, and a chain serves one connection only.
  let first: SmoldotChain | null = await smoldot.addChain({ chainSpec }).catch((error: Error) => {
    void smoldot.terminate();
    throw error;
  });
  const client = createClient(
    getSmProvider(() => {
      const chain = first ?? smoldot.addChain({ chainSpec });
      first = null;
      return chain;
    }),
    { getMetadata },
  );
  return {
    client,
    destroy: () => {
      client.destroy();
      void smoldot.terminate();
    },
  };
}

export function useChain(): Chain {
  const chain = useContext(ChainContext);
  if (!chain) throw new Error("useChain outside <ChainProvider>");
  return chain;
}
