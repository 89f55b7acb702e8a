// My Orders: the signed-in account's orders as buyer and as seller, newest first, with their
// status; each opens its details.
import { type OrderView, type Role, myOrders } from "../api/indexer";
import { useQuery } from "../api/useQuery";
import { useAccounts } from "../chain/accounts";
import { Pager } from "../components/Pager";
import { Empty, Failed, Loading } from "../components/States";
import { formatAmount, sameAccount, shortId } from "../format";
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
  const orders = useQuery(`${account}:${role}:${page}`, (signal) => myOrders(account, role, page, signal));
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
                  </tr>
                </thead>
                <tbody>
                  {orders.data.items.map((order) => (
                    <OrderRow key={`${order.order_id}:${order.placed_at}`} order={order} account={account} />
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

function OrderRow({ order, account }: { order: OrderView; account: string }) {
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
    </tr>
  );
}

