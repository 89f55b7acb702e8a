// Signs, sends and follows a transaction until its block is final: one place for what every
// page that writes to the chain needs (progress to show, errors a person can read).
import { InvalidTxError, type PolkadotSigner } from "polkadot-api";

type Watchable = {
  signSubmitAndWatch: (signer: PolkadotSigner) => {
    subscribe: (observer: {
      next: (event: TxEvent) => void;
      error: (error: unknown) => void;
    }) => { unsubscribe: () => void };
  };
};

type TxEvent =
  | { type: "signed" | "broadcasted" }
  | { type: "txBestBlocksState"; found: false }
  | { type: "txBestBlocksState"; found: true; block: { number: number } }
  | ({ type: "finalized"; block: { number: number; hash: string }; events: ChainEvent[] } & (
      | { ok: true }
      | { ok: false; dispatchError: { type: string; value: unknown } }
    ));

export type ChainEvent = { type: string; value: { type: string; value: unknown } };

export type Finalized = { block: number; events: ChainEvent[] };

/** What the wallet and the chain are doing with a transaction, for the page to show. */
export type Progress = "signing" | "sent" | { inBlock: number };

/**
 * Resolves with the finalized block and the transaction's events; rejects with a
 * [`TxFailure`] whose message says what happened (refused in the wallet, refused by the node,
 * failed in its block).
 */
export function submit(tx: Watchable, signer: PolkadotSigner, onProgress: (progress: Progress) => void): Promise<Finalized> {
  onProgress("signing");
  return new Promise((resolve, reject) => {
    tx.signSubmitAndWatch(signer).subscribe({
      next: (event) => {
        if (event.type === "broadcasted") onProgress("sent");
        else if (event.type === "txBestBlocksState" && event.found) onProgress({ inBlock: event.block.number });
        else if (event.type === "finalized") {
          if (event.ok) resolve({ block: event.block.number, events: event.events });
          else reject(new TxFailure("failed", `The chain refused it in block #${event.block.number}: ${dispatchErrorName(event.dispatchError)}`, dispatchErrorName(event.dispatchError)));
        }
      },
      error: (error) => reject(failure(error)),
    });
  });
}

export class TxFailure extends Error {
  constructor(
    /** `refused` by the wallet (nothing sent), `invalid` for the node's pool, `failed` in a block. */
    readonly kind: "refused" | "invalid" | "failed" | "other",
    message: string,
    /** `Pallet.Error` for a failure in a block; the pool's `Custom(n)` code for an invalid one. */
    readonly code?: string | number,
  ) {
    super(message);
    this.name = "TxFailure";
  }
}

function failure(error: unknown): TxFailure {
  if (error instanceof InvalidTxError) {
    const invalid = error.error as { type?: string; value?: { type?: string; value?: unknown } };
    const custom = invalid.value?.type === "Custom" && typeof invalid.value.value === "number" ? invalid.value.value : undefined;
    return new TxFailure("invalid", `The node refused the transaction: ${invalid.type ?? "Invalid"}.${invalid.value?.type ?? "?"}${custom === undefined ? "" : `(${custom})`}`, custom);
  }
  const message = error instanceof Error ? error.message : String(error);
  if (/cancel|reject|denied/i.test(message)) return new TxFailure("refused", "The signature was refused in the wallet; nothing was sent.");
  return new TxFailure("other", `The transaction failed: ${message}`);
}

/** `Module { HashrateMarket { OfferWhileRented } }` → `HashrateMarket.OfferWhileRented`. */
function dispatchErrorName(error: { type: string; value: unknown }): string {
  const names = [error.type];
  let inner = error.value as { type?: string; value?: unknown } | undefined;
  while (inner && typeof inner === "object" && typeof inner.type === "string") {
    names.push(inner.type);
    inner = inner.value as typeof inner;
  }
  return (names[0] === "Module" ? names.slice(1) : names).join(".");
}

export function progressText(progress: Progress): string {
  if (progress === "signing") return "Waiting for your wallet's signature…";
  if (progress === "sent") return "Sent; waiting for a block…";
  return `In block #${progress.inBlock}; waiting for it to be final…`;
}
