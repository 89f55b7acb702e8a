// An order's training log, live: the indexer's Server-Sent Events replay the stored records and
// then stream each new one as the trainer's agent adds it.
import { useEffect, useState } from "react";
import type { Schemas } from "./indexer";

export type LogRecord = Schemas["LogRecordView"];

/** Most records kept in the page; older ones are dropped first. */
const KEEP = 10_000;

export type OrderLog = {
  records: LogRecord[];
  /** `live` while the stream is open; the browser reconnects by itself after a drop. */
  connection: "connecting" | "live" | "reconnecting";
};

export function useOrderLog(orderId: string, placedAt: number | null): OrderLog {
  const [records, setRecords] = useState<LogRecord[]>([]);
  const [connection, setConnection] = useState<OrderLog["connection"]>("connecting");
  useEffect(() => {
    setRecords([]);
    setConnection("connecting");
    const params = placedAt === null ? "" : `?placed_at=${placedAt}`;
    const source = new EventSource(`/api/log/stream/${encodeURIComponent(orderId)}${params}`);
    let pending: LogRecord[] = [];
    let flush: number | null = null;
    source.onopen = () => setConnection("live");
    source.onerror = () => setConnection("reconnecting");
    source.addEventListener("log", (event) => {
      pending.push(JSON.parse((event as MessageEvent<string>).data) as LogRecord);
      // A replay arrives as hundreds of events at once: render them together.
      flush ??= window.setTimeout(() => {
        const batch = pending;
        pending = [];
        flush = null;
        setRecords((old) => {
          // A reconnection replays from the start: keep one record per sequence number.
          const seen = new Set(old.map((record) => record.seq));
          const merged = old.concat(batch.filter((record) => !seen.has(record.seq)));
          merged.sort((a, b) => a.seq - b.seq);
          return merged.length > KEEP ? merged.slice(merged.length - KEEP) : merged;
        });
      }, 100);
    });
    return () => {
      source.close();
      if (flush !== null) window.clearTimeout(flush);
    };
  }, [orderId, placedAt]);
  return { records, connection };
}
