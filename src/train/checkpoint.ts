// Checkpoints are safetensors files with PyTorch's state_dict names and shapes, so the reference
// model loads them with load_state_dict. Adam's moments go to a second file beside the weights
// (`<name>.adam.safetensors`); the weights' metadata holds the optimizer file's SHA-256, so a resume
// never pairs weights with the wrong optimizer state. Both are written atomically, optimizer first.
import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { CheckpointFormatError, decodeSafetensors, encodeSafetensors, writeFileAtomic, type Tensor } from '../io/safetensors.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { parameterSpecs, type ModelSpec } from '../nn/spec.ts';
import type { TrainConfig, TrainState } from './trainer.ts';

export const CHECKPOINT_FORMAT = 'webgpu-digits-checkpoint-1';
export const DATA_ORDER = 'xoshiro128** Fisher-Yates shuffle, one stream per (seed, epoch)';

export class CheckpointError extends Error {
  override name = 'CheckpointError';
}

export function optimizerPath(checkpointPath: string): string {
  return checkpointPath.replace(/(\.safetensors)?$/, '.adam.safetensors');
}

function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** SHA-256 over the tensors' bytes in name order: detects a file damaged after it was written. */
function tensorsDigest(tensors: ReadonlyMap<string, { data: ArrayBufferView }>): string {
  const hash = createHash('sha256');
  for (const name of [...tensors.keys()].sort()) {
    const { data } = tensors.get(name)!;
    hash.update(name);
    hash.update(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  }
  return hash.digest('hex');
}

export interface SaveOptions {
  config: TrainConfig;
  state: TrainState;
  /** Also write Adam's state (needed for --resume). */
  withOptimizer: boolean;
}

export async function saveCheckpoint(path: string, { config, state, withOptimizer }: SaveOptions): Promise<void> {
  const layout = new ParameterLayout(parameterSpecs(config.model));
  const metadata: Record<string, string> = {
    format: CHECKPOINT_FORMAT,
    model: config.model.name,
    model_spec: JSON.stringify(config.model),
    epoch: String(state.epoch),
    batch_in_epoch: String(state.batchInEpoch),
    step: String(state.step),
    epoch_loss_sum: String(state.epochLossSum),
    epoch_correct: String(state.epochCorrect),
    epoch_seen: String(state.epochSeen),
    seed: String(config.seed),
    shuffle: String(config.shuffle),
    batch_size: String(config.batchSize),
    epochs: String(config.epochs),
    adam: JSON.stringify(config.adam),
    data_order: DATA_ORDER,
  };
  if (withOptimizer) {
    const optimizerTensors = new Map<string, { shape: number[]; data: Float32Array }>();
    const m = layout.split(state.adamM);
    const v = layout.split(state.adamV);
    for (const slot of layout.slots) {
      optimizerTensors.set(`${slot.name}.exp_avg`, { shape: slot.shape, data: m.get(slot.name)! });
      optimizerTensors.set(`${slot.name}.exp_avg_sq`, { shape: slot.shape, data: v.get(slot.name)! });
    }
    const bytes = encodeSafetensors(Object.fromEntries(optimizerTensors), {
      format: CHECKPOINT_FORMAT,
      step: String(state.step),
      tensors_sha256: tensorsDigest(optimizerTensors),
    });
    await writeFileAtomic(optimizerPath(path), bytes);
    metadata.optimizer_sha256 = sha256(bytes);
  }
  const tensors = new Map<string, { shape: number[]; data: Float32Array }>();
  const split = layout.split(state.params);
  for (const slot of layout.slots) tensors.set(slot.name, { shape: slot.shape, data: split.get(slot.name)! });
  metadata.tensors_sha256 = tensorsDigest(tensors);
  await writeFileAtomic(path, encodeSafetensors(Object.fromEntries(tensors), metadata));
}

export interface LoadedCheckpoint {
  path: string;
  model: ModelSpec;
  metadata: Record<string, string>;
  params: Float32Array;
  /** Present when the optimizer file was asked for. */
  adam?: { m: Float32Array; v: Float32Array };
}

function readSafetensors(path: string, what: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  if (!existsSync(path)) throw new CheckpointError(`${what} ${path} does not exist. Train first (\`deno task train\`) or pass --checkpoint PATH.`);
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (err) {
    throw new CheckpointError(`Cannot read ${what} ${path}: ${(err as Error).message}`);
  }
  try {
    return decodeSafetensors(bytes, path);
  } catch (err) {
    if (err instanceof CheckpointFormatError) throw new CheckpointError(`${what} ${path} is not a valid safetensors file: ${err.problem}`);
    throw err;
  }
}

function float32Tensors(path: string, layout: ParameterLayout, tensors: Map<string, Tensor>, suffix: string): Float32Array {
  const named = new Map<string, Float32Array>();
  for (const slot of layout.slots) {
    const name = `${slot.name}${suffix}`;
    const tensor = tensors.get(name);
    if (!tensor) throw new CheckpointError(`${path}: missing tensor "${name}" — is this a checkpoint of another model?`);
    if (tensor.dtype !== 'F32') throw new CheckpointError(`${path}: tensor "${name}" is ${tensor.dtype}, expected F32`);
    if (tensor.shape.join(',') !== slot.shape.join(',')) {
      throw new CheckpointError(`${path}: tensor "${name}" has shape [${tensor.shape}], expected [${slot.shape}] — a checkpoint of another model?`);
    }
    named.set(slot.name, tensor.data as Float32Array);
  }
  const expected = new Set(layout.slots.map((s) => `${s.name}${suffix}`));
  const extra = [...tensors.keys()].filter((name) => !expected.has(name));
  if (extra.length) throw new CheckpointError(`${path}: unexpected tensors ${extra.join(', ')} — a checkpoint of another model?`);
  return layout.join(named, path);
}

/**
 * Loads and verifies a checkpoint: format, model, every tensor's name, dtype and shape, and the data
 * digest. `expectModel` refuses a checkpoint of another model.
 */
export function loadCheckpoint(path: string, options: { expectModel?: string; withOptimizer?: boolean } = {}): LoadedCheckpoint {
  const { tensors, metadata } = readSafetensors(path, 'Checkpoint');
  if (metadata.format !== CHECKPOINT_FORMAT) {
    throw new CheckpointError(`${path}: metadata format is ${JSON.stringify(metadata.format)}, expected "${CHECKPOINT_FORMAT}" — not a checkpoint written by this tool`);
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
  if (model?.name !== metadata.model) throw new CheckpointError(`${path}: metadata model_spec does not describe model "${metadata.model}"`);
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
  const loaded: LoadedCheckpoint = { path, model, metadata, params };
  if (options.withOptimizer) {
    const adamFile = optimizerPath(path);
    if (!existsSync(adamFile)) throw new CheckpointError(`Cannot resume: optimizer state ${adamFile} is missing (it is written beside ${path}).`);
    const bytes = readFileSync(adamFile);
    if (sha256(bytes) !== metadata.optimizer_sha256) {
      throw new CheckpointError(`Cannot resume: ${adamFile} does not belong to ${path} (SHA-256 mismatch).`);
    }
    const opt = readSafetensors(adamFile, 'Optimizer state');
    loaded.adam = {
      m: float32Tensors(adamFile, layout, filterSuffix(opt.tensors, '.exp_avg'), '.exp_avg'),
      v: float32Tensors(adamFile, layout, filterSuffix(opt.tensors, '.exp_avg_sq'), '.exp_avg_sq'),
    };
  }
  return loaded;
}

/** The tensors whose names end with `suffix` ('.exp_avg' does not match '.exp_avg_sq'). */
function filterSuffix(tensors: Map<string, Tensor>, suffix: string): Map<string, Tensor> {
  return new Map([...tensors].filter(([name]) => name.endsWith(suffix)));
}

/** Rebuilds the training state recorded in a checkpoint loaded with its optimizer. */
export function stateFromCheckpoint(loaded: LoadedCheckpoint): TrainState {
  const int = (key: string): number => {
    const value = Number(loaded.metadata[key]);
    if (!Number.isInteger(value) || value < 0) throw new CheckpointError(`${loaded.path}: metadata ${key} is not a count`);
    return value;
  };
  if (!loaded.adam) throw new CheckpointError(`${loaded.path}: loaded without optimizer state`);
  return {
    epoch: int('epoch'),
    batchInEpoch: int('batch_in_epoch'),
    step: int('step'),
    epochLossSum: Number(loaded.metadata.epoch_loss_sum),
    epochCorrect: int('epoch_correct'),
    epochSeen: int('epoch_seen'),
    params: loaded.params,
    adamM: loaded.adam.m,
    adamV: loaded.adam.v,
  };
}
