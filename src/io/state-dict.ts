// Imports a PyTorch state_dict saved with `safetensors.torch.save_file(model.state_dict(), path)`:
// tensors named as the model's parameters (`conv1.weight`, ...), no metadata of ours. Every name,
// shape and dtype is checked against the model, and every mismatch is listed, each on its own line.
import { CheckpointFormatError, decodeSafetensors } from './safetensors.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { type ModelSpec, parameterSpecs } from '../nn/spec.ts';

/** A state_dict that does not fit the model; `problems` has one line per mismatch. */
export class StateDictError extends Error {
  override name = 'StateDictError';
  constructor(readonly source: string, readonly problems: readonly string[], advice: string) {
    super(`${source} does not fit the model:\n  ${problems.join('\n  ')}\n${advice}`);
  }
}

export interface ImportedStateDict {
  /** The parameters, flat in the model's ParameterLayout. */
  params: Float32Array;
  /** The file's own __metadata__, if any. */
  metadata: Record<string, string>;
}

/** Names PyTorch adds around a model's own: DataParallel's `module.`, torch.compile's `_orig_mod.`. */
const WRAPPER_PREFIXES = ['module.', '_orig_mod.'];

/**
 * Reads safetensors bytes holding a state_dict of `model` and returns its parameters. Tensors must be
 * F32 with exactly the model's names and shapes; anything else is a StateDictError listing each
 * missing, extra, mistyped or misshapen tensor, and NaN or Infinity is refused.
 */
export function importStateDict(bytes: Uint8Array, model: ModelSpec, source = '<state_dict>'): ImportedStateDict {
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, source);
  } catch (err) {
    if (err instanceof CheckpointFormatError) {
      throw new StateDictError(
        source,
        [`not a safetensors file: ${err.problem}`],
        'Write it with safetensors.torch.save_file(model.state_dict(), path) (a torch.save .pt file is a pickle, not safetensors).',
      );
    }
    throw err;
  }
  const { tensors, metadata } = decoded;
  const layout = new ParameterLayout(parameterSpecs(model));
  const problems: string[] = [];
  const named = new Map<string, Float32Array>();
  for (const slot of layout.slots) {
    const tensor = tensors.get(slot.name);
    const wanted = `[${slot.shape.join(', ')}] F32`;
    if (!tensor) {
      const wrapped = WRAPPER_PREFIXES.map((p) => p + slot.name).find((n) => tensors.has(n));
      problems.push(
        `missing "${slot.name}" (${wanted})${
          wrapped ? `; the file has "${wrapped}": strip the prefix before saving` : ''
        }`,
      );
      continue;
    }
    const shapeOk = tensor.shape.length === slot.shape.length && tensor.shape.every((d, i) => d === slot.shape[i]);
    // BatchNorm's step counter is an int64 buffer in PyTorch; ours keeps it as a float.
    if (slot.name.endsWith('.num_batches_tracked') && tensor.dtype === 'I64' && shapeOk) {
      named.set(slot.name, Float32Array.from(tensor.data as BigInt64Array, Number));
      continue;
    }
    if (tensor.dtype !== 'F32') {
      problems.push(
        `"${slot.name}" is ${tensor.dtype}, expected F32${
          tensor.dtype === 'F16' || tensor.dtype === 'BF16' || tensor.dtype === 'F64'
            ? ' (save model.float().state_dict())'
            : ''
        }`,
      );
    }
    if (!shapeOk) {
      problems.push(`"${slot.name}" has shape [${tensor.shape.join(', ')}], expected [${slot.shape.join(', ')}]`);
    }
    if (tensor.dtype === 'F32' && shapeOk) {
      const data = tensor.data as Float32Array;
      const bad = data.findIndex((x) => !Number.isFinite(x));
      if (bad >= 0) problems.push(`"${slot.name}" holds ${data[bad]} at element ${bad}: the model diverged`);
      named.set(slot.name, data);
    }
  }
  const expected = new Set(layout.slots.map((s) => s.name));
  for (const [name, tensor] of tensors) {
    if (expected.has(name)) continue;
    problems.push(
      `unexpected "${name}" [${tensor.shape.join(', ')}] ${tensor.dtype}: ${model.name} has no such parameter`,
    );
  }
  if (problems.length) {
    throw new StateDictError(
      source,
      problems,
      `${model.name} expects: ${layout.slots.map((s) => `${s.name} [${s.shape.join(', ')}]`).join(', ')}.`,
    );
  }
  return { params: layout.join(named, source), metadata };
}
