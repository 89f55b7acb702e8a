import { useCallback, useEffect, useState } from "react";

/** What a page shows while it loads, after it loaded, and when loading failed. */
export type Loaded<T> = { state: "loading" } | { state: "ready"; data: T } | { state: "failed"; error: Error };

export type Query<T> = Loaded<T> & {
  /** The data on screen belongs to an earlier key while the current one loads. */
  stale: boolean;
  retry: () => void;
};

/**
 * Runs `load` whenever `key` changes, aborting the previous request, and keeps the last data
 * on screen while the next one loads, so a filter change does not blank the table.
 */
export function useQuery<T>(key: string, load: (signal: AbortSignal) => Promise<T>): Query<T> {
  const [attempt, setAttempt] = useState(0);
  const [result, setResult] = useState<{ key: string; loaded: Loaded<T> }>({ key, loaded: { state: "loading" } });
  useEffect(() => {
    const controller = new AbortController();
    load(controller.signal).then(
      (data) => controller.signal.aborted || setResult({ key, loaded: { state: "ready", data } }),
      (error: Error) => controller.signal.aborted || setResult({ key, loaded: { state: "failed", error } }),
    );
    return () => controller.abort();
    // `load` is a new closure every render; `key` and `attempt` say when to load again.
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [key, attempt]);
  const retry = useCallback(() => {
    setResult((previous) => ({ key: previous.key, loaded: { state: "loading" } }));
    setAttempt((n) => n + 1);
  }, []);
  return { ...result.loaded, stale: result.key !== key, retry };
}
