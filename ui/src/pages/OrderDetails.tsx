// Order Details: everything about one order, from the indexer: its terms, the task, the
// trainer's result and model, the Proof-of-Training commitment, the validators' verdicts with
// their reports, and its chain history block by block. An open order refreshes itself.
import { useEffect, useState } from "react";
import { type OrderDetail, type ReportList, order as fetchOrder, reports as fetchReports } from "../api/indexer";
import { useQuery } from "../api/useQuery";
import { Failed, Loading } from "../components/States";
import { chainAddress, formatAmount, formatPercent } from "../format";
import { Link, useLocation } from "../router";

/** How often an open order is read again. */
const REFRESH_MS = 3_000;
const CLOSED = new Set(["settled", "rejected", "forged", "failed", "expired", "proof_expired"]);

type Loaded = { detail: OrderDetail; reports: ReportList };

export function OrderDetails({ id }: { id: string }) {
  const { query } = useLocation();
  const placedAt = query.get("placed_at");
  const [tick, setTick] = useState(0);
  const loaded = useQuery(`${id}:${placedAt}:${tick}`, async (signal): Promise<Loaded> => {
    const detail = await fetchOrder(id, placedAt, signal);
    const reports = await fetchReports(id, detail.order.placed_at, signal);
    return { detail, reports };
  });
  const open = loaded.state === "ready" && !CLOSED.has(loaded.data.detail.order.status);
  useEffect(() => {
    if (!open) return;
    const timer = setTimeout(() => setTick((n) => n + 1), REFRESH_MS);
    return () => clearTimeout(timer);
  }, [open, loaded]);

  if (loaded.state === "loading") return <Loading what="the order" />;
  if (loaded.state === "failed") return <Failed error={loaded.error} retry={loaded.retry} />;
  const { order, history } = loaded.data.detail;
  const result = parseJson(order.result) as
    | { outcome: "completed"; model_uri: string; model_sha256: string; accuracy_ppm: number; bundle_uri: string }
    | { outcome: "failed"; code: string; reason: string }
    | null;
  const spec = parseJson(order.metadata);
  const commitment = parseJson(order.proof);
  return (
    <section aria-labelledby="order-title">
      <h1 id="order-title">
        Order <code>{order.order_id}</code>{" "}
        <span className="badge" data-testid="order-status">
          {order.status.replace("_", " ")}
        </span>
      </h1>
      <nav className="tabs" aria-label="This order">
        <Link href={`/orders/${order.order_id}/console?placed_at=${order.placed_at}`}>Console (loss and accuracy)</Link>
        <Link href={`/orders/${order.order_id}/log?placed_at=${order.placed_at}`}>Tasking Log</Link>
      </nav>
      <dl className="facts">
        <dt>Buyer</dt>
        <dd>
          <code>{chainAddress(order.buyer)}</code>
        </dd>
        <dt>Seller</dt>
        <dd>
          <code>{chainAddress(order.seller)}</code>
        </dd>
        <dt>Machine</dt>
        <dd>
          <code>{order.machine_id}</code>
        </dd>
        <dt>Terms</dt>
        <dd>
          {order.duration_hours} h at {formatAmount(order.price_per_hour)} an hour; {formatAmount(order.escrow)} held in escrow, the seller's collateral{" "}
          {formatAmount(order.collateral)}
        </dd>
        <dt>Placed in block</dt>
        <dd>
          #{order.placed_at}; the result is due by block #{order.deadline}
        </dd>
        {order.paid && (
          <>
            <dt>Paid to the seller</dt>
            <dd>{formatAmount(order.paid)}</dd>
          </>
        )}
        {order.refunded && (
          <>
            <dt>Refunded to the buyer</dt>
            <dd>{formatAmount(order.refunded)}</dd>
          </>
        )}
        {order.slashed && (
          <>
            <dt>Slashed from the seller</dt>
            <dd>{formatAmount(order.slashed)}</dd>
          </>
        )}
      </dl>

      <h2>Result</h2>
      {result === null ? (
        <p>Not reported yet: the trainer's agent reports when the training ends.</p>
      ) : result.outcome === "completed" ? (
        <dl className="facts" data-testid="result">
          <dt>Model</dt>
          <dd>{/^https?:\/\//.test(result.model_uri) ? <a href={result.model_uri}>{result.model_uri}</a> : <code>{result.model_uri}</code>}</dd>
          <dt>Model sha256</dt>
          <dd>
            <code>{result.model_sha256}</code>
          </dd>
          <dt>Accuracy</dt>
          <dd>{formatPercent(result.accuracy_ppm / 1_000_000)} on the held-out rows, as the trainer claims it (the validators recompute it)</dd>
        </dl>
      ) : (
        <p className="error" data-testid="result">
          Failed ({result.code.replaceAll("_", " ")}): {result.reason}
        </p>
      )}

      <h2>Proof of Training</h2>
      {commitment ? (
        <dl className="facts">
          <dt>Commitment</dt>
          <dd>
            <code className="wrap">{JSON.stringify(commitment)}</code>
          </dd>
          <dt>Challenge seed</dt>
          <dd>{order.challenge_block != null ? `the hash of block #${order.challenge_block}` : "—"}</dd>
          <dt>Panel</dt>
          <dd>{order.panel.length ? order.panel.map(chainAddress).join(", ") : "—"}</dd>
          <dt>Verdict</dt>
          <dd data-testid="verdict">{order.verdict ?? "awaited"}</dd>
          {order.dispute_until != null && (
            <>
              <dt>Dispute window</dt>
              <dd>until block #{order.dispute_until}</dd>
            </>
          )}
        </dl>
      ) : (
        <p>No proof submitted yet.</p>
      )}

      <h2>Validators' reports</h2>
      {loaded.data.reports.items.length === 0 ? (
        <p>No report published yet.</p>
      ) : (
        <ul className="reports">
          {loaded.data.reports.items.map((report) => (
            <li key={`${report.validator}:${report.panel_from}`} data-testid="report">
              <strong>{report.verdict}</strong> by <code>{chainAddress(report.validator)}</code> (panel from block #{report.panel_from})
              {typeof report.report.reason === "string" && <>: {report.report.reason}</>}
              <details>
                <summary>The signed report</summary>
                <pre>{JSON.stringify(report.report, null, 2)}</pre>
              </details>
            </li>
          ))}
        </ul>
      )}

      <h2>Task</h2>
      <details>
        <summary>The task spec as placed</summary>
        <pre>{spec ? JSON.stringify(spec, null, 2) : order.metadata}</pre>
      </details>

      <h2>Chain history</h2>
      <div className="table-scroll">
        <table data-testid="history">
          <thead>
            <tr>
              <th scope="col">Block</th>
              <th scope="col">Event</th>
              <th scope="col">Fields</th>
            </tr>
          </thead>
          <tbody>
            {history.map((event) => (
              <tr key={`${event.block_number}:${event.event_index}`}>
                <td>#{event.block_number}</td>
                <td>{event.name}</td>
                <td>
                  <code className="wrap">{JSON.stringify(event.fields)}</code>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </section>
  );
}

function parseJson(text: string | null | undefined): Record<string, unknown> | null {
  if (!text) return null;
  try {
    const value = JSON.parse(text);
    return value && typeof value === "object" ? value : null;
  } catch {
    return null;
  }
}
