// Dispatches shaders/dropout_forward.wgsl and dropout_backward.wgsl. The seed and step come from a
// small uniform buffer the trainer rewrites before every step (rngUniforms), so one recording serves
// every step and each step draws a new mask.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { dropoutKeepThreshold, dropoutScale } from '../reference/dropout.ts';
import { ceilDiv } from '../util/shapes.ts';
import { bindingBytes, checkIntegers, checkSize, grid } from './checks.ts';

const WG = 64;

/** Bytes of the uniform block: seed, step, two unused u32. */
export const RNG_UNIFORM_BYTES = 16;

/** The uniform block for (seed, step). */
export function rngUniforms(seed: number, step: number): Uint32Array {
  return new Uint32Array([seed >>> 0, step >>> 0, 0, 0]);
}

export async function dropoutForward(
  gpu: Gpu,
  count: number,
  options: { p: number; salt: number },
  rng: BufferArg,
  input: BufferArg,
  output: BufferArg,
  mask: BufferArg,
): Promise<Dispatch[]> {
  checkIntegers('dropoutForward', { count });
  checkIntegers('dropoutForward', { salt: options.salt }, 0, 0xffffffff);
  if (!(options.p >= 0 && options.p < 1)) throw new RangeError(`dropoutForward: p must be in [0, 1), got ${options.p}`);
  if (bindingBytes(rng) < RNG_UNIFORM_BYTES) {
    throw new RangeError(`dropoutForward: rng needs ${RNG_UNIFORM_BYTES} bytes`);
  }
  for (const [name, arg] of Object.entries({ input, output, mask })) checkSize('dropoutForward', name, arg, count);
  const kernel = await getKernel(gpu, {
    shader: 'dropout_forward',
    bindings: ['uniform', 'read', 'read_write', 'read_write'],
    constants: {
      COUNT: count,
      KEEP_THRESHOLD: dropoutKeepThreshold(options.p),
      SCALE: dropoutScale(options.p),
      SALT: options.salt,
      WG,
    },
  });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [rng, input, output, mask]),
    workgroups: grid('dropoutForward', ceilDiv(count, WG)),
  }];
}

export async function dropoutBackward(
  gpu: Gpu,
  count: number,
  gradOutput: BufferArg,
  mask: BufferArg,
  gradInput: BufferArg,
): Promise<Dispatch[]> {
  checkIntegers('dropoutBackward', { count });
  for (const [name, arg] of Object.entries({ gradOutput, mask, gradInput })) {
    checkSize('dropoutBackward', name, arg, count);
  }
  const kernel = await getKernel(gpu, {
    shader: 'dropout_backward',
    bindings: ['read', 'read', 'read_write'],
    constants: { COUNT: count, WG },
  });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [gradOutput, mask, gradInput]),
    workgroups: grid('dropoutBackward', ceilDiv(count, WG)),
  }];
}
