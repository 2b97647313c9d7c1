// The checkpoint format without the file system: the metadata a run records, the weights and optimizer
// files as bytes, and their verification when read back. src/train/checkpoint.ts writes and reads them
// as files (atomically, with locks and clean-up); the browser page encodes and decodes the same bytes.
import { createHash } from 'node:crypto';
import { CheckpointFormatError, decodeSafetensors, encodeSafetensors, type Tensor } from '../io/safetensors.ts';
import { firstNonFinite, ParameterLayout } from '../nn/parameters.ts';
import { type ModelSpec, parameterSpecs } from '../nn/spec.ts';
import { checkModelSpec, ModelFileError } from '../nn/model-file.ts';
import { type TrainConfig, trainingOptions, type TrainState } from './trainer.ts';

export const CHECKPOINT_FORMAT = 'webgpu-digits-checkpoint-1';
export const DATA_ORDER = 'xoshiro128** Fisher-Yates shuffle, one stream per (seed, epoch)';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

/** A state with NaN or Infinity in it: never written, never loaded. */
export class NonFiniteStateError extends CheckpointError {
  override name = 'NonFiniteStateError';
  constructor(message: string, readonly tensor: string) {
    super(message);
  }
}

/** The checkpoint's file name without its folder and `.safetensors`: what its optimizer files are named after. */
export function checkpointStem(checkpointPath: string): string {
  return checkpointPath.replace(/^.*[\\/]/, '').replace(/\.safetensors$/, '');
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 over the tensors' bytes in name order: detects a file damaged after it was written. */
export function tensorsDigest(tensors: ReadonlyMap<string, { data: ArrayBufferView }>): string {
  const hash = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const { data } = tensors.get(name)!;
    hash.update(name);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

/**
 * SHA-256 over every metadata entry but `metadata_sha256` itself, in key order, as JSON pairs (so no
 * key or value can run into the next). Recorded as `metadata_sha256`; with `tensors_sha256` among
 * the entries it covers, it seals the whole checkpoint.
 */
export function metadataDigest(metadata: Readonly<Record<string, string>>): string {
  const entries = Object.keys(metadata).filter((key) => key !== 'metadata_sha256').sort()
    .map((key) => [key, metadata[key]]);
  return createHash('sha256').update(JSON.stringify(entries)).digest('hex');
}

/** Records `metadata_sha256` over the rest of `metadata`: the last change before a checkpoint is encoded. */
export function sealMetadata(metadata: Record<string, string>): Record<string, string> {
  metadata.metadata_sha256 = metadataDigest(metadata);
  return metadata;
}

/** Throws NonFiniteStateError naming the first tensor with NaN or Infinity in the parameters or Adam's moments. */
export function assertFiniteState(
  layout: ParameterLayout,
  state: Pick<TrainState, 'params' | 'adamM' | 'adamV'>,
  what: string,
): void {
  const checks: [Float32Array, string][] = [[state.params, ''], [state.adamM, ' (Adam exp_avg)'], [
    state.adamV,
    ' (Adam exp_avg_sq)',
  ]];
  for (const [flat, role] of checks) {
    const bad = firstNonFinite(layout, flat);
    if (bad) throw new NonFiniteStateError(`${what}: ${bad}${role} holds NaN or Infinity`, bad);
  }
}

export interface CheckpointContents {
  /**
   * The run's configuration. Weights whose run is not known (the library's saveModel) give the model
   * alone: their metadata then records no run (seed, batch size, optimizer, progress within an epoch).
   */
  config: TrainConfig | { model: ModelSpec };
  /** The state; for weights without a run, its epoch is recorded only when given. */
  state: TrainState | { params: Float32Array; epoch?: number };
  /** Also encode Adam's state (needed for --resume). */
  withOptimizer: boolean;
  /** More metadata recorded with the run (e.g. the data it trains on), compared on resume. */
  run?: Record<string, string>;
}

/** A checkpoint as bytes: the weights file, and the optimizer file it names (when asked for). */
export interface EncodedCheckpoint {
  weights: Uint8Array;
  metadata: Record<string, string>;
  optimizer?: { name: string; bytes: Uint8Array; sha256: string };
}

/**
 * Encodes the checkpoint to be written at `path` (its name names the optimizer file:
 * `<name>.adam.<16 hex of its SHA-256>.safetensors`, beside it). Refuses a state with NaN or Infinity.
 */
export function encodeCheckpoint(
  path: string,
  { config, state, withOptimizer, run }: CheckpointContents,
): EncodedCheckpoint {
  const layout = new ParameterLayout(parameterSpecs(config.model));
  const adam = withOptimizer && 'adamM' in state ? state : undefined;
  if (withOptimizer && !adam) throw new Error(`encodeCheckpoint ${path}: no optimizer state to write`);
  assertFiniteState(
    layout,
    adam ?? { params: state.params, adamM: new Float32Array(0), adamV: new Float32Array(0) },
    `refusing to write checkpoint ${path}${'step' in state ? ` of step ${state.step}` : ''}`,
  );
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    model: config.model.name,
    model_spec: JSON.stringify(config.model),
    ...(state.epoch === undefined ? {} : { epoch: String(state.epoch) }),
    ...('step' in state
      ? {
        batch_in_epoch: String(state.batchInEpoch),
        step: String(state.step),
        epoch_loss_sum: String(state.epochLossSum),
        epoch_correct: String(state.epochCorrect),
        epoch_seen: String(state.epochSeen),
      }
      : {}),
    ...('seed' in config
      ? {
        seed: String(config.seed),
        shuffle: String(config.shuffle),
        batch_size: String(config.batchSize),
        epochs: String(config.epochs),
        adam: JSON.stringify(config.adam),
        // Schedule, label smoothing, augmentation: only when used, so a plain run's metadata is as before.
        ...(Object.keys(trainingOptions(config)).length ? { training: JSON.stringify(trainingOptions(config)) } : {}),
        data_order: DATA_ORDER,
      }
      : {}),
    ...run,
  };
  let optimizer: EncodedCheckpoint['optimizer'];
  if (adam) {
    const optimizerTensors = new Map<string, { shape: number[]; data: Float32Array }>();
    const m = layout.split(adam.adamM);
    const v = layout.split(adam.adamV);
    for (const slot of layout.slots) {
      optimizerTensors.set(`${slot.name}.exp_avg`, { shape: slot.shape, data: m.get(slot.name)! });
      optimizerTensors.set(`${slot.name}.exp_avg_sq`, { shape: slot.shape, data: v.get(slot.name)! });
    }
    const bytes = encodeSafetensors(Object.fromEntries(optimizerTensors), {
      format: CHECKPOINT_FORMAT,
      kind: 'optimizer',
      step: String(adam.step),
      tensors_sha256: tensorsDigest(optimizerTensors),
    });
    const digest = sha256(bytes);
    optimizer = { name: `${checkpointStem(path)}.adam.${digest.slice(0, 16)}.safetensors`, bytes, sha256: digest };
    metadata.optimizer_file = optimizer.name;
    metadata.optimizer_sha256 = digest;
  }
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const split = layout.split(state.params);
  for (const slot of layout.slots) tensors.set(slot.name, { shape: slot.shape, data: split.get(slot.name)! });
  metadata.tensors_sha256 = tensorsDigest(tensors);
  sealMetadata(metadata);
  return { weights: encodeSafetensors(Object.fromEntries(tensors), metadata), metadata, optimizer };
}

export interface LoadedCheckpoint {
  path: string;
  model: ModelSpec;
  metadata: Record<string, string>;
  params: Float32Array;
  /** Present when the optimizer file was asked for. */
  adam?: { m: Float32Array; v: Float32Array };
}

/** The safetensors in `bytes`, or a CheckpointError saying `what` at `path` is not one. */
export function decodeSafetensorsFile(
  bytes: Uint8Array,
  path: string,
  what: string,
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  try {
    return decodeSafetensors(bytes, path);
  } catch (err) {
    if (err instanceof CheckpointFormatError) {
      throw new CheckpointError(`${what} ${path} is not a valid safetensors file: ${err.problem}`);
    }
    throw err;
  }
}

function float32Tensors(
  path: string,
  layout: ParameterLayout,
  tensors: Map<string, Tensor>,
  suffix: string,
): Float32Array {
  const named = new Map<string, Float32Array>();
  for (const slot of layout.slots) {
    const name = `${slot.name}${suffix}`;
    const tensor = tensors.get(name);
    if (!tensor) {
      throw new CheckpointError(`${path}: missing tensor "${name}" — is this a checkpoint of another model?`);
    }
    if (tensor.dtype !== 'F32') throw new CheckpointError(`${path}: tensor "${name}" is ${tensor.dtype}, expected F32`);
    if (tensor.shape.join(',') !== slot.shape.join(',')) {
      throw new CheckpointError(
        `${path}: tensor "${name}" has shape [${tensor.shape}], expected [${slot.shape}] — a checkpoint of another model?`,
      );
    }
    named.set(slot.name, tensor.data as Float32Array);
  }
  const expected = new Set(layout.slots.map((s) => `${s.name}${suffix}`));
  const extra = [...tensors.keys()].filter((name) => !expected.has(name));
  if (extra.length) {
    throw new CheckpointError(`${path}: unexpected tensors ${extra.join(', ')} — a checkpoint of another model?`);
  }
  return layout.join(named, path);
}

function isOptimizerFile(tensors: Map<string, Tensor>, metadata: Record<string, string>): boolean {
  if (metadata.kind === 'optimizer') return true;
  const names = [...tensors.keys()];
  return names.length > 0 && names.every((name) => /\.exp_avg(_sq)?$/.test(name));
}

export interface LoadOptions {
  /** Refuse a checkpoint of another model. */
  expectModel?: string;
  /** Also load Adam's state (for --resume). */
  withOptimizer?: boolean;
  /** Appended to "... does not exist." (what to do instead). */
  missingAdvice?: string;
}

/**
 * Verifies and decodes the weights file `bytes` (read from `path`, named in messages): format, model,
 * every tensor's name, dtype and shape, the metadata and data digests, and that every value is finite.
 * Returns the parameters and the layout they follow; the optimizer state is decodeOptimizer's.
 */
export function decodeCheckpoint(
  bytes: Uint8Array,
  path: string,
  options: Pick<LoadOptions, 'expectModel'> = {},
): LoadedCheckpoint & { layout: ParameterLayout } {
  const { tensors, metadata } = decodeSafetensorsFile(bytes, path, 'Checkpoint');
  if (isOptimizerFile(tensors, metadata)) {
    throw new CheckpointError(
      `${path} is an optimizer-state file (Adam's moments), not a model checkpoint; ` +
        'pass the weights file written beside it (the name without .adam.…)',
    );
  }
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(
      `${path}: metadata format is ${
        JSON.stringify(metadata.format)
      }, expected "${CHECKPOINT_FORMAT}" — not a checkpoint written by this tool`,
    );
  }
  // Checkpoints written before the metadata was sealed have no digest; they load as before.
  if (metadata.metadata_sha256 !== undefined && metadataDigest(metadata) !== metadata.metadata_sha256) {
    throw new CheckpointError(
      `${path}: metadata does not match its recorded SHA-256 (metadata_sha256); the file was edited or ` +
        'is damaged. Use the checkpoint as it was written, or train again.',
    );
  }
  if (options.expectModel && metadata.model !== options.expectModel) {
    throw new CheckpointError(`${path} holds model "${metadata.model}", not "${options.expectModel}"`);
  }
  let model: ModelSpec;
  try {
    model = JSON.parse(metadata.model_spec);
  } catch {
    throw new CheckpointError(`${path}: metadata model_spec is not valid JSON`);
  }
  try {
    // The same checks (and size caps) as a model file, before any of it sizes an allocation.
    checkModelSpec(model, `${path}: metadata model_spec`);
  } catch (err) {
    if (err instanceof ModelFileError) throw new CheckpointError(err.message);
    throw err;
  }
  if (model?.name !== metadata.model) {
    throw new CheckpointError(`${path}: metadata model_spec does not describe model "${metadata.model}"`);
  }
  let layout: ParameterLayout;
  try {
    layout = new ParameterLayout(parameterSpecs(model));
  } catch (err) {
    throw new CheckpointError(`${path}: metadata model_spec is invalid: ${(err as Error).message}`);
  }
  if (tensorsDigest(tensors) !== metadata.tensors_sha256) {
    throw new CheckpointError(`${path}: tensor data does not match its recorded SHA-256; the file is damaged`);
  }
  const params = float32Tensors(path, layout, tensors, '');
  const bad = firstNonFinite(layout, params);
  if (bad) {
    throw new NonFiniteStateError(
      `${path}: ${bad} holds NaN or Infinity — the checkpoint of a diverged run, which cannot ` +
        'classify anything. Train again with a smaller --lr.',
      bad,
    );
  }
  return { path, model, metadata, params, layout };
}

/**
 * Verifies and decodes the optimizer file `bytes` (read from `adamFile`) of the weights whose metadata is
 * `metadata`: damaged and foreign files are each said as such.
 */
export function decodeOptimizer(
  bytes: Uint8Array,
  adamFile: string,
  path: string,
  metadata: Record<string, string>,
  layout: ParameterLayout,
): { m: Float32Array; v: Float32Array } {
  const damaged = (why: string) =>
    new CheckpointError(
      `Cannot resume: optimizer state ${adamFile} is damaged (${why}); ` +
        'no optimizer state to continue with. Start a new run (--overwrite) or restore the file.',
    );
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, adamFile);
  } catch (err) {
    if (err instanceof CheckpointFormatError) throw damaged(`not a valid safetensors file: ${err.problem}`);
    throw err;
  }
  const { tensors, metadata: own } = decoded;
  if (own.tensors_sha256 !== undefined && tensorsDigest(tensors) !== own.tensors_sha256) {
    throw damaged('its tensor data does not match its recorded SHA-256');
  }
  const digest = sha256(bytes);
  const named = /\.adam\.([0-9a-f]{16})\.safetensors$/.exec(adamFile)?.[1];
  if (named && !digest.startsWith(named)) {
    throw damaged(`its content no longer has the SHA-256 its name records (${named}…)`);
  }
  if (digest !== metadata.optimizer_sha256) {
    throw new CheckpointError(
      `Cannot resume: ${adamFile} does not belong to ${path} (SHA-256 mismatch: it holds the optimizer state ` +
        `of step ${own.step ?? '?'}, the weights are of step ${metadata.step}).`,
    );
  }
  const adam = {
    m: float32Tensors(adamFile, layout, filterSuffix(tensors, '.exp_avg'), '.exp_avg'),
    v: float32Tensors(adamFile, layout, filterSuffix(tensors, '.exp_avg_sq'), '.exp_avg_sq'),
  };
  for (const [flat, role] of [[adam.m, 'exp_avg'], [adam.v, 'exp_avg_sq']] as const) {
    const bad = firstNonFinite(layout, flat);
    if (bad) {
      throw new NonFiniteStateError(`${adamFile}: ${bad}.${role} holds NaN or Infinity; it cannot be resumed`, bad);
    }
  }
  return adam;
}

function filterSuffix(tensors: Map<string, Tensor>, suffix: string): Map<string, Tensor> {
  return new Map([...tensors].filter(([name]) => name.endsWith(suffix)));
}

/** Rebuilds the training state recorded in a checkpoint loaded with its optimizer. */
export function stateFromCheckpoint(loaded: LoadedCheckpoint): TrainState {
  const m = loaded.metadata;
  const fail = (key: string, expected: string): never => {
    throw new CheckpointError(
      `${loaded.path}: metadata ${key} is ${
        JSON.stringify(m[key] ?? null)
      }, expected ${expected}; the file is damaged or was edited`,
    );
  };
  // Decimal integers only ("1e9", "0x10" and " 7" are not what saveCheckpoint writes).
  const int = (key: string, max: number, what = `an integer in [0, ${max}]`): number => {
    const text = m[key];
    if (typeof text !== 'string' || !/^\d{1,16}$/.test(text) || Number(text) > max) fail(key, what);
    return Number(text);
  };
  if (!loaded.adam) throw new CheckpointError(`${loaded.path}: loaded without optimizer state`);
  const epochs = int('epochs', MAX_EPOCHS);
  const epoch = int('epoch', epochs, `an integer in [0, epochs = ${epochs}]`);
  const batchSize = m.batch_size === undefined ? MAX_IMAGES : int('batch_size', MAX_IMAGES);
  const batchInEpoch = int('batch_in_epoch', MAX_IMAGES);
  const step = int('step', (epoch + 1) * MAX_IMAGES);
  const epochSeen = int('epoch_seen', batchInEpoch * batchSize, `an integer in [0, batch_in_epoch x batch_size]`);
  const epochCorrect = int('epoch_correct', epochSeen, `an integer in [0, epoch_seen = ${epochSeen}]`);
  const epochLossSum = /^[0-9.e+-]+$/i.test(m.epoch_loss_sum ?? '') ? Number(m.epoch_loss_sum) : NaN;
  if (!(Number.isFinite(epochLossSum) && epochLossSum >= 0)) fail('epoch_loss_sum', 'a finite number >= 0');
  for (const key of ['adam', 'training']) {
    if (m[key] === undefined) continue;
    let parsed: unknown;
    try {
      parsed = JSON.parse(m[key]);
    } catch {
      fail(key, 'a JSON object');
    }
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) fail(key, 'a JSON object');
  }
  return {
    epoch,
    batchInEpoch,
    step,
    epochLossSum,
    epochCorrect,
    epochSeen,
    params: loaded.params,
    adamM: loaded.adam.m,
    adamV: loaded.adam.v,
  };
}

// The largest values a run can record: train's --epochs, and a bound on any image or batch count.
const MAX_EPOCHS = 100000;
const MAX_IMAGES = 2 ** 31;
