// Dispatches shaders/maxpool2d_forward.wgsl and shaders/maxpool2d_backward.wgsl: PyTorch's MaxPool2d
// on NCHW f32 tensors, square kernel, no padding, floor mode.
import type { Gpu } from '../gpu/device.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';

export interface MaxPool2dShape {
  batch: number;
  channels: number;
  height: number;
  width: number;
  kernel: number;
  /** Default: kernel (non-overlapping windows). */
  stride?: number;
}

const WG = 64;
/** Most adjacent windows of a row that one invocation handles (forward, and backward without overlap). */
const MAX_OW_BLOCK = 4;

/** Splits `total` into the fewest blocks of at most `max`, as even as possible; returns the block size. */
function evenBlock(total: number, max: number): number {
  return Math.ceil(total / Math.ceil(total / max));
}

export function maxPool2dOutputSize(shape: MaxPool2dShape): { outH: number; outW: number } {
  const stride = shape.stride ?? shape.kernel;
  return {
    outH: Math.floor((shape.height - shape.kernel) / stride) + 1,
    outW: Math.floor((shape.width - shape.kernel) / stride) + 1,
  };
}

function shapeConstants(shape: MaxPool2dShape): Record<string, number> {
  const { batch, channels, height, width, kernel } = shape;
  const stride = shape.stride ?? kernel;
  for (const [name, value] of Object.entries({ batch, channels, height, width, kernel, stride })) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`maxpool2d: ${name} must be a positive integer, got ${value}`);
  }
  if (kernel > height || kernel > width) {
    throw new RangeError(`maxpool2d: a ${kernel}x${kernel} window does not fit a ${height}x${width} input`);
  }
  const { outH, outW } = maxPool2dOutputSize(shape);
  const OW_BLOCK = evenBlock(outW, MAX_OW_BLOCK);
  return { PLANES: batch * channels, H: height, W: width, K: kernel, S: stride, OH: outH, OW: outW, OW_BLOCK, WG };
}

function bindingBytes(arg: BufferArg): number {
  return 'buffer' in arg ? (arg.size ?? arg.buffer.size - (arg.offset ?? 0)) : arg.size;
}

/** Fails early, naming the tensor, rather than letting the kernel read or write a clamped address. */
function checkSize(what: string, arg: BufferArg, elements: number): void {
  const bytes = bindingBytes(arg);
  if (bytes < elements * 4) throw new RangeError(`maxpool2d: ${what} needs ${elements} words (${elements * 4} bytes), its binding has ${bytes}`);
}

function grid(invocations: number): [number, number] {
  const groups = ceilDiv(invocations, WG);
  if (groups > 65535 * 65535) throw new RangeError(`maxpool2d: ${groups} workgroups is more than one dispatch allows; use a smaller batch`);
  return workgroupGrid(groups);
}

/**
 * output = max over each window; argmax = flat index into input of the element chosen (ties: first in
 * row-major window order, as PyTorch). Overwrites output and argmax.
 */
export async function maxPool2dForward(
  gpu: Gpu,
  shape: MaxPool2dShape,
  input: BufferArg,
  output: BufferArg,
  argmax: BufferArg,
): Promise<Dispatch[]> {
  const constants = shapeConstants(shape);
  const inCount = constants.PLANES * constants.H * constants.W;
  const outCount = constants.PLANES * constants.OH * constants.OW;
  checkSize('input', input, inCount);
  checkSize('output', output, outCount);
  checkSize('argmax', argmax, outCount);
  const kernel = await getKernel(gpu, { shader: 'maxpool2d_forward', bindings: ['read', 'read_write', 'read_write'], constants });
  const rowBlocks = constants.PLANES * constants.OH * ceilDiv(constants.OW, constants.OW_BLOCK);
  return [{ kernel, bindGroup: kernel.bind(gpu, [input, output, argmax]), workgroups: grid(rowBlocks) }];
}

export interface MaxPool2dBackwardOptions {
  /**
   * The forward's input, when it is a ReLU's output: the ReLU's backward is then applied too (gradInput
   * zeroed where reluOutput <= 0), so the ReLU needs no pass of its own.
   */
  reluOutput?: BufferArg;
}

/**
 * gradInput = d(loss)/d(input) from gradOutput and the forward's argmax. Overwrites gradInput, with zeros
 * where no window chose an element; overlapping windows (stride < kernel) add up in a fixed order.
 */
export async function maxPool2dBackward(
  gpu: Gpu,
  shape: MaxPool2dShape,
  gradOutput: BufferArg,
  argmax: BufferArg,
  gradInput: BufferArg,
  options: MaxPool2dBackwardOptions = {},
): Promise<Dispatch[]> {
  const constants = shapeConstants(shape);
  const inCount = constants.PLANES * constants.H * constants.W;
  const outCount = constants.PLANES * constants.OH * constants.OW;
  checkSize('gradOutput', gradOutput, outCount);
  checkSize('argmax', argmax, outCount);
  checkSize('gradInput', gradInput, inCount);
  if (options.reluOutput) checkSize('reluOutput', options.reluOutput, inCount);
  const kernel = await getKernel(gpu, {
    shader: 'maxpool2d_backward',
    bindings: ['read', 'read', 'read_write', 'read'],
    constants: { ...constants, RELU_MASK: options.reluOutput ? 1 : 0 },
  });
  // Non-overlapping windows: one invocation per OW_BLOCK windows writes their tiles; overlapping: one per input.
  const rowBlocks = constants.PLANES * constants.OH * ceilDiv(constants.OW, constants.OW_BLOCK);
  const invocations = constants.S >= constants.K ? rowBlocks : inCount;
  // Without the mask the shader never reads binding 3; gradOutput fills it so that the bind group is complete.
  const bindGroup = kernel.bind(gpu, [gradOutput, argmax, gradInput, options.reluOutput ?? gradOutput]);
  return [{ kernel, bindGroup, workgroups: grid(invocations) }];
}
