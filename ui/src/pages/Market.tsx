// Computing Power Marketplace: the machines on the market, filtered and sorted as the address
// bar says (a filtered market is a link one can share), a page at a time.
import { type ChangeEvent, type ReactNode, useId } from "react";
import { type FilterOptions, type MachinePage, type MachineView, type MarketRequest, type MarketSort, filterOptions, market } from "../api/indexer";
import { type Query, useQuery } from "../api/useQuery";
import { Pager } from "../components/Pager";
import { Empty, Failed, Loading } from "../components/States";
import { formatAmount, formatMemory, formatPercent, parseAmount, shortId } from "../format";
import { Link, navigate, useLocation } from "../router";

export const PAGE_SIZE = 20;

const SORTS: { value: MarketSort; label: string }[] = [
  { value: "price", label: "Price, lowest first" },
  { value: "performance", label: "Performance, highest first" },
  { value: "performance_per_price", label: "Performance per price" },
  { value: "reliability", label: "Reliability, highest first" },
];

/** The filters as the address bar spells them: amounts in MAI, reliability in percent. */
const FIELDS = ["gpu_model", "gpu_count_min", "region", "price_max", "performance_min", "reliability_min", "disk_gb_min", "available_only", "sort", "page"] as const;
type Field = (typeof FIELDS)[number];

/** The API request the address bar asks for, and what in it cannot be read. */
export function marketRequest(query: URLSearchParams): { request: MarketRequest; invalid: Partial<Record<Field, string>> } {
  const request: MarketRequest = { page: 1, page_size: PAGE_SIZE };
  const invalid: Partial<Record<Field, string>> = {};
  const text = (field: Field) => query.get(field)?.trim() || undefined;
  const whole = (field: Field, min: number, max = Number.MAX_SAFE_INTEGER) => {
    const value = text(field);
    if (value === undefined) return undefined;
    const number = Number(value);
    if (!/^\d+$/.test(value) || number < min || number > max) {
      invalid[field] = `a whole number from ${min}${max < Number.MAX_SAFE_INTEGER ? ` to ${max}` : ""}`;
      return undefined;
    }
    return number;
  };
  request.gpu_model = text("gpu_model");
  request.region = text("region");
  request.gpu_count_min = whole("gpu_count_min", 0, 1024);
  request.disk_gb_min = whole("disk_gb_min", 0);
  request.page = whole("page", 1, 1_000_000) ?? 1;
  const price = text("price_max");
  if (price !== undefined) {
    const amount = parseAmount(price);
    if (amount === null) invalid.price_max = "an amount in MAI, such as 2.5";
    else request.price_max = amount.toString();
  }
  const performance = text("performance_min");
  if (performance !== undefined) {
    const number = Number(performance);
    if (!Number.isFinite(number) || number < 0) invalid.performance_min = "a number, 0 or more";
    else request.performance_min = number;
  }
  const reliability = whole("reliability_min", 0, 100);
  if (reliability !== undefined) request.reliability_min = reliability / 100;
  if (query.get("available_only") === "1") request.available_only = true;
  const sort = text("sort");
  if (sort !== undefined) {
    if (SORTS.some((option) => option.value === sort)) request.sort = sort as MarketSort;
    else invalid.sort = "one of the listed orders";
  }
  return { request, invalid };
}

/** The address with one filter changed; any filter change goes back to the first page. */
function withFilter(query: URLSearchParams, field: Field, value: string): string {
  const next = new URLSearchParams(query);
  if (value === "") next.delete(field);
  else next.set(field, value);
  if (field !== "page") next.delete("page");
  const search = next.toString();
  return `/market${search ? `?${search}` : ""}`;
}

export function Market() {
  const { query } = useLocation();
  const { request, invalid } = marketRequest(query);
  const options = useQuery("filters", filterOptions);
  const page = useQuery(JSON.stringify(request), (signal) => market(request, signal));
  const set = (field: Field) => (event: ChangeEvent<HTMLInputElement | HTMLSelectElement>) => {
    const target = event.target;
    const value = target instanceof HTMLInputElement && target.type === "checkbox" ? (target.checked ? "1" : "") : target.value;
    navigate(withFilter(query, field, value), { replace: true });
  };
  const value = (field: Field) => query.get(field) ?? "";
  const choices: FilterOptions | undefined = options.state === "ready" ? options.data : undefined;

  return (
    <section aria-labelledby="market-title">
      <h1 id="market-title">Computing Power Marketplace</h1>
      <form className="filters" aria-label="Filters" onSubmit={(event) => event.preventDefault()}>
        <Filter label="GPU model" error={invalid.gpu_model}>
          {(id) => (
            <select id={id} value={value("gpu_model")} onChange={set("gpu_model")}>
              <option value="">Any</option>
              {choices?.gpu_models.map((gpu) => (
                <option key={gpu.value} value={gpu.value}>
                  {gpu.value} ({gpu.machines})
                </option>
              ))}
            </select>
          )}
        </Filter>
        <Filter label="GPUs, at least" error={invalid.gpu_count_min}>
          {(id) => (
            <select id={id} value={value("gpu_count_min")} onChange={set("gpu_count_min")}>
              <option value="">Any</option>
              {choices?.gpu_counts
                .filter((count) => count > 0)
                .map((count) => (
                  <option key={count} value={count}>
                    {count}
                  </option>
                ))}
            </select>
          )}
        </Filter>
        <Filter label="Region" error={invalid.region}>
          {(id) => (
            <select id={id} value={value("region")} onChange={set("region")}>
              <option value="">Any</option>
              {choices?.regions.map((region) => (
                <option key={region.value} value={region.value}>
                  {region.value} ({region.machines})
                </option>
              ))}
            </select>
          )}
        </Filter>
        <Filter label="Price per hour, at most (MAI)" error={invalid.price_max}>
          {(id, describedBy) => (
            <input id={id} inputMode="decimal" value={value("price_max")} onChange={set("price_max")} aria-describedby={describedBy} aria-invalid={!!invalid.price_max} />
          )}
        </Filter>
        <Filter label="Performance index, at least" error={invalid.performance_min}>
          {(id, describedBy) => (
            <input id={id} inputMode="decimal" value={value("performance_min")} onChange={set("performance_min")} aria-describedby={describedBy} aria-invalid={!!invalid.performance_min} />
          )}
        </Filter>
        <Filter label="Reliability, at least (%)" error={invalid.reliability_min}>
          {(id, describedBy) => (
            <input id={id} inputMode="numeric" value={value("reliability_min")} onChange={set("reliability_min")} aria-describedby={describedBy} aria-invalid={!!invalid.reliability_min} />
          )}
        </Filter>
        <Filter label="Disk, at least (GB)" error={invalid.disk_gb_min}>
          {(id, describedBy) => (
            <input id={id} inputMode="numeric" value={value("disk_gb_min")} onChange={set("disk_gb_min")} aria-describedby={describedBy} aria-invalid={!!invalid.disk_gb_min} />
          )}
        </Filter>
        <Filter label="Sort by" error={invalid.sort}>
          {(id) => (
            <select id={id} value={value("sort") || "price"} onChange={set("sort")}>
              {SORTS.map((sort) => (
                <option key={sort.value} value={sort.value}>
                  {sort.label}
                </option>
              ))}
            </select>
          )}
        </Filter>
        <label className="check">
          <input type="checkbox" checked={value("available_only") === "1"} onChange={set("available_only")} /> Available now only
        </label>
        {query.toString() && (
          <button type="button" onClick={() => navigate("/market", { replace: true })}>
            Clear filters
          </button>
        )}
      </form>
      {options.state === "failed" && <Failed error={options.error} retry={options.retry} />}
      <Results page={page} onPage={(n) => navigate(withFilter(query, "page", String(n)))} />
    </section>
  );
}

function Filter({ label, error, children }: { label: string; error?: string; children: (id: string, describedBy?: string) => ReactNode }) {
  const id = useId();
  const errorId = `${id}-error`;
  return (
    <div className="filter">
      <label htmlFor={id}>{label}</label>
      {children(id, error ? errorId : undefined)}
      {error && (
        <span id={errorId} className="field-error">
          Expected {error}
        </span>
      )}
    </div>
  );
}

function Results({ page, onPage }: { page: Query<MachinePage>; onPage: (n: number) => void }) {
  if (page.state === "loading") return <Loading what="the market" />;
  if (page.state === "failed") return <Failed error={page.error} retry={page.retry} />;
  const { items, total, total_exact, page: number, page_size } = page.data;
  if (items.length === 0) {
    return (
      <Empty>
        <p>{number > 1 ? "No machines on this page." : "No machine matches these filters."}</p>
        <p>Loosen a filter, or share a machine of your own with the trainer agent (Share Device).</p>
      </Empty>
    );
  }
  const pages = Math.max(1, Math.ceil(total / page_size));
  return (
    <div aria-busy={page.stale}>
      <p className="count" role="status">
        {total_exact ? total : `More than ${total}`} machine{total === 1 ? "" : "s"} match
      </p>
      <div className="table-scroll">
        <table className="market">
          <thead>
            <tr>
              <th scope="col">Machine</th>
              <th scope="col">GPU</th>
              <th scope="col">CPU</th>
              <th scope="col">RAM</th>
              <th scope="col">Disk</th>
              <th scope="col">Region</th>
              <th scope="col">Price / hour</th>
              <th scope="col">Performance</th>
              <th scope="col">Reliability</th>
              <th scope="col">Status</th>
              <th scope="col">
                <span className="visually-hidden">Rent</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {items.map((machine) => (
              <MachineRow key={machine.machine_id} machine={machine} />
            ))}
          </tbody>
        </table>
      </div>
      <Pager page={number} pages={pages} more={!total_exact} onPage={onPage} />
    </div>
  );
}

function MachineRow({ machine }: { machine: MachineView }) {
  const gpu = machine.gpu_count > 0 ? `${machine.gpu_count} × ${machine.gpu_model ?? "GPU"}` : "CPU only";
  return (
    <tr data-machine={machine.machine_id}>
      <td title={machine.machine_id}>
        <code>{shortId(machine.machine_id)}</code>
      </td>
      <td>
        {gpu}
        {machine.gpu_count > 0 && machine.gpu_memory_mb != null && <small> {formatMemory(machine.gpu_memory_mb)}</small>}
      </td>
      <td>{machine.cpu_cores != null ? `${machine.cpu_cores} core${machine.cpu_cores === 1 ? "" : "s"}` : "—"}</td>
      <td>{formatMemory(machine.ram_mb)}</td>
      <td>{machine.disk_gb != null ? `${machine.disk_gb} GB` : "—"}</td>
      <td>{machine.region ?? "—"}</td>
      <td>{machine.price_per_hour != null ? formatAmount(machine.price_per_hour) : "—"}</td>
      <td>
        {machine.performance_index != null ? machine.performance_index.toFixed(2) : "—"}{" "}
        {machine.performance_verified ? (
          <span className="badge verified" title="A validator's drill measured the claimed speed">
            verified
          </span>
        ) : machine.drill && machine.drill.verdict !== "verified" ? (
          <span className="badge contradicted" title={`The latest drill: ${machine.drill.verdict}`}>
            {machine.drill.verdict.replace("_", " ")}
          </span>
        ) : (
          <span className="badge" title="Measured by the owner's agent, not yet by a validator">
            self-reported
          </span>
        )}
      </td>
      <td>{machine.new ? <span className="badge">new</span> : formatPercent(machine.reliability)}</td>
      <td>{machine.available ? "available" : machine.rented_by ? "rented" : "unlisted"}</td>
      <td>
        {machine.available && (
          <Link href={`/rent?machine=${machine.machine_id}`} aria-label={`Rent machine ${shortId(machine.machine_id)}`}>
            Rent
          </Link>
        )}
      </td>
    </tr>
  );
}
