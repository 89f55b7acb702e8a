// Console: an order's loss and accuracy curves from its training log, growing live while it
// trains (uPlot, loaded only on this page).
import { useEffect, useRef } from "react";
import uPlot from "uplot";
import "uplot/dist/uPlot.min.css";
import { order } from "../api/indexer";
import { type LogRecord, useOrderLog } from "../api/useOrderLog";
import { useQuery } from "../api/useQuery";
import { Empty } from "../components/States";
import { Link, useLocation } from "../router";

/** The curves' points: by training step, with the loss and the evaluation accuracy where logged. */
export function curves(records: LogRecord[]): [number[], (number | null)[], (number | null)[]] {
  const points = records.filter((record) => record.loss != null || record.accuracy != null);
  return [
    points.map((record, index) => record.step ?? record.epoch ?? index),
    points.map((record) => record.loss ?? null),
    points.map((record) => record.accuracy ?? null),
  ];
}

export default function Console({ id }: { id: string }) {
  const { query } = useLocation();
  const placedAt = query.get("placed_at");
  const { records, connection } = useOrderLog(id, placedAt ? Number(placedAt) : null);
  // The machine, for ordering again with changed parameters.
  const detail = useQuery(`${id}:${placedAt}`, (signal) => order(id, placedAt, signal));
  const data = curves(records);
  const box = useRef<HTMLDivElement>(null);
  const plot = useRef<uPlot | null>(null);

  useEffect(() => {
    if (!box.current || data[0].length === 0) return;
    if (!plot.current) {
      plot.current = new uPlot(
        {
          width: box.current.clientWidth,
          height: 320,
          scales: { x: { time: false }, accuracy: { range: [0, 1] } },
          axes: [{ label: "step" }, { label: "loss", scale: "y" }, { label: "accuracy", scale: "accuracy", side: 1, grid: { show: false } }],
          series: [
            { label: "step" },
            { label: "loss", stroke: "#d9480f", width: 2, spanGaps: true },
            // Evaluated at the end of training, or now and then: points, not only a line.
            { label: "accuracy", stroke: "#2457c5", width: 2, scale: "accuracy", spanGaps: true, points: { show: true, size: 7 } },
          ],
        },
        data,
        box.current,
      );
    } else {
      plot.current.setData(data);
    }
  });
  useEffect(() => () => plot.current?.destroy(), []);
  useEffect(() => {
    const resize = () => box.current && plot.current?.setSize({ width: box.current.clientWidth, height: 320 });
    window.addEventListener("resize", resize);
    return () => window.removeEventListener("resize", resize);
  }, []);

  const last = [...records].reverse().find((record) => record.loss != null || record.accuracy != null);
  return (
    <section aria-labelledby="console-title">
      <h1 id="console-title">
        Console <small>of order</small> <Link href={`/orders/${id}${placedAt ? `?placed_at=${placedAt}` : ""}`}>{id.slice(0, 8)}</Link>
      </h1>
      <p className="count" role="status" data-testid="console-points">
        {connection === "live" ? "● live" : connection === "reconnecting" ? "reconnecting…" : "connecting…"} · {data[0].length} points
        {last && (
          <>
            {" "}
            · last: step {last.step ?? "?"}
            {last.loss != null && `, loss ${last.loss.toFixed(4)}`}
            {last.accuracy != null && `, accuracy ${(last.accuracy * 100).toFixed(2)} %`}
          </>
        )}
      </p>
      {data[0].length === 0 && <Empty>No metrics yet: the curves appear as the trainer's agent logs its progress.</Empty>}
      <div ref={box} className="chart" aria-label="Loss and accuracy by step" role="img" />
      {detail.state === "ready" && (
        <p>
          <Link href={`/rent?machine=${detail.data.order.machine_id}&from=${id}&placed_at=${detail.data.order.placed_at}`}>
            Change parameters and place a new order from this spec
          </Link>
        </p>
      )}
    </section>
  );
}
