// One connection to the chain for the whole UI, typed by the descriptors polkadot-api generated
// from artifacts/metadata.scale (the metadata the Rust client is generated from).
import { getMetadata, matrixai } from "@polkadot-api/descriptors";
import { type ReactNode, createContext, useContext, useEffect, useMemo, useState } from "react";
import type { PolkadotClient, TypedApi } from "polkadot-api";
import { WsEvent, createWsClient } from "polkadot-api/ws";
import { nodeUrl } from "../settings";

export type MatrixApi = TypedApi<typeof matrixai>;

export type ChainStatus =
  | { state: "connecting"; url: string }
  | { state: "connected"; url: string; finalized: number; best: number }
  | { state: "failed"; url: string; error: string };

/** The client and its typed API exist once the provider has mounted. */
type Chain = { client: PolkadotClient | null; api: MatrixApi | null; status: ChainStatus };

const ChainContext = createContext<Chain | null>(null);

export function ChainProvider({ children }: { children: ReactNode }) {
  const url = nodeUrl();
  const [status, setStatus] = useState<ChainStatus>({ state: "connecting", url });
  const [client, setClient] = useState<PolkadotClient | null>(null);
  useEffect(() => {
    const connection = createWsClient(url, {
      // The metadata is known offline: nothing is downloaded before the first query.
      getMetadata,
      onStatusChanged: (change) => {
        if (change.type === WsEvent.ERROR || change.type === WsEvent.CLOSE) {
          setStatus({ state: "failed", url, error: `The node at ${url} cannot be reached; retrying.` });
        }
      },
    });
    let best = 0;
    const bests = connection.bestBlocks$.subscribe((blocks) => {
      best = blocks[0]?.number ?? best;
    });
    const finalized = connection.finalizedBlock$.subscribe({
      next: (block) => setStatus({ state: "connected", url, finalized: block.number, best: Math.max(best, block.number) }),
      error: (error: Error) => setStatus({ state: "failed", url, error: error.message }),
    });
    setClient(connection);
    return () => {
      bests.unsubscribe();
      finalized.unsubscribe();
      connection.destroy();
    };
  }, [url]);
  const chain = useMemo(() => ({ client, api: client?.getTypedApi(matrixai) ?? null, status }), [client, status]);
  return <ChainContext.Provider value={chain}>{children}</ChainContext.Provider>;
}

export function useChain(): Chain {
  const chain = useContext(ChainContext);
  if (!chain) throw new Error("useChain outside <ChainProvider>");
  return chain;
}
