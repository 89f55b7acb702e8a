import { AccountId } from "polkadot-api";

// Amounts are decimal strings of the smallest unit (1 MAI = 10^12), as the chain and the API
// keep them: they exceed a float's exact range, so they are BigInts here, never numbers.

export const DECIMALS = 12;
export const SYMBOL = "MAI";
const UNIT = 10n ** BigInt(DECIMALS);

/** "1500000000000" → "1.5 MAI"; at most `digits` decimals, trailing zeros dropped. */
export function formatAmount(smallest: string | bigint, digits = 4): string {
  const value = BigInt(smallest);
  const sign = value < 0n ? "-" : "";
  const magnitude = value < 0n ? -value : value;
  const whole = magnitude / UNIT;
  const fraction = (magnitude % UNIT).toString().padStart(DECIMALS, "0").slice(0, digits).replace(/0+$/, "");
  const grouped = whole.toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `${sign}${grouped}${fraction ? `.${fraction}` : ""} ${SYMBOL}`;
}

/** 1500000000000n → "1.5": an amount as a field holding MAI shows it, the inverse of [`parseAmount`]. */
export function amountInput(smallest: string | bigint): string {
  return formatAmount(smallest, DECIMALS).replace(` ${SYMBOL}`, "").replaceAll(",", "");
}

/** "1.5" (MAI) → 1500000000000n; `null` for anything that is not a non-negative amount. */
export function parseAmount(text: string): bigint | null {
  const match = /^\s*(\d+)(?:\.(\d*))?\s*$/.exec(text);
  if (!match) return null;
  const [, whole = "0", fraction = ""] = match;
  if (fraction.length > DECIMALS) return null;
  return BigInt(whole) * UNIT + BigInt(fraction.padEnd(DECIMALS, "0") || "0");
}

/** A machine or order id (UUID) shortened for tables; the full id is in its title. */
export function shortId(id: string): string {
  return id.slice(0, 8);
}

/** "65536" MB → "64 GB". */
export function formatMemory(mb: number | null | undefined): string {
  if (mb == null) return "—";
  return mb >= 1024 ? `${Math.round(mb / 1024)} GB` : `${mb} MB`;
}

export function formatPercent(share: number | null | undefined): string {
  return share == null ? "—" : `${Math.round(share * 100)} %`;
}

/** A UUID as the chain's 16-byte id: "0f8e2c1a-6d3b-…" → "0x0f8e2c1a6d3b…". */
export function chainId(uuid: string): `0x${string}` {
  return `0x${uuid.replaceAll("-", "")}`;
}

/** The chain's SS58 prefix (chain/runtime/src/lib.rs, `SS58_PREFIX`). */
export const SS58_PREFIX = 1616;
const anyAccount = AccountId();
const chainAccount = AccountId(SS58_PREFIX);

/** An account in the chain's own SS58 format, whatever format it came in. */
export function chainAddress(address: string): string {
  try {
    return chainAccount.dec(anyAccount.enc(address));
  } catch {
    return address;
  }
}

/** Whether two spellings (SS58 of any prefix) name the same account. */
export function sameAccount(a: string, b: string): boolean {
  return chainAddress(a) === chainAddress(b);
}
