// A polkadot-js compatible wallet for the browser tests: injected into the page as
// `window.injectedWeb3["matrixai-test"]`, exactly the interface the polkadot-js extension,
// Talisman and SubWallet expose, with its keys held here in Node (sr25519, derived from the
// dev seed) and every signature made here. `refuse` makes it decline, as a person would.
import { sr25519CreateDerive } from "@polkadot-labs/hdkd";
import { DEV_MINI_SECRET, ss58Address } from "@polkadot-labs/hdkd-helpers";
import { Blake2256, compact, u32 } from "@polkadot-api/substrate-bindings";
import { fromHex, mergeUint8, toHex } from "@polkadot-api/utils";

const SS58_PREFIX = 1616;
const derive = sr25519CreateDerive(DEV_MINI_SECRET);

/** `//Name` keys of the dev seed: `//Alice` is endowed on a dev chain, a fresh path holds nothing. */
export function testKey(path) {
  const key = derive(path);
  return { path, publicKey: key.publicKey, address: ss58Address(key.publicKey, SS58_PREFIX), sign: key.sign };
}

/**
 * The bytes a v4 transaction's signature covers, from the polkadot-js payload: the call, then
 * each extension's explicit part in the chain's order, then each one's implicit part; hashed
 * when longer than 256 bytes.
 */
export function signingPayload(payload) {
  const extra = [];
  const implicit = [];
  for (const extension of payload.signedExtensions) {
    switch (extension) {
      case "CheckSpecVersion":
        implicit.push(u32.enc(Number(payload.specVersion)));
        break;
      case "CheckTxVersion":
        implicit.push(u32.enc(Number(payload.transactionVersion)));
        break;
      case "CheckGenesis":
        implicit.push(fromHex(payload.genesisHash));
        break;
      case "CheckMortality":
        extra.push(fromHex(payload.era));
        implicit.push(fromHex(payload.blockHash));
        break;
      case "CheckNonce":
        extra.push(compact.enc(Number(payload.nonce)));
        break;
      case "ChargeTransactionPayment":
        extra.push(compact.enc(BigInt(payload.tip)));
        break;
      case "CheckMetadataHash": {
        const mode = payload.mode ?? 0;
        extra.push(Uint8Array.of(mode));
        implicit.push(mode ? mergeUint8([Uint8Array.of(1), fromHex(payload.metadataHash)]) : Uint8Array.of(0));
        break;
      }
      default:
      // CheckNonZeroSender, CheckWeight, WeightReclaim: nothing signed.
    }
  }
  const bytes = mergeUint8([fromHex(payload.method), ...extra, ...implicit]);
  return bytes.length > 256 ? Blake2256(bytes) : bytes;
}

/** Injects the wallet with `keys` into every page of `context`; returns its switches. */
export async function injectWallet(context, keys) {
  const state = { refuse: false, signed: 0 };
  const byAddress = new Map(keys.map((key) => [key.address, key]));
  await context.exposeFunction("matrixaiTestWalletSign", (address, kind, data) => {
    const key = byAddress.get(address);
    if (!key) throw new Error(`the test wallet has no key for ${address}`);
    if (state.refuse) throw new Error("Cancelled by the user");
    state.signed++;
    const bytes = kind === "payload" ? signingPayload(data) : fromHex(data);
    // A MultiSignature: 0x01 (sr25519), then the signature.
    return toHex(mergeUint8([Uint8Array.of(1), key.sign(bytes)]));
  });
  const accounts = keys.map((key) => ({ address: key.address, name: key.path.replace(/^\/\//, ""), type: "sr25519" }));
  await context.addInitScript((accounts) => {
    const sign = (...args) => window.matrixaiTestWalletSign(...args);
    window.injectedWeb3 = {
      ...window.injectedWeb3,
      "matrixai-test": {
        version: "1.0.0",
        enable: async () => ({
          accounts: { get: async () => accounts, subscribe: (callback) => (callback(accounts), () => {}) },
          signer: {
            signPayload: async (payload) => ({ id: 1, signature: await sign(payload.address, "payload", payload) }),
            signRaw: async ({ address, data }) => ({ id: 1, signature: (await sign(address, "raw", data)).replace(/^0x01/, "0x") }),
          },
        }),
      },
    };
  }, accounts);
  return state;
}
