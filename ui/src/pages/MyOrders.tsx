// My Orders: the signed-in account's orders as buyer and as seller, newest first, with their
// status; each opens its details, and a buyer renews an order still training.
import { type FormEvent, useEffect, useState } from "react";
import { type OrderView, type Role, indexedAfter, myOrders } from "../api/indexer";
import { useQuery } from "../api/useQuery";
import { useAccounts } from "../chain/accounts";
import { useChain } from "../chain/ChainProvider";
import { type Progress, TxFailure, progressText, submit } from "../chain/submit";
import { Pager } from "../components/Pager";
import { Empty, Failed, Loading } from "../components/States";
import { TxStatus } from "../components/TxStatus";
import { chainId, formatAmount, sameAccount, shortId } from "../format";
import { Link, navigate, useLocation } from "../router";

const ROLES: { value: Role; label: string }[] = [
  { value: "any", label: "All" },
  { value: "buyer", label: "As buyer" },
  { value: "seller", label: "As seller" },
];

/** Open statuses (crates/indexer/src/api/orders.rs, `STATUSES`); the others are closed. */
const OPEN = new Set(["training", "completed", "pot_submitted", "verified", "disputed"]);

export function MyOrders() {
  const { selected } = useAccounts();
  return (
    <section aria-labelledby="orders-title">
      <h1 id="orders-title">My Orders</h1>
      {selected ? <Orders account={selected.address} /> : <Empty>Choose an account at the top of the page to see its orders.</Empty>}
    </section>
  );
}

function Orders({ account }: { account: string }) {
  const { query } = useLocation();
  const role = (ROLES.find((r) => r.value === query.get("role"))?.value ?? "any") as Role;
  const page = Math.max(1, Number(query.get("page")) || 1);
  const [version, setVersion] = useState(0);
  const orders = useQuery(`${account}:${role}:${page}:${version}`, (signal) => myOrders(account, role, page, signal));
  const go = (next: { role?: Role; page?: number }) => {
    const params = new URLSearchParams();
    const nextRole = next.role ?? role;
    if (nextRole !== "any") params.set("role", nextRole);
    if ((next.page ?? 1) > 1) params.set("page", String(next.page));
    navigate(`/orders${params.size ? `?${params}` : ""}`);
  };
  return (
    <>
      <div className="tabs" role="group" aria-label="Role">
        {ROLES.map((r) => (
          <button key={r.value} type="button" aria-pressed={r.value === role} onClick={() => go({ role: r.value })}>
            {r.label}
          </button>
        ))}
      </div>
      {orders.state === "loading" && <Loading what="your orders" />}
      {orders.state === "failed" && <Failed error={orders.error} retry={orders.retry} />}
      {orders.state === "ready" &&
        (orders.data.items.length === 0 ? (
          <Empty>
            No order {role === "buyer" ? "placed by" : role === "seller" ? "placed with" : "of"} this account yet. Rent a machine on the{" "}
            <Link href="/market">marketplace</Link>.
          </Empty>
        ) : (
          <div aria-busy={orders.stale}>
            <div className="table-scroll">
              <table>
                <thead>
                  <tr>
                    <th scope="col">Order</th>
                    <th scope="col">Role</th>
                    <th scope="col">Machine</th>
                    <th scope="col">Status</th>
                    <th scope="col">Hours</th>
                    <th scope="col">Escrow</th>
                    <th scope="col">Placed in</th>
                    <th scope="col">Verdict</th>
                    <th scope="col">
                      <span className="visually-hidden">Actions</span>
                    </th>
                  </tr>
                </thead>
                <tbody>
                  {orders.data.items.map((order) => (
                    <OrderRow key={`${order.order_id}:${order.placed_at}`} order={order} account={account} onChanged={() => setVersion((n) => n + 1)} />
                  ))}
                </tbody>
              </table>
            </div>
            <Pager page={page} pages={Math.max(1, Math.ceil(orders.data.total / orders.data.page_size))} onPage={(next) => go({ page: next })} />
          </div>
        ))}
    </>
  );
}

function OrderRow({ order, account, onChanged }: { order: OrderView; account: string; onChanged: () => void }) {
  const asBuyer = sameAccount(order.buyer, account);
  return (
    <tr data-order={order.order_id}>
      <td>
        <Link href={`/orders/${order.order_id}?placed_at=${order.placed_at}`} title={order.order_id}>
          <code>{shortId(order.order_id)}</code>
        </Link>
      </td>
      <td>{asBuyer ? "buyer" : "seller"}</td>
      <td title={order.machine_id}>
        <code>{shortId(order.machine_id)}</code>
      </td>
      <td>
        <span className={`badge ${OPEN.has(order.status) ? "open" : "closed"}`}>{order.status.replace("_", " ")}</span>
      </td>
      <td>{order.duration_hours}</td>
      <td>{formatAmount(order.escrow)}</td>
      <td>#{order.placed_at}</td>
      <td>{order.verdict ?? "—"}</td>
      <td>{asBuyer && order.status === "training" && <Renew order={order} onRenewed={onChanged} />}</td>
    </tr>
  );
}

type Terms = { hours: number; maxHours: number; pricePerHour: bigint };
type Action = { state: "idle" } | { state: "busy"; progress: Progress } | { state: "done"; text: string } | { state: "failed"; text: string };

/** Extends an order in training (`renew_order`) at the price and longest duration it was placed at. */
function Renew({ order, onRenewed }: { order: OrderView; onRenewed: () => void }) {
  const { api } = useChain();
  const { selected } = useAccounts();
  const [open, setOpen] = useState(false);
  const [terms, setTerms] = useState<Terms | "gone" | { unread: string } | null>(null);
  const [extra, setExtra] = useState("1");
  const [action, setAction] = useState<Action>({ state: "idle" });
  const [reads, setReads] = useState(0);
  useEffect(() => {
    if (!open || !api) return;
    // The order's own snapshot on chain: its hours so far and the most it may reach. Read
    // again after each renewal.
    api.query.HashrateMarket.Orders.getValue(chainId(order.order_id)).then(
      (live) => setTerms(live ? { hours: live.duration_hours, maxHours: live.max_duration_hours, pricePerHour: live.price_per_hour } : "gone"),
      (error: Error) => setTerms({ unread: `The order could not be read from the chain: ${error.message}` }),
    );
  }, [open, api, order.order_id, reads]);
  const extraValue = /^\d+$/.test(extra) ? Number(extra) : NaN;
  const problem =
    terms === "gone"
      ? "This order is no longer open on chain."
      : terms && "unread" in terms
        ? terms.unread
        : terms && !(extraValue >= 1 && terms.hours + extraValue <= terms.maxHours)
        ? `Add 1 to ${terms.maxHours - terms.hours} hours: the order may last at most ${terms.maxHours} h and has ${terms.hours}.`
        : null;
  const renew = async (event: FormEvent) => {
    event.preventDefault();
    if (!api || !selected || !terms || terms === "gone" || "unread" in terms || problem || action.state === "busy") return;
    setAction({ state: "busy", progress: "signing" });
    try {
      const tx = api.tx.HashrateMarket.renew_order({ order_id: chainId(order.order_id), duration_hours: extraValue });
      const finalized = await submit(tx, selected.signer, (progress) => setAction({ state: "busy", progress }));
      setAction({ state: "done", text: `Renewed: ${terms.hours + extraValue} h in all (block #${finalized.block}).` });
      setReads((n) => n + 1);
      // Final on chain: a lagging indexer delays the list, it does not undo the renewal.
      await indexedAfter(finalized.block).then(onRenewed, () =>
        setAction({ state: "done", text: `Renewed: ${terms.hours + extraValue} h in all (block #${finalized.block}); the list shows it once the indexer catches up.` }),
      );
    } catch (error) {
      setAction({ state: "failed", text: error instanceof TxFailure ? error.message : String(error) });
    }
  };
  if (!open) {
    return (
      <button type="button" onClick={() => setOpen(true)}>
        Renew
      </button>
    );
  }
  return (
    <form className="renew" onSubmit={renew} aria-label={`Renew order ${shortId(order.order_id)}`}>
      <label>
        Extra hours
        <input inputMode="numeric" value={extra} onChange={(event) => setExtra(event.target.value)} aria-invalid={!!problem} size={4} autoFocus />
      </label>
      {terms && terms !== "gone" && !("unread" in terms) && extraValue >= 1 && !problem && <small>{formatAmount(terms.pricePerHour * BigInt(extraValue))} more in escrow</small>}
      <button type="submit" className="primary" disabled={!terms || !!problem || action.state === "busy" || !selected}>
        Extend
      </button>
      {problem && <p className="field-error">{problem}</p>}
      <TxStatus tx={action.state === "busy" ? { state: "busy", text: progressText(action.progress) } : action} />
    </form>
  );
}

