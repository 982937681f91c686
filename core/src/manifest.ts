/**
 * models/manifest.json: the only way the API, the widget and the catalogue checker find a model.
 * Each entry names its file and the file's sha256, which loaders check before using the bytes.
 */
import { BlankspotError } from './errors.js';
import { INPUT_SIZE } from './contract.js';
import { FRAMINGS, type Framing } from './framing.js';

export const MANIFEST_VERSION = 1;
/** The largest model input side a manifest may ask for (the block-means reader needs 8x it in pixels). */
const MAX_INPUT_SIZE = 512;

/** How well a localiser's boxes fit: on the visible rectangles it detected, the share with IoU >= 0.7. */
export interface LocalisationMetrics {
  detected: number;
  iouAtLeast07: number;
  meanIou: number;
}

export interface ModelMetrics {
  accuracy: number;
  loss?: number;
  /** Accuracy per data set of a mixture. */
  perSet?: Record<string, { count: number; accuracy: number; localisation?: LocalisationMetrics }>;
  localisation?: LocalisationMetrics;
}

export interface ModelEntry {
  /** Unique name, e.g. "cnn-leaky". */
  name: string;
  version: string;
  /** File name relative to the manifest. */
  file: string;
  sha256: string;
  size: number;
  network: string;
  recipe: string;
  protocol: string;
  data: string;
  /** Seed of the training data: test sets built with it hold photos the model never saw. */
  seed?: string;
  /** Decision threshold on the anomaly probability: the `balanced` operating point. */
  threshold: number;
  /**
   * One threshold per sensitivity, chosen on validation data for a false-alarm rate on clean photos
   * (see `operatingPoint`); models without it use `threshold` for every sensitivity.
   */
  thresholds?: Record<Sensitivity, number>;
  /** How the thresholds were chosen. */
  operatingPoint?: {
    /** False-alarm rate aimed at, per sensitivity, on the clean images named in `chosenOn`. */
    falseAlarmTargets: Record<Sensitivity, number>;
    chosenOn: string;
    /** Rates measured there at the chosen thresholds, and recall on visible damage. */
    falseAlarms: Record<Sensitivity, number>;
    recall: Record<Sensitivity, number>;
  };
  /**
   * How its score was calibrated (`blankspot export --calibrate`): Platt scaling of the anomaly logit,
   * written into the ONNX graph, fitted on `fittedOn`; `ece` is the expected calibration error there
   * after it, `eceBefore` before. Absent: the score is the network's own.
   */
  calibration?: { method: 'platt'; scale: number; shift: number; fittedOn: string; ece: number; eceBefore: number };
  /** True when the model also outputs a `heatmap` from which a box can be derived. */
  localises: boolean;
  /** Which part of the photo the input shows (core's `framing.ts`); absent means `full`, the whole photo. */
  framing?: Framing;
  /** Side of the model's square input; absent means the contract's 64 (INPUT_SIZE). */
  inputSize?: number;
  /** What the model is run on (`pipeline/views.ts`): `mirror`, the input and its mirror image; `flips`, its four flips; absent means `single`. */
  views?: Views;
  /**
   * A second, closer look (a fully convolutional model whose ONNX input takes any side): a photo whose
   * first look scores `above` or more (and below the threshold) is looked at again on an `inputSize`
   * input of the same framing; its score is the higher of the two looks', its box that look's. Absent:
   * one look.
   */
  closerLook?: CloserLook;
  metrics: { validation: ModelMetrics; test?: ModelMetrics };
  trainedAt: string;
  /** Short model card, relative to the manifest. */
  card?: string;
}

/** See ModelEntry.closerLook. */
export interface CloserLook {
  inputSize: number;
  above: number;
  /**
   * What the closer look runs on (`pipeline/views.ts`); absent means the model's own `views`. Only the
   * suspect photos take it, so it can afford more views than the first look.
   */
  views?: Views;
}

/**
 * How readily a model flags: `high` catches more damage and raises more false alarms, `low` the
 * reverse; `balanced` is the model's own threshold.
 */
export const SENSITIVITIES = ['high', 'balanced', 'low'] as const;

/** What a model is run on (`pipeline/views.ts`): the input alone, it and its mirror image, or its four flips. */
export const VIEWS = ['single', 'mirror', 'flips'] as const;
export type Views = (typeof VIEWS)[number];
export type Sensitivity = (typeof SENSITIVITIES)[number];

/** The decision threshold a model uses at a sensitivity (its own threshold when none is asked for). */
export function thresholdFor(entry: Pick<ModelEntry, 'threshold' | 'thresholds'>, sensitivity?: Sensitivity): number {
  if (sensitivity == null || sensitivity === 'balanced') return entry.threshold;
  return entry.thresholds?.[sensitivity] ?? entry.threshold;
}

export interface ModelManifest {
  version: number;
  /** Name of the model used when a request names none. */
  default: string;
  models: ModelEntry[];
}

function fail(message: string): never {
  throw new BlankspotError('BAD_MODEL_FILE', `models/manifest.json: ${message}`);
}

/** Validates a parsed manifest; throws BAD_MODEL_FILE with the first problem found. */
export function parseManifest(json: unknown): ModelManifest {
  const m = json as ModelManifest;
  if (m == null || typeof m !== 'object') fail('not a JSON object');
  if (m.version !== MANIFEST_VERSION) fail(`version ${String(m.version)} is not supported (expected ${MANIFEST_VERSION})`);
  if (!Array.isArray(m.models) || m.models.length === 0) fail('lists no models');
  const names = new Set<string>();
  for (const e of m.models) {
    if (typeof e?.name !== 'string' || e.name === '') fail('a model has no name');
    if (names.has(e.name)) fail(`model ${e.name} is listed twice`);
    names.add(e.name);
    if (typeof e.file !== 'string' || e.file.includes('..') || e.file.startsWith('/'))
      fail(`model ${e.name} has a bad file path`);
    if (!/^[0-9a-f]{64}$/.test(String(e.sha256))) fail(`model ${e.name} has no valid sha256`);
    if (!Number.isInteger(e.size) || e.size <= 0) fail(`model ${e.name} has no valid size`);
    if (!(e.threshold > 0 && e.threshold < 1)) fail(`model ${e.name} has no threshold in (0,1)`);
    if (e.framing != null && !FRAMINGS.includes(e.framing)) fail(`model ${e.name} has an unknown framing '${String(e.framing)}'`);
    if (e.inputSize != null && !(Number.isInteger(e.inputSize) && e.inputSize >= 16 && e.inputSize <= MAX_INPUT_SIZE))
      fail(`model ${e.name} has a bad inputSize '${String(e.inputSize)}' (an integer 16-${MAX_INPUT_SIZE})`);
    if (e.views != null && !(VIEWS as readonly string[]).includes(e.views))
      fail(`model ${e.name} has unknown views '${String(e.views)}'`);
    // Manifests written before the closer look had its one name call it `zoom`.
    const legacy = e as ModelEntry & { zoom?: CloserLook };
    if (legacy.zoom != null) {
      legacy.closerLook ??= legacy.zoom;
      delete legacy.zoom;
    }
    if (e.closerLook != null) {
      const problem = closerLookProblem(e.closerLook, inputSizeOf(e), [e.threshold, ...Object.values(e.thresholds ?? {})]);
      if (problem) fail(`model ${e.name}: ${problem}`);
    }
    if (e.calibration != null && !(e.calibration.scale > 0 && Number.isFinite(e.calibration.shift)))
      fail(`model ${e.name} has a calibration that does not keep the order of scores`);
    if (e.thresholds != null) {
      const t = e.thresholds;
      if (!SENSITIVITIES.every((k) => t[k] > 0 && t[k] < 1)) fail(`model ${e.name} has a sensitivity threshold outside (0,1)`);
      if (t.balanced !== e.threshold) fail(`model ${e.name}: its balanced threshold is not its threshold`);
      if (!(t.high <= t.balanced && t.balanced <= t.low))
        fail(`model ${e.name}: thresholds must rise from high to low sensitivity`);
    }
  }
  if (!names.has(m.default)) fail(`default model ${String(m.default)} is not listed`);
  return m;
}

/**
 * What is wrong with a closer look for a model of this input side and these thresholds (none yet: only the
 * side and the start are checked); null when nothing. The manifest and the exporter both ask.
 */
export function closerLookProblem(closerLook: CloserLook, inputSize: number, thresholds: readonly number[]): string | null {
  if (!(Number.isInteger(closerLook.inputSize) && closerLook.inputSize > inputSize && closerLook.inputSize <= MAX_INPUT_SIZE))
    return `bad closer-look inputSize '${String(closerLook.inputSize)}' (an integer above the input's ${inputSize}, up to ${MAX_INPUT_SIZE})`;
  // A photo that never reaches the closer look is decided on its first look: no threshold may lie below its start.
  if (!(closerLook.above > 0 && closerLook.above <= Math.min(1, ...thresholds)))
    return `its closer look must start in (0, its lowest threshold] (it starts at ${String(closerLook.above)})`;
  if (closerLook.views != null && !(VIEWS as readonly string[]).includes(closerLook.views))
    return `unknown closer-look views '${String(closerLook.views)}'`;
  return null;
}

/** Whether a first look's score calls for the closer look (ModelEntry.closerLook): from its start up to the threshold. */
export function wantsCloserLook(entry: Pick<ModelEntry, 'closerLook'>, score: number, threshold: number): boolean {
  return entry.closerLook != null && score >= entry.closerLook.above && score < threshold;
}

/**
 * The check's scoring rule, for one photo or many: each photo's first look; for those `wantsCloserLook`
 * picks, the closer look too (`closer` is called once, with their indices, and returns their looks in
 * that order); the look with the higher score answers. `checkImage` runs it on one photo; the catalogue
 * and `evaluate` on many, with an infinite threshold where thresholds are still to be chosen (the same
 * verdict at any threshold as the check's, which skips the closer look where the first flags).
 */
export async function withCloserLook<Look extends { score: number }>(
  entry: Pick<ModelEntry, 'closerLook'>,
  threshold: number,
  first: readonly Look[],
  closer: (indices: number[]) => Promise<readonly Look[]>,
): Promise<Array<{ look: Look; looks: 1 | 2; closer: boolean }>> {
  const chosen = first.map((look) => ({ look, looks: 1 as 1 | 2, closer: false }));
  const suspect = first.flatMap((look, i) => (wantsCloserLook(entry, look.score, threshold) ? [i] : []));
  if (suspect.length === 0) return chosen;
  const near = await closer(suspect);
  suspect.forEach((i, k) => {
    chosen[i].looks = 2;
    if (near[k].score > first[i].score) Object.assign(chosen[i], { look: near[k], closer: true });
  });
  return chosen;
}

/** The side of a model's square input. */
export function inputSizeOf(entry: Pick<ModelEntry, 'inputSize'>): number {
  return entry.inputSize ?? INPUT_SIZE;
}

/** The framing a model's input is made with. */
export function framingOf(entry: Pick<ModelEntry, 'framing'>): Framing {
  return entry.framing ?? 'full';
}

export function findModel(manifest: ModelManifest, name?: string): ModelEntry {
  const wanted = name ?? manifest.default;
  const entry = manifest.models.find((e) => e.name === wanted);
  if (entry == null) throw new BlankspotError('NOT_FOUND', `no model named '${wanted}'`);
  return entry;
}

// WebCrypto is a global in Node 20, browsers and Workers alike; only its shape is declared here.
declare const crypto: { subtle: { digest(algorithm: string, data: Uint8Array): Promise<ArrayBuffer> } };

export async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  return Array.from(digest, (b) => b.toString(16).padStart(2, '0')).join('');
}

/** Refuses model bytes that are not exactly the file the manifest lists. */
export async function verifyModelBytes(entry: ModelEntry, bytes: Uint8Array): Promise<void> {
  if (bytes.length !== entry.size) {
    throw new BlankspotError('BAD_MODEL_FILE', `${entry.file} has ${bytes.length} bytes, the manifest says ${entry.size}`);
  }
  const actual = await sha256Hex(bytes);
  if (actual !== entry.sha256) {
    throw new BlankspotError('BAD_MODEL_FILE', `${entry.file} does not match its sha256 in the manifest (got ${actual})`);
  }
}
