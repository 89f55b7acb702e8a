import type { ReactNode } from "react";

/** A transaction as a page shows it: nothing yet, under way, done, or failed. */
export type TxView = { state: "idle" } | { state: "busy" | "done"; text: ReactNode } | { state: "failed"; text: string };

/**
 * Progress, then the outcome. The outcome is announced to screen readers once (a status, or an
 * alert for a failure); progress that changes many times a second (the faucet's hashes) is not.
 */
export function TxStatus({ tx }: { tx: TxView }) {
  return (
    <div>
      {tx.state === "busy" && <p>{tx.text}</p>}
      {tx.state === "done" && (
        <p className="success" role="status">
          {tx.text}
        </p>
      )}
      {tx.state === "failed" && (
        <p className="error" role="alert">
          {tx.text}
        </p>
      )}
    </div>
  );
}
