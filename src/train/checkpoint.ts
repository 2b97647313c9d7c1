// Checkpoints are safetensors files with PyTorch's state_dict names and shapes, so the reference
// model loads them with load_state_dict. Adam's moments go to a second file beside the weights,
// named by its content hash (`<name>.adam.<16 hex>.safetensors`); the weights' metadata names that
// file and holds its SHA-256. A save writes the optimizer file under its new name first, then
// renames the weights file into place (the commit), and only then removes optimizer files no weights
// refer to: after a kill at any instant, the weights on disk name an optimizer file that is there.
// (Checkpoints from before this scheme have `<name>.adam.safetensors`; they still load.)
import { readdirSync, unlinkSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { errorCode, FileError, readRegularFile, removeStaleTempFiles, writeFileAtomic } from '../io/files.ts';
import { decodeSafetensors } from '../io/safetensors.ts';
import type { ParameterLayout } from '../nn/parameters.ts';
import {
  type CheckpointContents,
  CheckpointError,
  checkpointStem,
  decodeCheckpoint,
  decodeOptimizer,
  encodeCheckpoint,
  type LoadedCheckpoint,
  type LoadOptions,
} from './checkpoint-format.ts';

export {
  assertFiniteState,
  CHECKPOINT_FORMAT,
  CheckpointError,
  DATA_ORDER,
  type LoadedCheckpoint,
  type LoadOptions,
  metadataDigest,
  NonFiniteStateError,
  sealMetadata,
  stateFromCheckpoint,
  tensorsDigest,
} from './checkpoint-format.ts';

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/** The optimizer file of checkpoints written before optimizer files were named by their hash. */
export function legacyOptimizerPath(checkpointPath: string): string {
  return checkpointPath.replace(/(\.safetensors)?$/, '.adam.safetensors');
}

/** Names of the optimizer files that belong beside `checkpointPath` (hashed and legacy). */
function optimizerNamePattern(checkpointPath: string): RegExp {
  return new RegExp(`${escapeRegExp(checkpointStem(checkpointPath))}\\.adam(?:\\.[0-9a-f]{16})?\\.safetensors`);
}

export type SaveOptions = CheckpointContents;

/** Where the weights at `checkpointPath` say their optimizer state is (the file need not exist). */
export function optimizerPath(checkpointPath: string, metadata?: Record<string, string>): string {
  const named = metadata?.optimizer_file;
  return named ? join(dirname(checkpointPath), basename(named)) : legacyOptimizerPath(checkpointPath);
}

/** The optimizer file the checkpoint on disk refers to, if it can be read; undefined otherwise. */
function referencedOptimizer(checkpointPath: string): string | null | undefined {
  try {
    const { metadata } = decodeSafetensors(readRegularFile(checkpointPath, 'Checkpoint'), checkpointPath);
    return metadata.optimizer_file ? basename(metadata.optimizer_file) : null;
  } catch (err) {
    // No checkpoint yet: nothing refers to any optimizer file.
    return errorCode(err) === 'ENOENT' ? null : undefined;
  }
}

/**
 * Removes what killed or failed saves to `checkpointPath` left: temporary files, and optimizer files
 * the weights do not refer to (all of them when the weights are unreadable is too bold: then only
 * the temporary files go). The caller must hold the checkpoint's lock. Returns the removed paths.
 */
export function removeStaleCheckpointFiles(checkpointPath: string): string[] {
  const dir = dirname(checkpointPath);
  const removed = removeStaleTempFiles(
    dir,
    new RegExp(`${escapeRegExp(basename(checkpointPath))}|${optimizerNamePattern(checkpointPath).source}`),
  );
  const keep = referencedOptimizer(checkpointPath);
  if (keep !== undefined) removed.push(...removeUnreferencedOptimizers(checkpointPath, keep));
  return removed;
}

function removeUnreferencedOptimizers(checkpointPath: string, keep: string | null): string[] {
  const dir = dirname(checkpointPath);
  const pattern = new RegExp(`^${optimizerNamePattern(checkpointPath).source}$`);
  const removed: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(dir);
  } catch {
    return removed;
  }
  for (const name of names) {
    if (name === keep || !pattern.test(name)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // Already gone.
    }
  }
  return removed;
}

export async function saveCheckpoint(path: string, options: SaveOptions): Promise<void> {
  const { weights, metadata, optimizer } = encodeCheckpoint(path, options);
  let written: string | undefined;
  if (optimizer) {
    const previous = referencedOptimizer(path);
    await writeFileAtomic(join(dirname(path), optimizer.name), optimizer.bytes);
    if (optimizer.name !== previous) written = optimizer.name;
  }
  try {
    await writeFileAtomic(path, weights);
  } catch (err) {
    // The old weights still name the old optimizer file; the new one belongs to nothing.
    if (written) {
      try {
        unlinkSync(join(dirname(path), written));
      } catch {
        // Left for the next run's clean-up.
      }
    }
    throw err;
  }
  // Committed: the optimizer files the new weights do not name are now garbage.
  removeUnreferencedOptimizers(path, metadata.optimizer_file ?? null);
}

function readCheckpointFile(path: string, what: string, missingAdvice = ''): Uint8Array {
  try {
    return readRegularFile(path, what, missingAdvice);
  } catch (err) {
    if (err instanceof FileError) throw new CheckpointError(err.message);
    throw err;
  }
}

/**
 * Loads and verifies a checkpoint: format, model, every tensor's name, dtype and shape, the metadata and data
 * digests, and that every value is finite.
 */
export function loadCheckpoint(path: string, options: LoadOptions = {}): LoadedCheckpoint {
  const { layout, ...loaded } = decodeCheckpoint(
    readCheckpointFile(path, 'Checkpoint', options.missingAdvice),
    path,
    options,
  );
  if (options.withOptimizer) (loaded as LoadedCheckpoint).adam = loadOptimizer(path, loaded.metadata, layout);
  return loaded;
}

/** Adam's state for the checkpoint at `path`: damaged, foreign and missing files each said as such. */
function loadOptimizer(
  path: string,
  metadata: Record<string, string>,
  layout: ParameterLayout,
): { m: Float32Array; v: Float32Array } {
  const adamFile = optimizerPath(path, metadata);
  let bytes: Uint8Array;
  try {
    bytes = readRegularFile(adamFile, 'Optimizer state');
  } catch (err) {
    if (errorCode(err) === 'ENOENT') {
      throw new CheckpointError(
        `Cannot resume: optimizer state ${adamFile} is missing (it is written beside ${path}).`,
      );
    }
    throw new CheckpointError(`Cannot resume ${path}: ${(err as Error).message}`);
  }
  return decodeOptimizer(bytes, adamFile, path, metadata, layout);
}

/** The metadata of the checkpoint at `path` without verifying its data, or undefined if it cannot be read. */
export function peekMetadata(path: string): Record<string, string> | undefined {
  try {
    return decodeSafetensors(readRegularFile(path, 'Checkpoint'), path).metadata;
  } catch {
    return undefined;
  }
}
