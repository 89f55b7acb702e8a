// The faucet's proof of work (docs/chain.md, "The proof of work"): BLAKE2b-256 over the 87 bytes
// `matrixai-faucet ‖ account id ‖ block hash ‖ nonce (8 bytes little-endian)` must start with
// `difficulty` zero bits. The same bytes the runtime hashes (`pallet_faucet::work_hash`).
import { blake2b } from "@noble/hashes/blake2.js";

const DOMAIN = new TextEncoder().encode("matrixai-faucet");

export function workBytes(claimant: Uint8Array, blockHash: Uint8Array): Uint8Array {
  const bytes = new Uint8Array(87);
  bytes.set(DOMAIN, 0);
  bytes.set(claimant, 15);
  bytes.set(blockHash, 47);
  return bytes;
}

/** The work hash for `nonce` (below 2^53), written into `bytes` in place. */
export function workHash(bytes: Uint8Array, nonce: number): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset);
  view.setUint32(79, nonce >>> 0, true);
  view.setUint32(83, Math.floor(nonce / 2 ** 32), true);
  return blake2b(bytes, { dkLen: 32 });
}

/** At least `bits` leading zero bits, most significant bit of the first byte first. */
export function meetsDifficulty(hash: Uint8Array, bits: number): boolean {
  let zeros = 0;
  for (const byte of hash) {
    if (byte === 0) {
      zeros += 8;
      continue;
    }
    zeros += Math.clz32(byte) - 24;
    break;
  }
  return zeros >= bits;
}
