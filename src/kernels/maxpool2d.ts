// Dispatches shaders/maxpool2d_forward.wgsl and shaders/maxpool2d_backward.wgsl: PyTorch's MaxPool2d
// on NCHW f32 tensors, square kernel, no padding, floor mode.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, evenBlock, maxPool2dOutputSize, type MaxPool2dShape } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid, placeholderBuffer } from './checks.ts';

export { maxPool2dOutputSize, type MaxPool2dShape };

const WG = 64;
/** Most adjacent windows of a row that one invocation handles (forward, and backward without overlap). */
const MAX_OW_BLOCK = 4;

function shapeConstants(shape: MaxPool2dShape): Record<string, number> {
  const { batch, channels, height, width, kernel } = shape;
  const stride = shape.stride ?? kernel;
  checkIntegers('maxpool2d', { batch, channels, height, width, kernel, stride });
  if (kernel > height || kernel > width) {
    throw new RangeError(`maxpool2d: a ${kernel}x${kernel} window does not fit a ${height}x${width} input`);
  }
  const { outH, outW } = maxPool2dOutputSize(shape);
  const OW_BLOCK = evenBlock(outW, MAX_OW_BLOCK);
  return { PLANES: batch * channels, H: height, W: width, K: kernel, S: stride, OH: outH, OW: outW, OW_BLOCK, WG };
}

function counts(c: Record<string, number>): { inCount: number; outCount: number } {
  return { inCount: c.PLANES * c.H * c.W, outCount: c.PLANES * c.OH * c.OW };
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
  const { inCount, outCount } = counts(constants);
  checkSize('maxpool2d', 'input', input, inCount);
  checkSize('maxpool2d', 'output', output, outCount);
  checkSize('maxpool2d', 'argmax', argmax, outCount);
  const kernel = await getKernel(gpu, {
    shader: 'maxpool2d_forward',
    bindings: ['read', 'read_write', 'read_write'],
    constants,
  });
  const rowBlocks = constants.PLANES * constants.OH * ceilDiv(constants.OW, constants.OW_BLOCK);
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [input, output, argmax]),
    workgroups: grid('maxpool2d', ceilDiv(rowBlocks, WG)),
  }];
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
  const { inCount, outCount } = counts(constants);
  checkSize('maxpool2d', 'gradOutput', gradOutput, outCount);
  checkSize('maxpool2d', 'argmax', argmax, outCount);
  checkSize('maxpool2d', 'gradInput', gradInput, inCount);
  if (options.reluOutput) checkSize('maxpool2d', 'reluOutput', options.reluOutput, inCount);
  const kernel = await getKernel(gpu, {
    shader: 'maxpool2d_backward',
    bindings: ['read', 'read', 'read_write', 'read'],
    constants: { ...constants, RELU_MASK: options.reluOutput ? 1 : 0 },
  });
  // Non-overlapping windows: one invocation per OW_BLOCK windows writes their tiles; overlapping: one per input.
  const rowBlocks = constants.PLANES * constants.OH * ceilDiv(constants.OW, constants.OW_BLOCK);
  const invocations = constants.S >= constants.K ? rowBlocks : inCount;
  const bindGroup = kernel.bind(gpu, [gradOutput, argmax, gradInput, options.reluOutput ?? placeholderBuffer(gpu)]);
  return [{ kernel, bindGroup, workgroups: grid('maxpool2d', ceilDiv(invocations, WG)) }];
}
