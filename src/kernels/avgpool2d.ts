// Dispatches shaders/avgpool2d_forward.wgsl and avgpool2d_backward.wgsl.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { avgPool2dOutputSize, type AvgPool2dShape, ceilDiv } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid } from './checks.ts';

const WG = 64;

function constants(what: string, shape: AvgPool2dShape) {
  const { batch, channels, height, width, kernel, stride } = shape;
  checkIntegers(what, { batch, channels, height, width, kernel, stride });
  const { outH, outW } = avgPool2dOutputSize(shape);
  if (outH < 1 || outW < 1) {
    throw new RangeError(`${what}: a ${kernel}x${kernel} window does not fit a ${height}x${width} input`);
  }
  return {
    PLANES: batch * channels,
    HEIGHT: height,
    WIDTH: width,
    OUT_H: outH,
    OUT_W: outW,
    KERNEL: kernel,
    STRIDE: stride,
    WG,
  };
}

export async function avgPool2dForward(
  gpu: Gpu,
  shape: AvgPool2dShape,
  input: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  const c = constants('avgPool2dForward', shape);
  const outCount = c.PLANES * c.OUT_H * c.OUT_W;
  checkSize('avgPool2dForward', 'input', input, c.PLANES * c.HEIGHT * c.WIDTH);
  checkSize('avgPool2dForward', 'output', output, outCount);
  const kernel = await getKernel(gpu, { shader: 'avgpool2d_forward', bindings: ['read', 'read_write'], constants: c });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [input, output]),
    workgroups: grid('avgPool2dForward', ceilDiv(outCount, WG)),
  }];
}

export async function avgPool2dBackward(
  gpu: Gpu,
  shape: AvgPool2dShape,
  gradOutput: BufferArg,
  gradInput: BufferArg,
): Promise<Dispatch[]> {
  const c = constants('avgPool2dBackward', shape);
  const inCount = c.PLANES * c.HEIGHT * c.WIDTH;
  checkSize('avgPool2dBackward', 'gradOutput', gradOutput, c.PLANES * c.OUT_H * c.OUT_W);
  checkSize('avgPool2dBackward', 'gradInput', gradInput, inCount);
  const kernel = await getKernel(gpu, { shader: 'avgpool2d_backward', bindings: ['read', 'read_write'], constants: c });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [gradOutput, gradInput]),
    workgroups: grid('avgPool2dBackward', ceilDiv(inCount, WG)),
  }];
}
