// Solves the faucet's work off the page's thread, reporting progress.
import { meetsDifficulty, workBytes, workHash } from "./work";

export type WorkRequest = { claimant: Uint8Array; blockHash: Uint8Array; difficulty: number };
export type WorkMessage = { type: "progress"; tried: number } | { type: "solved"; nonce: number };

const REPORT_EVERY = 1 << 14;

self.onmessage = (event: MessageEvent<WorkRequest>) => {
  const { claimant, blockHash, difficulty } = event.data;
  const bytes = workBytes(claimant, blockHash);
  for (let nonce = 0; ; nonce++) {
    if (meetsDifficulty(workHash(bytes, nonce), difficulty)) {
      self.postMessage({ type: "solved", nonce } satisfies WorkMessage);
      return;
    }
    if (nonce % REPORT_EVERY === 0) self.postMessage({ type: "progress", tried: nonce } satisfies WorkMessage);
  }
};
