// Dispatches shaders/relu_forward.wgsl and shaders/relu_backward.wgsl over flat f32 tensors.
import type { Gpu } from '../gpu/device.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';

/** Elements per invocation and invocations per workgroup; measured best on lavapipe. */
const PER = 8;
const WG = 64;

function bindingBytes(arg: BufferArg): number {
  return 'buffer' in arg ? (arg.size ?? arg.buffer.size - (arg.offset ?? 0)) : arg.size;
}

function check(what: string, count: number, buffers: Record<string, BufferArg>): void {
  if (!Number.isInteger(count) || count < 1) throw new RangeError(`${what}: count must be a positive integer, got ${count}`);
  for (const [name, arg] of Object.entries(buffers)) {
    const bytes = bindingBytes(arg);
    if (bytes < count * 4) throw new RangeError(`${what}: ${name} needs ${count} f32 (${count * 4} bytes), its binding has ${bytes}`);
  }
}

async function elementwise(gpu: Gpu, shader: string, count: number, a: BufferArg, b: BufferArg): Promise<Dispatch[]> {
  const kernel = await getKernel(gpu, { shader, bindings: ['read', 'read_write'], constants: { COUNT: count, PER, WG } });
  return [{ kernel, bindGroup: kernel.bind(gpu, [a, b]), workgroups: workgroupGrid(ceilDiv(count, PER * WG)) }];
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
