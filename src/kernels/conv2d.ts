// Dispatches the buffer conv2d kernels (shaders/conv2d_forward.wgsl, conv2d_backward_input.wgsl,
// conv2d_backward_weight{,_reduce}.wgsl): NCHW f32 tensors, weights [outC, inC, kH, kW], bias [outC],
// stride and zero padding (PyTorch's Conv2d). Their register blocks are chosen in conv2d_tiles.ts.
import type { Gpu } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, conv2dOutputSize, type Conv2dShape } from '../util/shapes.ts';
import { checkIntegers, checkSize, checkWorkgroup, grid } from './checks.ts';
import {
  type Conv2dBackwardInputTiles,
  type Conv2dBackwardWeightTiles,
  type Conv2dForwardTiles,
  defaultBackwardInputTiles,
  defaultBackwardWeightTiles,
  defaultForwardTiles,
  MAX_CHANNEL_BLOCK,
  MAX_COLUMNS,
  MAX_SEGMENT,
  MAX_TAPS,
} from './conv2d_tiles.ts';

export { conv2dOutputSize, type Conv2dShape };
export type { Conv2dBackwardInputTiles, Conv2dBackwardWeightTiles, Conv2dForwardTiles };

/** A conv2d shape with defaults filled in and output size computed, in the shaders' constant names. */
export interface ResolvedConv2d {
  N: number;
  C: number;
  H: number;
  W: number;
  O: number;
  KH: number;
  KW: number;
  S: number;
  P: number;
  OH: number;
  OW: number;
}

/** Validates `shape` (positive sizes, a kernel that fits) and resolves it. */
export function resolveConv2dShape(shape: Conv2dShape): ResolvedConv2d {
  const { batch, inChannels, height, width, outChannels, kernelH, kernelW } = shape;
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  checkIntegers('conv2d', { batch, inChannels, height, width, outChannels, kernelH, kernelW, stride });
  checkIntegers('conv2d', { padding }, 0);
  const { outH, outW } = conv2dOutputSize(shape);
  if (outH < 1 || outW < 1) {
    throw new RangeError(
      `conv2d: a ${kernelH}x${kernelW} kernel does not fit a ${height}x${width} input with padding ${padding}`,
    );
  }
  return {
    N: batch,
    C: inChannels,
    H: height,
    W: width,
    O: outChannels,
    KH: kernelH,
    KW: kernelW,
    S: stride,
    P: padding,
    OH: outH,
    OW: outW,
  };
}

/** The bindings of a forward (buffer or texture kernel) hold the tensors of `s`. */
export function checkForwardBindings(
  s: ResolvedConv2d,
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): void {
  checkSize('conv2d', 'input', input, s.N * s.C * s.H * s.W);
  checkSize('conv2d', 'weight', weight, s.O * s.C * s.KH * s.KW);
  checkSize('conv2d', 'bias', bias, s.O);
  checkSize('conv2d', 'output', output, s.N * s.O * s.OH * s.OW);
}

function shapeConstants(s: ResolvedConv2d): Record<string, number> {
  return { N: s.N, C: s.C, H: s.H, W: s.W, O: s.O, KH: s.KH, KW: s.KW, S: s.S, P: s.P, OH: s.OH, OW: s.OW };
}

function checkOutputBlock(what: string, tiles: { channelBlock: number; columns: number }, segment: number): void {
  checkIntegers('conv2d', { [`${what} channelBlock`]: tiles.channelBlock }, 1, MAX_CHANNEL_BLOCK);
  checkIntegers('conv2d', { [`${what} columns`]: tiles.columns }, 1, MAX_COLUMNS);
  if (segment > MAX_SEGMENT) {
    throw new RangeError(
      `conv2d: ${what} needs row segments of ${segment} values, more than ${MAX_SEGMENT}; use fewer columns`,
    );
  }
}

/** output = conv(input, weight) + bias, then ReLU when options.relu. Overwrites output. */
export async function conv2dForward(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { relu?: boolean; tiles?: Partial<Conv2dForwardTiles> },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  const tiles = { ...defaultForwardTiles(shape), ...options.tiles };
  checkOutputBlock('forward', tiles, (tiles.columns - 1) * s.S + s.KW);
  checkWorkgroup(gpu, 'conv2d', 'forward workgroup', tiles.workgroup);
  checkForwardBindings(s, input, weight, bias, output);

  const blocksPerChannelBlock = s.N * s.OH * ceilDiv(s.OW, tiles.columns);
  const groupsPerBlock = ceilDiv(blocksPerChannelBlock, tiles.workgroup);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_forward',
    bindings: ['read', 'read', 'read', 'read_write'],
    constants: {
      ...shapeConstants(s),
      RELU: options.relu ? 1 : 0,
      OC_BLOCK: tiles.channelBlock,
      COLS: tiles.columns,
      WG: tiles.workgroup,
      GROUPS_PER_BLOCK: groupsPerBlock,
    },
  });
  const groups = ceilDiv(s.O, tiles.channelBlock) * groupsPerBlock;
  return [{ kernel, bindGroup: kernel.bind(gpu, [input, weight, bias, output]), workgroups: grid('conv2d', groups) }];
}

/** gradInput = d(loss)/d(input) from gradOutput = d(loss)/d(pre-activation output). Overwrites gradInput. */
export async function conv2dBackwardInput(
  gpu: Gpu,
  shape: Conv2dShape,
  gradOutput: BufferArg,
  weight: BufferArg,
  gradInput: BufferArg,
  tileOverrides: Partial<Conv2dBackwardInputTiles> = {},
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  const tiles = { ...defaultBackwardInputTiles(shape), ...tileOverrides };
  checkOutputBlock('backward-input', tiles, tiles.columns - 1 + s.KW);
  checkWorkgroup(gpu, 'conv2d', 'backward-input workgroup', tiles.workgroup);
  checkSize('conv2d', 'gradOutput', gradOutput, s.N * s.O * s.OH * s.OW);
  checkSize('conv2d', 'weight', weight, s.O * s.C * s.KH * s.KW);
  checkSize('conv2d', 'gradInput', gradInput, s.N * s.C * s.H * s.W);

  const blocksPerChannelBlock = s.N * s.H * ceilDiv(s.W, tiles.columns);
  const groupsPerBlock = ceilDiv(blocksPerChannelBlock, tiles.workgroup);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_backward_input',
    bindings: ['read', 'read', 'read_write'],
    constants: {
      ...shapeConstants(s),
      IC_BLOCK: tiles.channelBlock,
      COLS: tiles.columns,
      WG: tiles.workgroup,
      GROUPS_PER_BLOCK: groupsPerBlock,
    },
  });
  const groups = ceilDiv(s.C, tiles.channelBlock) * groupsPerBlock;
  return [{ kernel, bindGroup: kernel.bind(gpu, [gradOutput, weight, gradInput]), workgroups: grid('conv2d', groups) }];
}

// Scratch space for the partial sums, one per device, grown on demand. Dispatches run in queue order,
// so every conv layer can reuse it; bind groups made earlier keep their (smaller) buffer alive.
const partialBuffers = new WeakMap<GPUDevice, GPUBuffer>();

export function weightGradientPartials(gpu: Gpu, elements: number): GPUBuffer {
  const existing = partialBuffers.get(gpu.device);
  if (existing && existing.size >= elements * 4) return existing;
  const buffer = createStorageBuffer(gpu, 'conv2d weight-gradient partial sums', elements * 4);
  partialBuffers.set(gpu.device, buffer);
  return buffer;
}

/**
 * gradWeight, gradBias = d(loss)/d(weight), d(loss)/d(bias) from gradOutput = d(loss)/d(pre-activation
 * output). Overwrites both. Two dispatches: partial sums over chunks of rows, then their sum in chunk order.
 */
export async function conv2dBackwardWeight(
  gpu: Gpu,
  shape: Conv2dShape,
  input: BufferArg,
  gradOutput: BufferArg,
  gradWeight: BufferArg,
  gradBias: BufferArg,
  tileOverrides: Partial<Conv2dBackwardWeightTiles> = {},
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  const tiles = { ...defaultBackwardWeightTiles(shape), ...tileOverrides };
  checkIntegers('conv2d', { 'backward-weight channelBlock': tiles.channelBlock }, 1, MAX_CHANNEL_BLOCK);
  checkIntegers(
    'conv2d',
    {
      'backward-weight kernelRowBlock': tiles.kernelRowBlock,
      'backward-weight kernelColumnBlock': tiles.kernelColumnBlock,
    },
    1,
    MAX_TAPS,
  );
  const taps = tiles.kernelRowBlock * tiles.kernelColumnBlock;
  if (taps > MAX_TAPS) {
    throw new RangeError(`conv2d: backward-weight block holds ${taps} kernel taps, more than ${MAX_TAPS}`);
  }
  checkIntegers('conv2d', { 'backward-weight rowsPerChunk': tiles.rowsPerChunk });
  checkWorkgroup(gpu, 'conv2d', 'backward-weight workgroup', tiles.workgroup);
  checkWorkgroup(gpu, 'conv2d', 'backward-weight reduceWorkgroup', tiles.reduceWorkgroup);
  checkSize('conv2d', 'input', input, s.N * s.C * s.H * s.W);
  checkSize('conv2d', 'gradOutput', gradOutput, s.N * s.O * s.OH * s.OW);
  checkSize('conv2d', 'gradWeight', gradWeight, s.O * s.C * s.KH * s.KW);
  checkSize('conv2d', 'gradBias', gradBias, s.O);

  const weights = s.O * s.C * s.KH * s.KW;
  const chunks = ceilDiv(s.N * s.OH, tiles.rowsPerChunk);
  const partial = weightGradientPartials(gpu, chunks * (weights + s.O));
  const invocations = chunks * ceilDiv(s.O, tiles.channelBlock) * s.C * ceilDiv(s.KH, tiles.kernelRowBlock) *
    ceilDiv(s.KW, tiles.kernelColumnBlock);
  const partialKernel = await getKernel(gpu, {
    shader: 'conv2d_backward_weight',
    bindings: ['read', 'read', 'read_write'],
    constants: {
      ...shapeConstants(s),
      ROWS_PER_CHUNK: tiles.rowsPerChunk,
      CHUNKS: chunks,
      OC_BLOCK: tiles.channelBlock,
      KY_BLOCK: tiles.kernelRowBlock,
      KX_BLOCK: tiles.kernelColumnBlock,
      WG: tiles.workgroup,
    },
  });
  const reduceKernel = await getKernel(gpu, {
    shader: 'conv2d_backward_weight_reduce',
    bindings: ['read', 'read_write', 'read_write'],
    constants: { WEIGHTS: weights, O: s.O, CHUNKS: chunks, WG: tiles.reduceWorkgroup },
  });
  return [
    {
      kernel: partialKernel,
      bindGroup: partialKernel.bind(gpu, [input, gradOutput, partial]),
      workgroups: grid('conv2d', ceilDiv(invocations, tiles.workgroup)),
    },
    {
      kernel: reduceKernel,
      bindGroup: reduceKernel.bind(gpu, [partial, gradWeight, gradBias]),
      workgroups: grid('conv2d', ceilDiv(weights + s.O, tiles.reduceWorkgroup)),
    },
  ];
}
