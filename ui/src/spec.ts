// The task spec as a form edits it. The spec's rules live in `matrixai-pot` alone: the indexer's
// estimate endpoint checks every draft with them, and its message names the field. Here a draft
// only has to become JSON: every number is kept as the text typed, and parsed back by field.
import type { Schemas } from "./api/indexer";
import breastCancerMlp from "../../crates/pot/specs/breast-cancer-mlp.json";
import digitsCnn from "../../crates/pot/specs/digits-cnn.json";
import digitsMlp from "../../crates/pot/specs/digits-mlp.json";
import irisSoftmax from "../../crates/pot/specs/iris-softmax.json";

export type TaskSpec = Schemas["TaskSpec"];

/** The example specs of `matrixai-pot` (crates/pot/specs/), as starting points. */
export const TEMPLATES: { name: string; label: string; spec: TaskSpec }[] = [
  { name: "iris-softmax", label: "Iris, softmax regression", spec: irisSoftmax as TaskSpec },
  { name: "breast-cancer-mlp", label: "Breast cancer, MLP (Adam)", spec: breastCancerMlp as TaskSpec },
  { name: "digits-mlp", label: "Digits, MLP", spec: digitsMlp as TaskSpec },
  { name: "digits-cnn", label: "Digits, convolutional network", spec: digitsCnn as TaskSpec },
];

/** A spec whose numbers are the texts in the form's fields. */
export type Draft = { [key: string]: DraftValue };
export type DraftValue = string | boolean | Draft | Draft[];

/** Keys whose values are whole numbers, and those that are decimals (f32 on the Rust side). */
const WHOLE = new Set([
  "v", "units", "out_channels", "kernel", "padding", "size", "rows", "classes", "eval_ppm", "seed",
  "epochs", "batch_size", "init_seed", "data_order_seed", "checkpoint_interval", "min_eval_accuracy_ppm",
]);
const DECIMAL = new Set(["factor", "lr", "momentum", "weight_decay", "beta1", "beta2", "eps"]);
/** A list of whole numbers, typed as "8, 8, 1". */
const LIST = "input_shape";

export function toDraft(spec: TaskSpec): Draft {
  const convert = (value: unknown): DraftValue => {
    if (Array.isArray(value)) return value.every((item) => typeof item === "number") ? value.join(", ") : value.map((item) => convert(item) as Draft);
    if (typeof value === "number") return String(value);
    if (typeof value === "boolean" || typeof value === "string") return value;
    return Object.fromEntries(Object.entries(value as object).map(([key, item]) => [key, convert(item)]));
  };
  const draft = convert(spec) as Draft;
  // Fields left to their defaults get them written out, so that the form shows every value.
  const optimizer = draft.optimizer as Draft;
  return {
    ...draft,
    preprocess: (draft.preprocess as Draft | undefined) ?? PREPROCESS_DEFAULTS.none!,
    optimizer: { ...OPTIMIZER_DEFAULTS[optimizer.kind as string], ...optimizer },
  };
}

/** A field that is not a number where one is needed: its path ("optimizer.lr") and why. */
export class DraftError extends Error {
  constructor(
    readonly path: string,
    message: string,
  ) {
    super(message);
  }
}

function whole(path: string, text: string): number {
  // Seeds are u64; beyond 2^53 a JavaScript number would change them silently.
  if (!/^\s*\d+\s*$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new DraftError(path, `${path} must be a whole number from 0 to ${Number.MAX_SAFE_INTEGER}, not "${text}".`);
  }
  return Number(text);
}

/** The spec a draft stands for; throws a [`DraftError`] naming the first field that is no number. */
export function fromDraft(draft: Draft): TaskSpec {
  const convert = (value: DraftValue, path: string, key: string): unknown => {
    if (Array.isArray(value)) return value.map((item, index) => convert(item, `${path}[${index}]`, ""));
    if (typeof value === "boolean") return value;
    if (typeof value === "string") {
      if (WHOLE.has(key)) return whole(path, value);
      if (key === LIST) {
        const items = value.split(",").map((item) => item.trim());
        return items.map((item, index) => whole(`${path}[${index}]`, item));
      }
      if (DECIMAL.has(key)) {
        const number = value.trim() === "" ? NaN : Number(value);
        if (!Number.isFinite(number)) throw new DraftError(path, `${path} must be a number such as 0.05, not "${value}".`);
        return number;
      }
      return value;
    }
    return Object.fromEntries(Object.entries(value).map(([name, item]) => [name, convert(item, path ? `${path}.${name}` : name, name)]));
  };
  return convert(draft, "", "") as TaskSpec;
}

/** Reads `path` ("model.layers.2.units") in a draft. */
export function getAt(draft: Draft, path: string): DraftValue | undefined {
  let value: DraftValue | undefined = draft;
  for (const key of path.split(".")) {
    value = value && typeof value === "object" ? (value as Record<string, DraftValue>)[key] : undefined;
  }
  return value;
}

/** A copy of `draft` with `path` set to `value` (the parts on the way copied, the rest shared). */
export function setAt(draft: Draft, path: string, value: DraftValue): Draft {
  const [key, ...rest] = path.split(".");
  if (key === undefined) return draft;
  const current = (draft as Record<string, DraftValue>)[key];
  const next = rest.length === 0 ? value : setAt((current ?? {}) as Draft, rest.join("."), value);
  if (Array.isArray(draft)) {
    const copy = [...(draft as Draft[])];
    copy[Number(key)] = next as Draft;
    return copy as unknown as Draft;
  }
  return { ...draft, [key]: next };
}

/**
 * What a layer, optimizer, dataset or preprocessing of each kind starts with when chosen; the
 * optional fields at `matrixai-pot`'s own defaults (`OptimizerSpec`), so writing them out
 * changes nothing.
 */
export const LAYER_DEFAULTS: Record<string, Draft> = {
  dense: { type: "dense", units: "10" },
  relu: { type: "relu" },
  conv2d: { type: "conv2d", out_channels: "8", kernel: "3", padding: "1" },
  max_pool2d: { type: "max_pool2d", size: "2" },
  flatten: { type: "flatten" },
};
export const OPTIMIZER_DEFAULTS: Record<string, Draft> = {
  sgd: { kind: "sgd", lr: "0.05", momentum: "0", weight_decay: "0", nesterov: false },
  adam: { kind: "adam", lr: "0.001", beta1: "0.9", beta2: "0.999", eps: "1e-8", weight_decay: "0" },
};
export const PREPROCESS_DEFAULTS: Record<string, Draft> = {
  none: { kind: "none" },
  standardize: { kind: "standardize" },
  scale: { kind: "scale", factor: "1" },
};
export const DATASET_DEFAULTS: Record<string, Draft> = {
  bundled: { source: "bundled", name: "iris" },
  csv: { source: "csv", uri: "", sha256: "", rows: "", input_shape: "", classes: "" },
};
