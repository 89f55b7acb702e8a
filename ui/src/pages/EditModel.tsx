// Edit Model: the task spec for a machine, checked by `matrixai-pot`'s rules (through the
// indexer's estimate), its estimated training time and cost, the buyer's price limit, then
// `place_order`; once its block is final and indexed, the page moves to the new order.
import { MultiAddress } from "@polkadot-api/descriptors";
import { type FormEvent, type ReactNode, useEffect, useMemo, useState } from "react";
import { type Estimate, IndexerError, type MachineView, estimate, indexedAfter, machine as loadMachine, order } from "../api/indexer";
import { useQuery } from "../api/useQuery";
import { useAccounts } from "../chain/accounts";
import { useChain } from "../chain/ChainProvider";
import { type Progress, TxFailure, progressText, submit } from "../chain/submit";
import { Empty, Failed, Loading } from "../components/States";
import { TxStatus } from "../components/TxStatus";
import { amountInput, chainAddress, chainId, formatAmount, parseAmount, shortId } from "../format";
import { Link, navigate, useLocation } from "../router";
import {
  DATASET_DEFAULTS,
  type Draft,
  DraftError,
  type DraftValue,
  LAYER_DEFAULTS,
  OPTIMIZER_DEFAULTS,
  PREPROCESS_DEFAULTS,
  TEMPLATES,
  type TaskSpec,
  fromDraft,
  getAt,
  setAt,
  toDraft,
} from "../spec";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function EditModel() {
  const { query } = useLocation();
  const machineId = query.get("machine") ?? "";
  return (
    <section aria-labelledby="edit-title">
      <h1 id="edit-title">Edit Model</h1>
      {UUID.test(machineId) ? (
        <Loader machineId={machineId} from={query.get("from")} placedAt={query.get("placed_at")} />
      ) : (
        <Empty>
          Choose a machine to train on in the <Link href="/market">marketplace</Link> and follow its “Rent” link.
        </Empty>
      )}
    </section>
  );
}

/** The machine, and the spec to start from: an earlier order's (`from`) or the first example. */
function Loader({ machineId, from, placedAt }: { machineId: string; from: string | null; placedAt: string | null }) {
  const machine = useQuery(machineId, (signal) => loadMachine(machineId, signal));
  const start = useQuery(`${from}:${placedAt}`, async (signal) => {
    if (!from) return { name: TEMPLATES[0]!.name, spec: TEMPLATES[0]!.spec };
    const detail = await order(from, placedAt, signal);
    try {
      const spec = JSON.parse(detail.order.metadata) as TaskSpec;
      toDraft(spec);
      if (!Array.isArray(spec.model.layers) || spec.model.layers.length === 0) throw new Error("no layers");
      return { name: `order:${from}`, spec };
    } catch {
      throw new Error(`Order ${shortId(from)}'s metadata is not a task spec; start from an example instead.`);
    }
  });
  // Another machine or spec in the address: the form starts over once they are loaded.
  if (machine.state === "loading" || machine.stale || start.state === "loading" || start.stale) {
    return <Loading what="the machine and the spec" />;
  }
  if (machine.state === "failed") return <Failed error={machine.error} retry={machine.retry} />;
  if (start.state === "failed") return <Failed error={start.error} retry={start.retry} />;
  return <OrderForm key={`${machineId}:${from}:${placedAt}`} machine={machine.data.machine} start={start.data} from={from} />;
}

type SpecCheck =
  | { spec: string; state: "checking" }
  | { spec: string; state: "ok"; estimate: Estimate }
  | { spec: string; state: "invalid"; message: string }
  | { spec: string; state: "failed"; error: Error };

type Action =
  | { state: "idle" }
  | { state: "busy"; progress: Progress | "indexing" }
  | { state: "failed"; text: string }
  /** On chain and final: the form never sends it again, whatever the indexer says. */
  | { state: "placed"; id: string; block: number; lagging: string | null };

function OrderForm({ machine, start, from }: { machine: MachineView; start: { name: string; spec: TaskSpec }; from: string | null }) {
  const { api, status } = useChain();
  const { selected, balance } = useAccounts();
  const [template, setTemplate] = useState(start.name);
  const [draft, setDraft] = useState<Draft>(() => toDraft(start.spec));
  const [hours, setHours] = useState<string | null>(null);
  const offerPrice = machine.price_per_hour ? BigInt(machine.price_per_hour) : null;
  const [limit, setLimit] = useState(offerPrice !== null ? amountInput(offerPrice) : "");
  const [action, setAction] = useState<Action>({ state: "idle" });
  const [attempt, setAttempt] = useState(0);

  // The spec as JSON, or the first field that is not a number.
  const parsed = useMemo((): { json: string } | { error: DraftError } => {
    try {
      return { json: JSON.stringify(fromDraft(draft)) };
    } catch (error) {
      if (error instanceof DraftError) return { error };
      throw error;
    }
  }, [draft]);
  const [check, setCheck] = useState<SpecCheck | null>(null);
  useEffect(() => {
    if (!("json" in parsed)) return;
    const spec = parsed.json;
    const controller = new AbortController();
    // Typing settles before the indexer is asked.
    const timer = setTimeout(() => {
      setCheck({ spec, state: "checking" });
      estimate(JSON.parse(spec) as TaskSpec, machine.machine_id, controller.signal).then(
        (result) => setCheck({ spec, state: "ok", estimate: result }),
        (error: Error) => {
          if (controller.signal.aborted) return;
          const invalid = error instanceof IndexerError && error.code === "invalid_spec";
          setCheck(invalid ? { spec, state: "invalid", message: error.message.replace(/^spec: /, "") } : { spec, state: "failed", error });
        },
      );
    }, 250);
    return () => {
      clearTimeout(timer);
      controller.abort();
    };
  }, [parsed, machine.machine_id, attempt]);
  const current = "json" in parsed && check?.spec === parsed.json ? check : null;
  const estimated = current?.state === "ok" ? current.estimate : null;
  const specProblem = "error" in parsed ? parsed.error.message : current?.state === "invalid" ? current.message : null;

  const hoursText = hours ?? (estimated ? String(estimated.hours) : "");
  const hoursValue = /^\d+$/.test(hoursText) ? Number(hoursText) : NaN;
  const limitValue = parseAmount(limit);
  const escrow = offerPrice !== null && hoursValue >= 1 ? offerPrice * BigInt(hoursValue) : null;
  const maxHours = machine.max_duration_hours ?? 0;
  const termsProblem = !machine.listed
    ? "This machine is not on the market: its owner has no offer out."
    : machine.rented_by
      ? `This machine is training order ${shortId(machine.rented_by)}; it takes a new order when that one ends.`
      : estimated && estimated.hours > maxHours
        ? `The estimate needs ${estimated.hours} hours, more than this machine's longest order (${maxHours} h): train fewer epochs or choose another machine.`
        : (hours !== null || estimated) && !(hoursValue >= 1 && hoursValue <= maxHours)
        ? `The order must last 1 to ${maxHours} hours (the machine's longest order).`
        : estimated && hoursValue < estimated.hours
          ? `The machine's agent refuses an order shorter than its estimate: order at least ${estimated.hours} hours.`
          : limitValue === null
            ? "The price limit must be an amount in MAI, such as 2.5."
            : offerPrice !== null && limitValue < offerPrice
              ? `Your limit of ${formatAmount(limitValue)} an hour is below the machine's price of ${formatAmount(offerPrice)}: the chain would refuse the order.`
              : null;
  const signProblem = !selected
    ? "Choose an account at the top of the page to sign the order."
    : status.state !== "connected" || !api
      ? status.state === "failed"
        ? `${status.error} The order cannot be sent until the node answers.`
        : "Connecting to the node…"
      : balance !== null && escrow !== null && balance < escrow
        ? `Your free balance of ${formatAmount(balance)} does not cover the ${formatAmount(escrow)} the order holds in escrow; claim tokens from the faucet.`
        : null;
  const busy = action.state === "busy" || action.state === "placed";
  const ready = !!estimated && !specProblem && !termsProblem && !signProblem;

  const place = async (event: FormEvent) => {
    event.preventDefault();
    if (!ready || busy || !api || !selected || !estimated || limitValue === null) return;
    // Nothing is sent twice: the button stays disabled from here until the page moves on.
    const id = newOrderId();
    setAction({ state: "busy", progress: "signing" });
    try {
      const tx = api.tx.HashrateMarket.place_order({
        id: chainId(id),
        seller: MultiAddress.Id(chainAddress(machine.owner)),
        machine_id: chainId(machine.machine_id),
        duration_hours: hoursValue,
        max_price_per_hour: limitValue,
        metadata: new TextEncoder().encode(estimated.spec_json),
      });
      const finalized = await submit(tx, selected.signer, (progress) => setAction({ state: "busy", progress }));
      setAction({ state: "busy", progress: "indexing" });
      try {
        await indexedAfter(finalized.block);
        navigate(`/orders/${id}?placed_at=${finalized.block}`);
      } catch (error) {
        setAction({ state: "placed", id, block: finalized.block, lagging: error instanceof Error ? error.message : String(error) });
      }
    } catch (error) {
      setAction({ state: "failed", text: error instanceof TxFailure ? error.message : String(error) });
    }
  };

  const choose = (name: string) => {
    const chosen = name === start.name ? start.spec : TEMPLATES.find((t) => t.name === name)?.spec;
    if (!chosen) return;
    setTemplate(name);
    setDraft(toDraft(chosen));
    setHours(null);
  };
  const field = { draft, onChange: setDraft, problem: specProblem };

  return (
    <form className="edit-model" onSubmit={place} aria-describedby="edit-title">
      <MachineFacts machine={machine} />
      <fieldset>
        <legend>Start from</legend>
        <label>
          Spec
          <select value={template} onChange={(event) => choose(event.target.value)}>
            {from && start.name.startsWith("order:") && <option value={start.name}>Order {shortId(from)}'s spec</option>}
            {TEMPLATES.map((t) => (
              <option key={t.name} value={t.name}>
                Example: {t.label}
              </option>
            ))}
          </select>
        </label>
      </fieldset>
      <Layers {...field} />
      <Dataset {...field} />
      <fieldset>
        <legend>Training</legend>
        <div className="fields">
          <Choice {...field} path="preprocess" label="Preprocessing" kinds={PREPROCESS_DEFAULTS} tag="kind" />
          {getAt(draft, "preprocess.kind") === "scale" && <Field {...field} path="preprocess.factor" label="Scale factor" />}
          <Choice {...field} path="optimizer" label="Optimizer" kinds={OPTIMIZER_DEFAULTS} tag="kind" />
          <Field {...field} path="optimizer.lr" label="Learning rate" />
          {getAt(draft, "optimizer.kind") === "sgd" ? (
            <>
              <Field {...field} path="optimizer.momentum" label="Momentum" />
              <Toggle {...field} path="optimizer.nesterov" label="Nesterov momentum" />
            </>
          ) : (
            <>
              <Field {...field} path="optimizer.beta1" label="β1" />
              <Field {...field} path="optimizer.beta2" label="β2" />
              <Field {...field} path="optimizer.eps" label="ε" />
            </>
          )}
          <Field {...field} path="optimizer.weight_decay" label="Weight decay" />
          <Field {...field} path="epochs" label="Epochs" />
          <Field {...field} path="batch_size" label="Batch size" />
          <Field {...field} path="split.eval_ppm" label="Evaluation rows (ppm)" hint="200000 = 20 % of the rows" />
          <Field {...field} path="split.seed" label="Split seed" />
          <Field {...field} path="init_seed" label="Initialization seed" />
          <Field {...field} path="data_order_seed" label="Data order seed" />
          <Field {...field} path="checkpoint_interval" label="Checkpoint every (steps)" />
          <Field {...field} path="min_eval_accuracy_ppm" label="Minimum accuracy (ppm)" hint="900000 = 90 %" />
        </div>
      </fieldset>

      <div className="estimate" aria-live="polite" data-testid="estimate">
        {specProblem ? (
          <p className="error" role="alert">
            The spec does not hold: {specProblem}
          </p>
        ) : current?.state === "failed" ? (
          <Failed error={current.error} retry={() => setAttempt((n) => n + 1)} />
        ) : estimated ? (
          <EstimateFacts estimate={estimated} />
        ) : (
          <p>Checking the spec and estimating its training time…</p>
        )}
      </div>

      <fieldset>
        <legend>Order</legend>
        <div className="fields">
          <label>
            Hours
            <input inputMode="numeric" value={hoursText} onChange={(event) => setHours(event.target.value)} aria-invalid={hoursText !== "" && !(hoursValue >= 1 && hoursValue <= maxHours)} />
          </label>
          <label>
            Price limit per hour (MAI)
            <input inputMode="decimal" value={limit} onChange={(event) => setLimit(event.target.value)} aria-invalid={limitValue === null} />
            <small>The most you pay an hour; the chain refuses the order if the machine asks more when it arrives.</small>
          </label>
        </div>
        {escrow !== null && (
          <p data-testid="escrow">
            Held in escrow: <strong>{formatAmount(escrow)}</strong> ({hoursValue} h × {formatAmount(offerPrice ?? 0n)}), paid to the trainer
            only when the Proof of Training is verified.
          </p>
        )}
        {termsProblem && <p className="field-error">{termsProblem}</p>}
        {!termsProblem && signProblem && <p className="field-error">{signProblem}</p>}
      </fieldset>
      <button type="submit" className="primary" disabled={!ready || busy}>
        Place order
      </button>
      <TxStatus
        tx={
          action.state === "busy"
            ? { state: "busy", text: `Placing the order: ${action.progress === "indexing" ? "final; waiting for the indexer…" : progressText(action.progress)}` }
            : action.state === "placed"
              ? {
                  state: "done",
                  text: (
                    <>
                      Order placed in block #{action.block}. {action.lagging}{" "}
                      <Link href={`/orders/${action.id}?placed_at=${action.block}`}>Open order {shortId(action.id)}</Link>
                    </>
                  ),
                }
              : action
        }
      />
    </form>
  );
}

function MachineFacts({ machine }: { machine: MachineView }) {
  return (
    <dl className="facts" data-testid="machine">
      <dt>Machine</dt>
      <dd>
        <code title={machine.machine_id}>{shortId(machine.machine_id)}</code>,{" "}
        {machine.gpu_count > 0 ? `${machine.gpu_count} × ${machine.gpu_model}` : "CPU only"}, {machine.cpu_cores ?? "?"} cores
        {machine.region && `, ${machine.region}`}
      </dd>
      <dt>Offer</dt>
      <dd>{machine.listed && machine.price_per_hour ? `${formatAmount(machine.price_per_hour)} an hour, up to ${machine.max_duration_hours} h` : "none"}</dd>
    </dl>
  );
}

function EstimateFacts({ estimate }: { estimate: Estimate }) {
  const seconds = (s: number) => (s < 90 ? `${s.toFixed(1)} s` : s < 5400 ? `${(s / 60).toFixed(1)} min` : `${(s / 3600).toFixed(1)} h`);
  return (
    <dl className="facts">
      <dt>Estimated time</dt>
      <dd data-testid="estimate-total">
        {seconds(estimate.total_s)} (download {seconds(estimate.download_s)}, training {seconds(estimate.train_s)}, checkpoints{" "}
        {seconds(estimate.checkpoint_s)}, evaluation {seconds(estimate.evaluate_s)})
      </dd>
      <dt>Hours to order</dt>
      <dd data-testid="estimate-hours">{estimate.hours}</dd>
      <dt>Cost</dt>
      <dd data-testid="estimate-cost">{estimate.cost != null ? formatAmount(estimate.cost) : "— (the machine has no offer)"}</dd>
      <dt>Spec</dt>
      <dd>
        <code className="wrap" title="sha256 of the spec's canonical JSON, the order's metadata">
          {estimate.spec_sha256}
        </code>
      </dd>
    </dl>
  );
}

type FieldProps = { draft: Draft; onChange: (draft: Draft) => void; problem: string | null; path: string; label: string };

/** "model.layers.2.units" → "model.layers[2].units", as `matrixai-pot`'s messages name fields. */
const shown = (path: string) => path.replace(/\.(\d+)/g, "[$1]");

/** Whether the spec's problem is about this field (or the layer it belongs to). */
function blamed(problem: string | null, path: string): boolean {
  if (!problem) return false;
  const name = shown(path);
  const layer = /^model\.layers\[\d+\]/.exec(name)?.[0];
  return new RegExp(`(^|[^\\w.\\[])${name.replace(/[.[\]]/g, "\\$&")}(?![\\w[])`).test(problem) || (!!layer && problem.includes(layer));
}

function Field({ draft, onChange, problem, path, label, hint }: FieldProps & { hint?: ReactNode }) {
  const value = getAt(draft, path);
  return (
    <label>
      {label}
      <input value={typeof value === "string" ? value : ""} onChange={(event) => onChange(setAt(draft, path, event.target.value))} aria-invalid={blamed(problem, path)} data-path={shown(path)} />
      {hint && <small>{hint}</small>}
    </label>
  );
}

function Toggle({ draft, onChange, path, label }: FieldProps) {
  return (
    <label className="check">
      <input type="checkbox" checked={getAt(draft, path) === true} onChange={(event) => onChange(setAt(draft, path, event.target.checked))} />
      {label}
    </label>
  );
}

/** A select among the kinds of a tagged part (optimizer, preprocessing, dataset, layer). */
function Choice({ draft, onChange, path, label, kinds, tag }: FieldProps & { kinds: Record<string, Draft>; tag: string }) {
  const value = getAt(draft, `${path}.${tag}`);
  return (
    <label>
      {label}
      <select value={typeof value === "string" ? value : ""} onChange={(event) => onChange(setAt(draft, path, kinds[event.target.value]!))}>
        {Object.keys(kinds).map((kind) => (
          <option key={kind} value={kind}>
            {kind.replace("_", " ")}
          </option>
        ))}
      </select>
    </label>
  );
}

function Layers(props: Omit<FieldProps, "path" | "label">) {
  const { draft, onChange } = props;
  const layers = (getAt(draft, "model.layers") ?? []) as Draft[];
  const update = (next: Draft[]) => onChange(setAt(draft, "model.layers", next));
  const move = (index: number, by: number) => {
    const next = [...layers];
    const [layer] = next.splice(index, 1);
    next.splice(index + by, 0, layer!);
    update(next);
    // Rows are keyed by position: the focus follows the layer, not the slot it left.
    const direction = by < 0 ? "up" : "down";
    requestAnimationFrame(() => document.querySelector<HTMLButtonElement>(`[aria-label="Move layer ${index + by + 1} ${direction}"]`)?.focus());
  };
  return (
    <fieldset>
      <legend>Model</legend>
      <p className="hint">Layers apply in order; the last must be dense with one unit per class (softmax cross-entropy follows).</p>
      <ol className="layers">
        {layers.map((layer, index) => {
          const path = `model.layers.${index}`;
          const params = Object.keys(layer).filter((key) => key !== "type");
          return (
            <li key={index} data-layer={index}>
              <Choice {...props} path={path} label={`Layer ${index + 1}`} kinds={LAYER_DEFAULTS} tag="type" />
              {params.map((key) => (
                <Field key={key} {...props} path={`${path}.${key}`} label={key.replace("_", " ")} />
              ))}
              <span className="layer-actions">
                <button type="button" onClick={() => move(index, -1)} disabled={index === 0} aria-label={`Move layer ${index + 1} up`}>
                  ↑
                </button>
                <button type="button" onClick={() => move(index, 1)} disabled={index === layers.length - 1} aria-label={`Move layer ${index + 1} down`}>
                  ↓
                </button>
                <button type="button" onClick={() => update(layers.filter((_, i) => i !== index))} disabled={layers.length === 1} aria-label={`Remove layer ${index + 1}`}>
                  ✕
                </button>
              </span>
            </li>
          );
        })}
      </ol>
      <button type="button" onClick={() => update([...layers, LAYER_DEFAULTS.dense!])}>
        Add layer
      </button>
    </fieldset>
  );
}

function Dataset(props: Omit<FieldProps, "path" | "label">) {
  const { draft } = props;
  const source: DraftValue | undefined = getAt(draft, "dataset.source");
  return (
    <fieldset>
      <legend>Dataset</legend>
      <div className="fields">
        <Choice {...props} path="dataset" label="Source" kinds={DATASET_DEFAULTS} tag="source" />
        {source === "bundled" ? (
          <label>
            Bundled dataset
            <select value={String(getAt(draft, "dataset.name"))} onChange={(event) => props.onChange(setAt(draft, "dataset.name", event.target.value))}>
              <option value="iris">iris (150 × 4, 3 classes)</option>
              <option value="breast_cancer">breast cancer (569 × 30, 2 classes)</option>
              <option value="digits">digits (1797 images 8 × 8, 10 classes)</option>
            </select>
          </label>
        ) : (
          <>
            <Field {...props} path="dataset.uri" label="CSV URI" hint="https://, s3://, ipfs:// or file://" />
            <Field {...props} path="dataset.sha256" label="sha256 of the file" />
            <Field {...props} path="dataset.rows" label="Rows" />
            <Field {...props} path="dataset.input_shape" label="Input shape" hint="features, or height, width, channels" />
            <Field {...props} path="dataset.classes" label="Classes" />
          </>
        )}
      </div>
    </fieldset>
  );
}

/** A random version-4 UUID for the new order (the chain's order id). */
function newOrderId(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[6] = (bytes[6]! & 0x0f) | 0x40;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  const hex = Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}
