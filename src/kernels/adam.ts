// Dispatches shaders/adam.wgsl: torch.optim.Adam (PyTorch 1.13 semantics, amsgrad off) over one flat
// parameter buffer. Constant hyper-parameters are baked into the pipeline; the per-step scalars go
// through a small uniform buffer that the host rewrites before every step (adamUniforms).
import type { Gpu } from '../gpu/device.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';
import type { PackedMatrix } from './matmul_texture.ts';

export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
}

export const ADAM_DEFAULTS: AdamOptions = Object.freeze({ lr: 1e-3, beta1: 0.9, beta2: 0.999, eps: 1e-8, weightDecay: 0 });

/** Size of the uniform buffer adamStep reads: step_size, bias_correction2_sqrt, two unused f32. */
export const ADAM_UNIFORM_BYTES = 16;

/** Invocations per workgroup, each updating one vec4 (main) or a 4x4 block (main_packed). */
const WG = 256;
const PACKED_WG = 64;

function checkOptions(options: Partial<AdamOptions>): void {
  const { lr, beta1, beta2, eps, weightDecay } = options;
  if (lr !== undefined && !(Number.isFinite(lr) && lr >= 0)) throw new RangeError(`Adam: lr must be a finite number >= 0, got ${lr}`);
  for (const [name, beta] of [['beta1', beta1], ['beta2', beta2]] as const) {
    if (!(beta !== undefined && beta >= 0 && beta < 1)) throw new RangeError(`Adam: ${name} must be in [0, 1), got ${beta}`);
  }
  if (!(eps !== undefined && Number.isFinite(eps) && eps >= 0)) throw new RangeError(`Adam: eps must be a finite number >= 0, got ${eps}`);
  if (!(weightDecay !== undefined && Number.isFinite(weightDecay) && weightDecay >= 0)) {
    throw new RangeError(`Adam: weightDecay must be a finite number >= 0, got ${weightDecay}`);
  }
}

/**
 * The uniform block for optimizer step `step` (1-based, Adam's t): the bias corrections computed in
 * float64 as PyTorch does, then stored as f32. Write it to the uniform buffer before each step.
 */
export function adamUniforms(options: AdamOptions, step: number): ArrayBuffer {
  checkOptions(options);
  if (!Number.isInteger(step) || step < 1) throw new RangeError(`Adam: step must be an integer >= 1 (1-based), got ${step}`);
  const stepSize = options.lr / (1 - options.beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - options.beta2 ** step);
  return new Float32Array([stepSize, biasCorrection2Sqrt, 0, 0]).buffer;
}

function bindingBytes(arg: BufferArg): number {
  return 'buffer' in arg ? (arg.size ?? arg.buffer.size - (arg.offset ?? 0)) : arg.size;
}

/**
 * One Adam step over `count` parameters, in place on param, m and v (grad is read). `count` must be a
 * multiple of 4 (the kernel moves vec4s; pad the flat buffers, as the model's 256-byte layout does).
 */
export async function adamStep(
  gpu: Gpu,
  count: number,
  options: Pick<AdamOptions, 'beta1' | 'beta2' | 'eps' | 'weightDecay'>,
  uniforms: BufferArg,
  param: BufferArg,
  grad: BufferArg,
  m: BufferArg,
  v: BufferArg,
): Promise<Dispatch[]> {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`Adam: count must be a positive integer, got ${count}`);
  if (count % 4 !== 0) throw new RangeError(`Adam: count must be a multiple of 4 (vec4 kernel), got ${count}; pad the parameter buffers`);
  checkOptions(options);
  if (bindingBytes(uniforms) < ADAM_UNIFORM_BYTES) {
    throw new RangeError(`Adam: uniforms needs ${ADAM_UNIFORM_BYTES} bytes, its binding has ${bindingBytes(uniforms)}`);
  }
  for (const [name, arg] of Object.entries({ param, grad, m, v })) {
    const bytes = bindingBytes(arg);
    if (bytes < count * 4) throw new RangeError(`Adam: ${name} needs ${count} f32 (${count * 4} bytes), its binding has ${bytes}`);
  }
  const kernel = await getKernel(gpu, {
    shader: 'adam',
    bindings: ['uniform', 'read_write', 'read', 'read_write', 'read_write'],
    constants: { COUNT: count, ...hyperParameters(options), WG },
  });
  return [{ kernel, bindGroup: kernel.bind(gpu, [uniforms, param, grad, m, v]), workgroups: workgroupGrid(ceilDiv(count / 4, WG)) }];
}

function hyperParameters(options: Pick<AdamOptions, 'beta1' | 'beta2' | 'eps' | 'weightDecay'>): Record<string, number> {
  return {
    BETA1: options.beta1,
    BETA2: options.beta2,
    ONE_MINUS_BETA1: 1 - options.beta1,
    ONE_MINUS_BETA2: 1 - options.beta2,
    EPS: options.eps,
    WEIGHT_DECAY: options.weightDecay,
  };
}

/** Textures a weight matrix [rows, cols] is kept packed in, as it is and transposed (see adamStepPacked). */
export interface PackedWeight {
  weight: PackedMatrix;
  weightT: PackedMatrix;
}

/**
 * adamStep over a weight matrix [rows, cols] (both multiples of 4), which also writes the updated
 * weights packed into `packed.weight` (rows of cols) and `packed.weightT` (rows of rows: the transpose),
 * as packMatrix would. Bit for bit what adamStep computes. One dispatch.
 */
export async function adamStepPacked(
  gpu: Gpu,
  shape: { rows: number; cols: number },
  options: Pick<AdamOptions, 'beta1' | 'beta2' | 'eps' | 'weightDecay'>,
  uniforms: BufferArg,
  param: BufferArg,
  grad: BufferArg,
  m: BufferArg,
  v: BufferArg,
  packed: PackedWeight,
): Promise<Dispatch> {
  const { rows, cols } = shape;
  for (const [name, value] of Object.entries({ rows, cols })) {
    if (!Number.isInteger(value) || value < 4 || value % 4 !== 0) throw new RangeError(`Adam: ${name} must be a multiple of 4, got ${value}`);
  }
  checkOptions(options);
  for (const [name, arg] of Object.entries({ param, grad, m, v })) {
    const bytes = bindingBytes(arg);
    if (bytes < rows * cols * 4) throw new RangeError(`Adam: ${name} needs ${rows * cols} f32, its binding has ${bytes} bytes`);
  }
  for (const [texture, r, k] of [[packed.weight, rows, cols], [packed.weightT, cols, rows]] as const) {
    if (texture.rows < r || texture.k !== k || texture.pageRows < texture.rows) {
      throw new RangeError(`Adam: "${texture.texture.label}" must hold ${r} unpaged rows of ${k}`);
    }
  }
  const kernel = await getKernel(gpu, {
    shader: 'adam',
    entryPoint: 'main_packed',
    bindings: ['uniform', 'read_write', 'read', 'read_write', 'read_write', 'rgba32float_write', 'rgba32float_write'],
    constants: { COUNT: rows * cols, ROWS: rows, COLS: cols, ...hyperParameters(options), WG: PACKED_WG },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [uniforms, param, grad, m, v, packed.weight.view, packed.weightT.view]),
    workgroups: workgroupGrid(ceilDiv(rows * cols / 16, PACKED_WG)),
  };
}
