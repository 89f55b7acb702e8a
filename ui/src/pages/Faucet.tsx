// Faucet: test tokens for an account that may hold nothing yet. The chain pays a claim that
// carries a proof of work over the claimant and a recent block (its anti-Sybil rule), so the
// work is solved here, in a worker, before the claim is signed; an eligible claim pays no fee.
import { AccountId } from "polkadot-api";
import { useEffect, useRef, useState } from "react";
import { type Account, useAccounts } from "../chain/accounts";
import { useChain } from "../chain/ChainProvider";
import { TxFailure, progressText, submit } from "../chain/submit";
import { Failed, Loading } from "../components/States";
import { TxStatus } from "../components/TxStatus";
import type { WorkMessage, WorkRequest } from "../faucet/work.worker";
import { formatAmount } from "../format";
import { Link } from "../router";

/** The pool's refusals of a claim (docs/chain.md, "How a claim is admitted"). */
const REFUSALS: Record<number, string> = {
  1: "The work's block is too old by now: claim again to solve over the latest block.",
  2: "The work does not match this account: claim again.",
  3: "This account claimed less than a day ago: wait for the block shown below.",
  4: "The faucet's pot is empty: ask the chain's operators for a top-up.",
  5: "The faucet paid its hourly cap already: claim again in the next hour.",
};

type Step =
  | { state: "idle" }
  | { state: "working"; tried: number; expected: number }
  | { state: "submitting"; detail: string }
  | { state: "claimed"; amount: bigint; block: number; nextClaimAt: number }
  | { state: "failed"; error: string };

type Limits = { difficulty: number; cooldown: number; amount: bigint; nextClaimAt: number | null; best: number };

export function Faucet() {
  const { selected } = useAccounts();
  return (
    <section aria-labelledby="faucet-title">
      <h1 id="faucet-title">Faucet</h1>
      <p>
        Test tokens (MAI) for trying the marketplace: one claim per account a day. The chain asks for a little work
        instead of a fee, so an account that holds nothing can claim; this page does that work for you.
      </p>
      {selected ? <Claim key={selected.address} account={selected} /> : <NoAccount />}
    </section>
  );
}

function NoAccount() {
  return (
    <div className="state empty" role="status">
      <p>Choose an account at the top of the page to claim for it.</p>
      <p>
        Accounts come from a browser wallet (polkadot-js extension, Talisman, SubWallet); on a development chain the
        dev accounts are listed too. See the <Link href="/market">marketplace</Link> meanwhile.
      </p>
    </div>
  );
}

function Claim({ account }: { account: Account }) {
  const { api, client } = useChain();
  const { balance } = useAccounts();
  const [limits, setLimits] = useState<Limits | { error: string } | null>(null);
  const [step, setStep] = useState<Step>({ state: "idle" });
  const [refresh, setRefresh] = useState(0);
  const worker = useRef<Worker | null>(null);
  useEffect(() => () => worker.current?.terminate(), []);

  useEffect(() => {
    if (!api || !client) return;
    let live = true;
    (async () => {
      const [difficulty, cooldown, amount, best] = await Promise.all([
        api.constants.Faucet.ClaimDifficulty(),
        api.constants.Faucet.Cooldown(),
        api.constants.Faucet.ClaimAmount(),
        client.getBestBlocks().then((blocks) => blocks[0]?.number ?? 0),
      ]);
      // A claim decides the cooldown in its window and the next (the pallet's `Claims`).
      const window = Math.floor(best / cooldown);
      const claims = await Promise.all(
        [window, window - 1].filter((w) => w >= 0).map((w) => api.query.Faucet.Claims.getValue(w, account.address, { at: "best" })),
      );
      const last = Math.max(...claims.map((block) => block ?? -Infinity));
      const nextClaimAt = Number.isFinite(last) && last + cooldown > best ? last + cooldown : null;
      if (live) setLimits({ difficulty, cooldown, amount, nextClaimAt, best });
    })().catch((error: Error) => live && setLimits({ error: `The chain's faucet cannot be read: ${error.message}` }));
    return () => {
      live = false;
    };
  }, [api, client, account.address, refresh]);

  if (!api || !client || limits === null) return <Loading what="the faucet's rules" />;
  if ("error" in limits) return <Failed error={new Error(limits.error)} retry={() => setRefresh((n) => n + 1)} />;
  const busy = step.state === "working" || step.state === "submitting";

  const claim = async () => {
    setStep({ state: "working", tried: 0, expected: 2 ** limits.difficulty });
    try {
      const best = (await client.getBestBlocks())[0];
      if (!best) throw new Error("the node knows no block yet");
      const nonce = await solve({
        claimant: AccountId().enc(account.address),
        blockHash: hexBytes(best.hash),
        difficulty: limits.difficulty,
      });
      const finalized = await submit(
        api.tx.Faucet.claim({ work: { block: best.number, nonce: BigInt(nonce) } }),
        account.signer,
        (progress) => setStep({ state: "submitting", detail: progressText(progress) }),
      );
      const claimed = finalized.events.find((e) => e.type === "Faucet" && e.value.type === "Claimed");
      const fields = claimed?.value.value as { amount: bigint; next_claim_at: number } | undefined;
      const outcome = { block: finalized.block, amount: fields?.amount ?? limits.amount, nextClaimAt: fields?.next_claim_at ?? 0 };
      setStep({ state: "claimed", ...outcome });
      setRefresh((n) => n + 1);
    } catch (error) {
      setStep({ state: "failed", error: claimErrorText(error) });
    }
  };

  const solve = (request: WorkRequest) =>
    new Promise<number>((resolve, reject) => {
      worker.current?.terminate();
      const solver = new Worker(new URL("../faucet/work.worker.ts", import.meta.url), { type: "module" });
      worker.current = solver;
      solver.onmessage = (event: MessageEvent<WorkMessage>) => {
        if (event.data.type === "progress") {
          setStep({ state: "working", tried: event.data.tried, expected: 2 ** request.difficulty });
        } else {
          solver.terminate();
          resolve(event.data.nonce);
        }
      };
      solver.onerror = (event) => reject(new Error(`the work could not be solved: ${event.message}`));
      solver.postMessage(request);
    });

  return (
    <div className="faucet">
      <dl className="facts">
        <dt>Account</dt>
        <dd>
          {account.name} <code>{account.address}</code>
        </dd>
        <dt>Balance</dt>
        <dd data-testid="balance">{balance === null ? "…" : formatAmount(balance)}</dd>
        <dt>A claim pays</dt>
        <dd>{formatAmount(limits.amount)}</dd>
        <dt>Next claim</dt>
        <dd data-testid="next-claim">
          {limits.nextClaimAt === null
            ? "now"
            : `at block #${limits.nextClaimAt} (about ${hoursUntil(limits.nextClaimAt - limits.best)} from now)`}
        </dd>
      </dl>
      <button type="button" className="primary" disabled={busy || limits.nextClaimAt !== null} onClick={claim}>
        Claim {formatAmount(limits.amount, 0)}
      </button>
      <TxStatus
        tx={
          step.state === "working"
            ? {
                state: "busy",
                text: (
                  <>
                    Solving the work ({limits.difficulty} zero bits):{" "}
                    <progress max={1} value={Math.min(1, step.tried / step.expected)} aria-label="Work solved" />{" "}
                    {step.tried.toLocaleString()} hashes tried, about {step.expected.toLocaleString()} expected
                  </>
                ),
              }
            : step.state === "submitting"
              ? { state: "busy", text: step.detail }
              : step.state === "claimed"
                ? { state: "done", text: `Claimed ${formatAmount(step.amount)} in block #${step.block}. Next claim from block #${step.nextClaimAt}.` }
                : step.state === "failed"
                  ? { state: "failed", text: step.error }
                  : { state: "idle" }
        }
      />
    </div>
  );
}

function hexBytes(hex: string): Uint8Array {
  const digits = hex.startsWith("0x") ? hex.slice(2) : hex;
  return Uint8Array.from(digits.match(/../g) ?? [], (pair) => parseInt(pair, 16));
}

/** Blocks are 3 s (docs/chain.md). */
function hoursUntil(blocks: number): string {
  const hours = (blocks * 3) / 3600;
  return hours >= 1 ? `${hours.toFixed(1)} h` : `${Math.max(1, Math.round(hours * 60))} min`;
}

/** The pool's refusal explained when it is one of the faucet's; otherwise the failure's own words. */
function claimErrorText(error: unknown): string {
  if (error instanceof TxFailure) {
    return (error.kind === "invalid" && typeof error.code === "number" && REFUSALS[error.code]) || error.message;
  }
  return `The claim failed: ${error instanceof Error ? error.message : String(error)}`;
}
