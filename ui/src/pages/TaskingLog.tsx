// Tasking Log: the live tail of an order's training log, filtered by level and text (both in
// the address), newest at the bottom, following the tail unless the reader scrolls up.
import { useEffect, useRef } from "react";
import { type LogRecord, useOrderLog } from "../api/useOrderLog";
import { Empty } from "../components/States";
import { Link, navigate, useLocation } from "../router";

const LEVELS = ["trace", "debug", "info", "warn", "error"] as const;

export function TaskingLog({ id }: { id: string }) {
  const { query } = useLocation();
  const placedAt = query.get("placed_at");
  const level = query.get("level") ?? "trace";
  const search = query.get("search") ?? "";
  const { records, connection } = useOrderLog(id, placedAt ? Number(placedAt) : null);
  const floor = Math.max(0, LEVELS.indexOf(level as (typeof LEVELS)[number]));
  const needle = search.toLowerCase();
  const shown = records.filter(
    (record) => LEVELS.indexOf(record.level as (typeof LEVELS)[number]) >= floor && (!needle || record.message.toLowerCase().includes(needle)),
  );
  const set = (name: string, value: string) => {
    const next = new URLSearchParams(query);
    if (value) next.set(name, value);
    else next.delete(name);
    navigate(`/orders/${id}/log?${next}`, { replace: true });
  };

  const tail = useRef<HTMLDivElement>(null);
  const following = useRef(true);
  useEffect(() => {
    if (following.current) tail.current?.scrollTo({ top: tail.current.scrollHeight });
  }, [shown.length]);

  return (
    <section aria-labelledby="log-title">
      <h1 id="log-title">
        Tasking Log <small>of order</small> <Link href={`/orders/${id}${placedAt ? `?placed_at=${placedAt}` : ""}`}>{id.slice(0, 8)}</Link>
      </h1>
      <form className="filters" aria-label="Log filters" onSubmit={(event) => event.preventDefault()}>
        <div className="filter">
          <label htmlFor="log-level">Level, at least</label>
          <select id="log-level" value={level} onChange={(event) => set("level", event.target.value === "trace" ? "" : event.target.value)}>
            {LEVELS.map((name) => (
              <option key={name} value={name}>
                {name}
              </option>
            ))}
          </select>
        </div>
        <div className="filter">
          <label htmlFor="log-search">Search</label>
          <input id="log-search" type="search" value={search} onChange={(event) => set("search", event.target.value)} />
        </div>
        <p className="count" role="status" data-testid="log-connection">
          {connection === "live" ? "● live" : connection === "reconnecting" ? "reconnecting…" : "connecting…"} · {shown.length} of{" "}
          {records.length} records
        </p>
      </form>
      {records.length === 0 ? (
        <Empty>No log yet: the trainer's agent streams its log here once training starts.</Empty>
      ) : (
        <div
          className="log"
          ref={tail}
          tabIndex={0}
          aria-label="Log records"
          onScroll={(event) => {
            const box = event.currentTarget;
            following.current = box.scrollTop + box.clientHeight >= box.scrollHeight - 8;
          }}
        >
          {shown.map((record) => (
            <Line key={record.seq} record={record} />
          ))}
        </div>
      )}
    </section>
  );
}

function Line({ record }: { record: LogRecord }) {
  return (
    <div className={`line ${record.level}`} data-seq={record.seq}>
      <time dateTime={new Date(record.timestamp_ms).toISOString()}>{new Date(record.timestamp_ms).toLocaleTimeString()}</time>
      <span className="level">{record.level}</span>
      <span className="message">{record.message}</span>
    </div>
  );
}
