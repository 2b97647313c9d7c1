// Checkpoints in and out of the page, as the CLI reads and writes them: "Download" saves the safetensors
// bytes of src/train/checkpoint-format.ts (weights, and the optimizer file they name, for `train --resume`);
// "Open" takes one of our checkpoints or a PyTorch state_dict (the `import` command's path,
// src/io/state-dict.ts) and says in one sentence what is wrong with any other file.
import { CheckpointFormatError, decodeSafetensors } from '../src/io/safetensors.ts';
import { importStateDict, StateDictError } from '../src/io/state-dict.ts';
import type { ModelSpec } from '../src/nn/spec.ts';
import { CHECKPOINT_FORMAT, CheckpointError, decodeCheckpoint } from '../src/train/checkpoint-format.ts';

/** Saves `bytes` as a file named `name` through the browser's download. */
export function download(bytes: Uint8Array, name: string): void {
  const url = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type: 'application/octet-stream' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = name;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

export interface OpenedModel {
  spec: ModelSpec;
  params: Float32Array;
  /** The checkpoint's metadata ({} for a state_dict). */
  metadata: Record<string, string>;
  /** How it was read, for the page: "checkpoint" or "PyTorch state_dict". */
  kind: 'checkpoint' | 'state_dict';
}

/** A file "Open" cannot use: `message` is the page's sentence. */
export class OpenError extends Error {
  override name = 'OpenError';
}

/**
 * Reads `bytes` (the file `name`): a checkpoint of ours as `eval` loads it, else a state_dict of
 * `stateDictModel` as `import --model` reads it.
 */
export function openModelFile(bytes: Uint8Array, name: string, stateDictModel: ModelSpec): OpenedModel {
  let metadata: Record<string, string>;
  try {
    metadata = decodeSafetensors(bytes, name).metadata;
  } catch (err) {
    if (!(err instanceof CheckpointFormatError)) throw err;
    throw new OpenError(
      `${name} is not a safetensors file (${err.problem}): open a checkpoint written by train or this page, ` +
        'or a PyTorch state_dict saved with safetensors.torch.save_file.',
    );
  }
  if (metadata.format === CHECKPOINT_FORMAT || metadata.kind === 'optimizer') {
    try {
      const { spec, params } = (({ model, params }) => ({ spec: model, params }))(decodeCheckpoint(bytes, name));
      return { spec, params, metadata, kind: 'checkpoint' };
    } catch (err) {
      if (err instanceof CheckpointError) throw new OpenError(err.message);
      throw err;
    }
  }
  try {
    return {
      spec: stateDictModel,
      params: importStateDict(bytes, stateDictModel, name).params,
      metadata: {},
      kind: 'state_dict',
    };
  } catch (err) {
    if (!(err instanceof StateDictError)) throw err;
    throw new OpenError(
      `${name} is neither a checkpoint of this tool nor a state_dict of the model "${stateDictModel.name}" ` +
        `(${err.problems[0]}${err.problems.length > 1 ? `, and ${err.problems.length - 1} more` : ''}); ` +
        'choose its model above, or open a checkpoint written by train.',
    );
  }
}
