// Dispatches shaders/activation_forward.wgsl and shaders/activation_backward.wgsl over flat f32
// tensors: the smooth activations (GELU, SiLU, leaky ReLU, tanh, sigmoid) as one kernel family.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid } from './checks.ts';

/** The functions, numbered as the shaders' FUNCTION constant. */
export const ACTIVATIONS = ['gelu', 'silu', 'leakyrelu', 'tanh', 'sigmoid'] as const;
export type Activation = typeof ACTIVATIONS[number];

export interface ActivationOptions {
  fn: Activation;
  /** Leaky ReLU's negative slope (PyTorch's default 0.01). */
  slope?: number;
}

/** Elements per invocation and invocations per workgroup, as relu.ts. */
const PER = 8;
const WG = 64;

function constants(count: number, options: ActivationOptions): Record<string, number> {
  const slope = options.slope ?? 0.01;
  if (!Number.isFinite(slope)) throw new RangeError(`activation: slope must be finite, got ${slope}`);
  return { COUNT: count, FUNCTION: ACTIVATIONS.indexOf(options.fn), SLOPE: slope, PER, WG };
}

/** output = f(input) over `count` elements; `input` and `output` must not overlap. */
export async function activationForward(
  gpu: Gpu,
  count: number,
  options: ActivationOptions,
  input: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  checkIntegers('activationForward', { count });
  for (const [name, arg] of Object.entries({ input, output })) checkSize('activationForward', name, arg, count);
  const shader = 'activation_forward';
  const kernel = await getKernel(gpu, {
    shader,
    bindings: ['read', 'read_write'],
    constants: constants(count, options),
  });
  return [{ kernel, bindGroup: kernel.bind(gpu, [input, output]), workgroups: grid(shader, ceilDiv(count, PER * WG)) }];
}

/** gradInput = gradOutput · f'(input), from the forward's input. */
export async function activationBackward(
  gpu: Gpu,
  count: number,
  options: ActivationOptions,
  input: BufferArg,
  gradOutput: BufferArg,
  gradInput: BufferArg,
): Promise<Dispatch[]> {
  checkIntegers('activationBackward', { count });
  for (const [name, arg] of Object.entries({ input, gradOutput, gradInput })) {
    checkSize('activationBackward', name, arg, count);
  }
  const shader = 'activation_backward';
  const kernel = await getKernel(gpu, {
    shader,
    bindings: ['read', 'read', 'read_write'],
    constants: constants(count, options),
  });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [input, gradOutput, gradInput]),
    workgroups: grid(shader, ceilDiv(count, PER * WG)),
  }];
}
