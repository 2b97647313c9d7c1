// Dispatches shaders/adam.wgsl: torch.optim.Adam (PyTorch 1.13 semantics, amsgrad off) over one flat
// parameter buffer. Constant hyper-parameters are baked into the pipeline; the per-step scalars go
// through a small uniform buffer that the host rewrites before every step (adamUniforms).
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { type AdamOptions, ceilDiv } from '../util/shapes.ts';
import { bindingBytes, checkIntegers, checkSize, grid } from './checks.ts';

export type { AdamOptions };

export const ADAM_DEFAULTS: AdamOptions = Object.freeze({
  lr: 1e-3,
  beta1: 0.9,
  beta2: 0.999,
  eps: 1e-8,
  weightDecay: 0,
});

/** Size of the uniform buffer adamStep reads: step_size, bias_correction2_sqrt, two unused f32. */
export const ADAM_UNIFORM_BYTES = 16;

/** Invocations per workgroup, each updating one vec4. */
const WG = 256;

function checkOptions(options: Partial<AdamOptions>): void {
  const { lr, beta1, beta2, eps, weightDecay } = options;
  if (lr !== undefined && !(Number.isFinite(lr) && lr >= 0)) {
    throw new RangeError(`Adam: lr must be a finite number >= 0, got ${lr}`);
  }
  for (const [name, beta] of [['beta1', beta1], ['beta2', beta2]] as const) {
    if (!(beta !== undefined && beta >= 0 && beta < 1)) {
      throw new RangeError(`Adam: ${name} must be in [0, 1), got ${beta}`);
    }
  }
  if (!(eps !== undefined && Number.isFinite(eps) && eps >= 0)) {
    throw new RangeError(`Adam: eps must be a finite number >= 0, got ${eps}`);
  }
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
  if (!Number.isInteger(step) || step < 1) {
    throw new RangeError(`Adam: step must be an integer >= 1 (1-based), got ${step}`);
  }
  const stepSize = options.lr / (1 - options.beta1 ** step);
  const biasCorrection2Sqrt = Math.sqrt(1 - options.beta2 ** step);
  // AdamW's decoupled decay factor (read only by the DECOUPLED specialization).
  const decay = options.decoupled ? 1 - options.lr * options.weightDecay : 0;
  return new Float32Array([stepSize, biasCorrection2Sqrt, decay, 0]).buffer;
}

/**
 * One Adam step over `count` parameters, in place on param, m and v (grad is read). `count` must be a
 * multiple of 4 (the kernel moves vec4s; pad the flat buffers, as the model's 256-byte layout does).
 */
export async function adamStep(
  gpu: Gpu,
  count: number,
  options: Pick<AdamOptions, 'beta1' | 'beta2' | 'eps' | 'weightDecay' | 'decoupled'>,
  uniforms: BufferArg,
  param: BufferArg,
  grad: BufferArg,
  m: BufferArg,
  v: BufferArg,
): Promise<Dispatch[]> {
  checkIntegers('Adam', { count });
  if (count % 4 !== 0) {
    throw new RangeError(`Adam: count must be a multiple of 4 (vec4 kernel), got ${count}; pad the parameter buffers`);
  }
  checkOptions(options);
  if (bindingBytes(uniforms) < ADAM_UNIFORM_BYTES) {
    throw new RangeError(`Adam: uniforms needs ${ADAM_UNIFORM_BYTES} bytes, its binding has ${bindingBytes(uniforms)}`);
  }
  for (const [name, arg] of Object.entries({ param, grad, m, v })) checkSize('Adam', name, arg, count);
  const kernel = await getKernel(gpu, {
    shader: 'adam',
    bindings: ['uniform', 'read_write', 'read', 'read_write', 'read_write'],
    constants: {
      COUNT: count,
      BETA1: options.beta1,
      BETA2: options.beta2,
      ONE_MINUS_BETA1: 1 - options.beta1,
      ONE_MINUS_BETA2: 1 - options.beta2,
      EPS: options.eps,
      WEIGHT_DECAY: options.weightDecay,
      ...(options.decoupled ? { DECOUPLED: 1 } : {}),
      WG,
    },
  });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [uniforms, param, grad, m, v]),
    workgroups: grid('Adam', ceilDiv(count / 4, WG)),
  }];
}
