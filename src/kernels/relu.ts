// Dispatches shaders/relu_forward.wgsl and shaders/relu_backward.wgsl over flat f32 tensors.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid } from './checks.ts';

/** Elements per invocation and invocations per workgroup; measured best on lavapipe. */
const PER = 8;
const WG = 64;

function check(what: string, count: number, buffers: Record<string, BufferArg>): void {
  checkIntegers(what, { count });
  for (const [name, arg] of Object.entries(buffers)) checkSize(what, name, arg, count);
}

async function elementwise(gpu: Gpu, shader: string, count: number, a: BufferArg, b: BufferArg): Promise<Dispatch[]> {
  const kernel = await getKernel(gpu, {
    shader,
    bindings: ['read', 'read_write'],
    constants: { COUNT: count, PER, WG },
  });
  return [{ kernel, bindGroup: kernel.bind(gpu, [a, b]), workgroups: grid(shader, ceilDiv(count, PER * WG)) }];
}

/** output = max(input, 0) over `count` elements. `input` and `output` must not overlap. */
export async function reluForward(gpu: Gpu, count: number, input: BufferArg, output: BufferArg): Promise<Dispatch[]> {
  check('reluForward', count, { input, output });
  return elementwise(gpu, 'relu_forward', count, input, output);
}

/** In place: grad = 0 where the forward output is <= 0, unchanged elsewhere. */
export async function reluBackward(gpu: Gpu, count: number, output: BufferArg, grad: BufferArg): Promise<Dispatch[]> {
  check('reluBackward', count, { output, grad });
  return elementwise(gpu, 'relu_backward', count, output, grad);
}
