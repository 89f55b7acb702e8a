// The indexer's HTTP API, on the UI's own origin. Its types are generated (openapi-typescript)
// from artifacts/indexer-openapi.json, which the indexer's tests regenerate from the API.
import type { components } from "./schema";

export type Schemas = components["schemas"];
export type MachineView = Schemas["MachineView"];
export type MachinePage = Schemas["MachinePage"];
export type MarketRequest = Schemas["MarketRequest"];
export type MarketSort = Schemas["MarketSort"];
export type FilterOptions = Schemas["FilterOptions"];
export type Stats = Schemas["Stats"];
export type OrderView = Schemas["OrderView"];
export type OrderPage = Schemas["OrderPage"];
export type OrderDetail = Schemas["OrderDetail"];
export type ReportList = Schemas["ReportList"];
export type Role = Schemas["Role"];
export type MachineDetail = Schemas["MachineDetail"];
export type Estimate = Schemas["EstimateResponse"];

/** A failed request, with the message a person should read. */
export class IndexerError extends Error {
  constructor(
    message: string,
    readonly status: number | null,
    readonly code: string,
  ) {
    super(message);
    this.name = "IndexerError";
  }
}

async function request<T>(path: string, init: RequestInit): Promise<T> {
  let response: Response;
  try {
    response = await fetch(path, init);
  } catch (error) {
    if (init.signal?.aborted) throw error;
    throw new IndexerError("The indexer cannot be reached: is it running? (scripts/run.sh starts it)", null, "unreachable");
  }
  const text = await response.text();
  if (!response.ok) {
    let body: Partial<Schemas["ErrorBody"]> = {};
    try {
      body = JSON.parse(text);
    } catch {
      // A proxy's or a stopped server's page: the status says enough.
    }
    throw new IndexerError(
      body.error ?? `The indexer answered ${response.status} ${response.statusText}`,
      response.status,
      body.code ?? "http_error",
    );
  }
  try {
    return JSON.parse(text) as T;
  } catch {
    throw new IndexerError("The indexer's answer is not JSON: is this the MatrixAI indexer?", response.status, "not_json");
  }
}

export function post<T>(path: string, body: object, signal?: AbortSignal): Promise<T> {
  return request<T>(path, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify(body),
    signal,
  });
}

export function get<T>(path: string, signal?: AbortSignal): Promise<T> {
  return request<T>(path, { signal });
}

export const market = (filters: MarketRequest, signal?: AbortSignal) =>
  post<MachinePage>("/api/machine/market", filters, signal);

export const filterOptions = (signal?: AbortSignal) => post<FilterOptions>("/api/machine/filter", {}, signal);

export const myMachines = (owner: string, signal?: AbortSignal) =>
  post<MachinePage>("/api/machine/mine", { owner, page_size: 100 }, signal);

export const machine = (id: string, signal?: AbortSignal) => get<MachineDetail>(`/api/machine/${encodeURIComponent(id)}`, signal);

/** How long `spec` trains on the machine and what it costs; a 422 says which rule it breaks. */
export const estimate = (spec: Schemas["TaskSpec"], machineId: string, signal?: AbortSignal) =>
  post<Estimate>("/api/order/estimate", { spec, machine_id: machineId }, signal);

export const myOrders = (account: string, role: Role, page: number, signal?: AbortSignal) =>
  post<OrderPage>("/api/order/mine", { account, role, page }, signal);

/** The order with this id placed in block `placedAt`, or the latest with it. */
export const order = (id: string, placedAt: string | null, signal?: AbortSignal) =>
  get<OrderDetail>(`/api/order/${encodeURIComponent(id)}${placedAt ? `?placed_at=${encodeURIComponent(placedAt)}` : ""}`, signal);

export const reports = (id: string, placedAt: number, signal?: AbortSignal) =>
  get<ReportList>(`/api/order/${encodeURIComponent(id)}/reports?placed_at=${placedAt}`, signal);

export const stats = (signal?: AbortSignal) => get<Stats>("/api/stats", signal);

/**
 * Resolves once the indexer has indexed finalized block `block` (a transaction's), so that a
 * page reloading after it shows its effect; gives up after `timeoutMs`.
 */
export async function indexedAfter(block: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { indexed_block } = await stats();
    if (indexed_block >= block) return;
    if (Date.now() > deadline) throw new IndexerError(`The indexer has not reached block #${block} yet; reload in a moment.`, null, "lagging");
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
}
