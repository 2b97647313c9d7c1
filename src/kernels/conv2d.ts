// Dispatches the conv2d kernels: NCHW f32 tensors, weights [outC, inC, kH, kW], bias [outC], stride
// and zero padding (PyTorch's Conv2d). This module is the only place that knows the kernels' register
// blocks and workgroup arithmetic; the defaults suit lavapipe (CPU Vulkan) and can be overridden.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture, createStorageBuffer, TEXTURE_USAGE } from '../gpu/buffers.ts';
import { ceilDiv, getKernel, workgroupGrid, type BufferArg, type Dispatch } from '../gpu/kernel.ts';
import { createPackedMatrix, packMatrix, texelsPerRow, type PackedMatrix } from './matmul_texture.ts';
import type { ChannelsLastTexture } from './conv2d_implicit_gemm.ts';

export interface Conv2dShape {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  /** Default 1. */
  stride?: number;
  /** Zero padding on every side; default 0. */
  padding?: number;
}

export function conv2dOutputSize(shape: Conv2dShape): { outH: number; outW: number } {
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  return {
    outH: Math.floor((shape.height + 2 * padding - shape.kernelH) / stride) + 1,
    outW: Math.floor((shape.width + 2 * padding - shape.kernelW) / stride) + 1,
  };
}

/** Register block of shaders/conv2d_forward.wgsl: each invocation computes channelBlock x columns outputs. */
export interface Conv2dForwardTiles {
  /** Output channels per invocation (1..8). */
  channelBlock: number;
  /** Adjacent output columns of one row per invocation (1..16); (columns - 1) * stride + kernelW <= 32. */
  columns: number;
  workgroup: number;
}

/** Register block of shaders/conv2d_backward_input.wgsl, in gradInput: channelBlock x columns. */
export interface Conv2dBackwardInputTiles {
  /** Input channels per invocation (1..8). */
  channelBlock: number;
  /** Adjacent input columns of one row per invocation (1..16); columns - 1 + kernelW <= 32. */
  columns: number;
  workgroup: number;
}

/** Register block and reduction split of shaders/conv2d_backward_weight{,_reduce}.wgsl. */
export interface Conv2dBackwardWeightTiles {
  /** Output channels per invocation (1..8). */
  channelBlock: number;
  /** Kernel rows per invocation; kernelRowBlock * kernelColumnBlock <= 32. */
  kernelRowBlock: number;
  /** Kernel columns per invocation. */
  kernelColumnBlock: number;
  /** Output rows (n, y) summed by one invocation before the final reduction. */
  rowsPerChunk: number;
  workgroup: number;
  reduceWorkgroup: number;
}

// Sizes of the register arrays in the shaders (their MAX_* constants).
const MAX_CHANNEL_BLOCK = 8;
const MAX_COLUMNS = 16;
const MAX_SEGMENT = 32;
const MAX_TAPS = 32;

/**
 * On lavapipe a storage-buffer load costs about as much as LOAD_COST fmas (each invocation of an
 * 8-wide group loads on its own, behind a bounds check), so blocks are chosen to minimise loads per
 * useful multiply-add within the register budget.
 */
const LOAD_COST = 20;
/** Below this many multiply-adds a layer is cheap anyway; smaller blocks keep its compile time short. */
const SMALL_LAYER_MACS = 1 << 21;
/** With fewer invocations than this, lanes or cores sit idle. */
const MIN_INVOCATIONS = 256;

function layerMacs(shape: Conv2dShape): number {
  const { outH, outW } = conv2dOutputSize(shape);
  return shape.batch * shape.outChannels * outH * outW * shape.inChannels * shape.kernelH * shape.kernelW;
}

interface OutputBlockProblem {
  batch: number;
  /** Channels, rows and columns of the tensor being computed. */
  channels: number;
  height: number;
  width: number;
  kernelW: number;
  /** Length of the row segment a block of `columns` loads. */
  segment: (columns: number) => number;
  small: boolean;
}

/** Picks channels x columns for conv2d_forward and conv2d_backward_input by the load-count model. */
function chooseOutputBlock(p: OutputBlockProblem): { channelBlock: number; columns: number } {
  const accLimit = p.small ? 16 : 64;
  let best = { channelBlock: 1, columns: 1 };
  let bestCost = Infinity;
  for (let channelBlock = 1; channelBlock <= Math.min(p.channels, MAX_CHANNEL_BLOCK); channelBlock++) {
    for (let columns = 1; columns <= Math.min(p.width, MAX_COLUMNS) && channelBlock * columns <= accLimit; columns++) {
      if (p.segment(columns) > MAX_SEGMENT) break;
      // Per input channel and kernel row: one segment and kernelW weights per channel. A segment
      // element costs about twice a weight (bounds masks, and it slides kernelW times).
      const loads = 2 * p.segment(columns) + p.kernelW * channelBlock;
      const macs = p.kernelW * channelBlock * columns;
      const blocks = [ceilDiv(p.channels, channelBlock), ceilDiv(p.width, columns)];
      const waste = (blocks[0] * channelBlock * blocks[1] * columns) / (p.channels * p.width);
      const idle = Math.max(1, MIN_INVOCATIONS / (p.batch * p.height * blocks[0] * blocks[1]));
      const cost = (waste * idle * (LOAD_COST * loads + macs)) / macs;
      if (cost < bestCost - 1e-9) {
        bestCost = cost;
        best = { channelBlock, columns };
      }
    }
  }
  return best;
}

export function defaultForwardTiles(shape: Conv2dShape): Conv2dForwardTiles {
  const { outH, outW } = conv2dOutputSize(shape);
  const stride = shape.stride ?? 1;
  const block = chooseOutputBlock({
    batch: shape.batch,
    channels: shape.outChannels,
    height: outH,
    width: outW,
    kernelW: shape.kernelW,
    segment: (columns) => (columns - 1) * stride + shape.kernelW,
    small: layerMacs(shape) < SMALL_LAYER_MACS,
  });
  return { ...block, workgroup: 64 };
}

export function defaultBackwardInputTiles(shape: Conv2dShape): Conv2dBackwardInputTiles {
  const block = chooseOutputBlock({
    batch: shape.batch,
    channels: shape.inChannels,
    height: shape.height,
    width: shape.width,
    kernelW: shape.kernelW,
    segment: (columns) => columns - 1 + shape.kernelW,
    small: layerMacs(shape) < SMALL_LAYER_MACS,
  });
  return { ...block, workgroup: 64 };
}

/** Splits `total` into the fewest blocks of at most `max`, as even as possible; returns the block size. */
function evenBlock(total: number, max: number): number {
  return Math.ceil(total / Math.ceil(total / max));
}

export function defaultBackwardWeightTiles(shape: Conv2dShape): Conv2dBackwardWeightTiles {
  const { outH } = conv2dOutputSize(shape);
  // Up to 50 sums: whole 5x5 kernels for two channels measured best on MNIST's first layer.
  const accLimit = layerMacs(shape) < SMALL_LAYER_MACS ? 16 : 50;
  // Per x step: channelBlock gradient loads and kernelRowBlock input loads (stride 1) feed
  // channelBlock * kernelRowBlock * kernelColumnBlock fmas, so take whole kernels, then channels.
  const tapLimit = Math.min(MAX_TAPS, accLimit);
  const kernelColumnBlock = evenBlock(shape.kernelW, tapLimit);
  const kernelRowBlock = evenBlock(shape.kernelH, Math.max(1, Math.floor(tapLimit / kernelColumnBlock)));
  const taps = kernelRowBlock * kernelColumnBlock;
  const channelBlock = evenBlock(shape.outChannels, Math.min(MAX_CHANNEL_BLOCK, Math.max(1, Math.floor(accLimit / taps))));
  const blocksPerChunk = ceilDiv(shape.outChannels, channelBlock) * shape.inChannels *
    ceilDiv(shape.kernelH, kernelRowBlock) * ceilDiv(shape.kernelW, kernelColumnBlock);
  // Enough chunks for about 512 invocations; each still sums a long run of rows.
  const rows = shape.batch * outH;
  const chunks = Math.max(1, Math.min(rows, ceilDiv(512, blocksPerChunk)));
  return { channelBlock, kernelRowBlock, kernelColumnBlock, rowsPerChunk: ceilDiv(rows, chunks), workgroup: 64, reduceWorkgroup: 64 };
}

interface Resolved {
  N: number; C: number; H: number; W: number; O: number; KH: number; KW: number;
  S: number; P: number; OH: number; OW: number;
}

function resolveShape(shape: Conv2dShape): Resolved {
  const { batch, inChannels, height, width, outChannels, kernelH, kernelW } = shape;
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  const positive = { batch, inChannels, height, width, outChannels, kernelH, kernelW, stride };
  for (const [name, value] of Object.entries(positive)) {
    if (!Number.isInteger(value) || value < 1) throw new RangeError(`conv2d: ${name} must be a positive integer, got ${value}`);
  }
  if (!Number.isInteger(padding) || padding < 0) throw new RangeError(`conv2d: padding must be a non-negative integer, got ${padding}`);
  const { outH, outW } = conv2dOutputSize(shape);
  if (outH < 1 || outW < 1) {
    throw new RangeError(`conv2d: a ${kernelH}x${kernelW} kernel does not fit a ${height}x${width} input with padding ${padding}`);
  }
  return { N: batch, C: inChannels, H: height, W: width, O: outChannels, KH: kernelH, KW: kernelW, S: stride, P: padding, OH: outH, OW: outW };
}

function checkRange(what: string, value: number, max: number): void {
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new RangeError(`conv2d: ${what} must be an integer in 1..${max}, got ${value}`);
  }
}

function checkWorkgroup(gpu: Gpu, what: string, value: number): void {
  checkRange(what, value, Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX));
}

function bindingBytes(arg: BufferArg): number {
  return 'buffer' in arg ? (arg.size ?? arg.buffer.size - (arg.offset ?? 0)) : arg.size;
}

/** Fails early, naming the tensor, rather than letting the kernel read or write a clamped address. */
function checkSize(what: string, arg: BufferArg, elements: number): void {
  const bytes = bindingBytes(arg);
  if (bytes < elements * 4) throw new RangeError(`conv2d: ${what} needs ${elements} f32 (${elements * 4} bytes), its binding has ${bytes}`);
}

/** The bindings of a forward (buffer or texture kernel) hold the tensors of `s`. */
function checkForwardBindings(s: Resolved, input: BufferArg, weight: BufferArg, bias: BufferArg, output: BufferArg): void {
  checkSize('input', input, s.N * s.C * s.H * s.W);
  checkSize('weight', weight, s.O * s.C * s.KH * s.KW);
  checkSize('bias', bias, s.O);
  checkSize('output', output, s.N * s.O * s.OH * s.OW);
}

function grid(groups: number): [number, number] {
  if (groups > 65535 * 65535) throw new RangeError(`conv2d: ${groups} workgroups is more than one dispatch allows; use a smaller batch`);
  // The shaders rely on a z count of 1 (see conv2d_forward.wgsl); workgroupGrid never sets z.
  return workgroupGrid(groups);
}

function shapeConstants(s: Resolved): Record<string, number> {
  return { N: s.N, C: s.C, H: s.H, W: s.W, O: s.O, KH: s.KH, KW: s.KW, S: s.S, P: s.P, OH: s.OH, OW: s.OW };
}

function checkOutputBlock(what: string, tiles: { channelBlock: number; columns: number }, segment: number): void {
  checkRange(`${what} channelBlock`, tiles.channelBlock, MAX_CHANNEL_BLOCK);
  checkRange(`${what} columns`, tiles.columns, MAX_COLUMNS);
  if (segment > MAX_SEGMENT) {
    throw new RangeError(`conv2d: ${what} needs row segments of ${segment} values, more than ${MAX_SEGMENT}; use fewer columns`);
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
  const s = resolveShape(shape);
  const tiles = { ...defaultForwardTiles(shape), ...options.tiles };
  checkOutputBlock('forward', tiles, (tiles.columns - 1) * s.S + s.KW);
  checkWorkgroup(gpu, 'forward workgroup', tiles.workgroup);
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
  return [{ kernel, bindGroup: kernel.bind(gpu, [input, weight, bias, output]), workgroups: grid(groups) }];
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
  const s = resolveShape(shape);
  const tiles = { ...defaultBackwardInputTiles(shape), ...tileOverrides };
  checkOutputBlock('backward-input', tiles, tiles.columns - 1 + s.KW);
  checkWorkgroup(gpu, 'backward-input workgroup', tiles.workgroup);
  checkSize('gradOutput', gradOutput, s.N * s.O * s.OH * s.OW);
  checkSize('weight', weight, s.O * s.C * s.KH * s.KW);
  checkSize('gradInput', gradInput, s.N * s.C * s.H * s.W);

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
  return [{ kernel, bindGroup: kernel.bind(gpu, [gradOutput, weight, gradInput]), workgroups: grid(groups) }];
}

// Scratch space for the partial sums, one per device, grown on demand. Dispatches run in queue order,
// so every conv layer can reuse it; bind groups made earlier keep their (smaller) buffer alive.
const partialBuffers = new WeakMap<GPUDevice, GPUBuffer>();

function partialBuffer(gpu: Gpu, elements: number): GPUBuffer {
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
  const s = resolveShape(shape);
  const tiles = { ...defaultBackwardWeightTiles(shape), ...tileOverrides };
  checkRange('backward-weight channelBlock', tiles.channelBlock, MAX_CHANNEL_BLOCK);
  checkRange('backward-weight kernelRowBlock', tiles.kernelRowBlock, MAX_TAPS);
  checkRange('backward-weight kernelColumnBlock', tiles.kernelColumnBlock, MAX_TAPS);
  const taps = tiles.kernelRowBlock * tiles.kernelColumnBlock;
  if (taps > MAX_TAPS) throw new RangeError(`conv2d: backward-weight block holds ${taps} kernel taps, more than ${MAX_TAPS}`);
  checkRange('backward-weight rowsPerChunk', tiles.rowsPerChunk, Number.MAX_SAFE_INTEGER);
  checkWorkgroup(gpu, 'backward-weight workgroup', tiles.workgroup);
  checkWorkgroup(gpu, 'backward-weight reduceWorkgroup', tiles.reduceWorkgroup);
  checkSize('input', input, s.N * s.C * s.H * s.W);
  checkSize('gradOutput', gradOutput, s.N * s.O * s.OH * s.OW);
  checkSize('gradWeight', gradWeight, s.O * s.C * s.KH * s.KW);
  checkSize('gradBias', gradBias, s.O);

  const weights = s.O * s.C * s.KH * s.KW;
  const chunks = ceilDiv(s.N * s.OH, tiles.rowsPerChunk);
  const partial = partialBuffer(gpu, chunks * (weights + s.O));
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
      workgroups: grid(ceilDiv(invocations, tiles.workgroup)),
    },
    {
      kernel: reduceKernel,
      bindGroup: reduceKernel.bind(gpu, [partial, gradWeight, gradBias]),
      workgroups: grid(ceilDiv(weights + s.O, tiles.reduceWorkgroup)),
    },
  ];
}

/** Register block of shaders/conv2d_forward_texture.wgsl: channels x rows x 4*texels outputs. */
export interface Conv2dTextureTiles {
  /** Output channels per invocation (1..10). */
  channelBlock: number;
  /** Output rows per invocation (1..4). */
  rows: number;
  /** Output columns per invocation, in fours (1..2). */
  columnTexels: number;
  workgroup: number;
}

/** Textures the texture forward packs its input and weights into (createConv2dPackedOperands). */
export interface Conv2dPackedOperands {
  input: PackedMatrix;
  weight: PackedMatrix;
}

const MAX_TEXTURE_KERNEL_W = 8; // MAX_KW in the shader

/**
 * Whether shaders/conv2d_forward_texture.wgsl computes this layer: stride 1, no padding, kernels 4 to
 * 8 wide. Narrower kernels chain too few taps per store to pay for the packing (conv2's 3x3 ran no
 * faster; conv1's 5x5 1.3-2.2x faster, packing included; bench/RESULTS.md).
 */
export function conv2dTextureSuits(shape: Conv2dShape): boolean {
  return (shape.stride ?? 1) === 1 && (shape.padding ?? 0) === 0 && shape.kernelW >= 4 && shape.kernelW <= MAX_TEXTURE_KERNEL_W;
}

/** Textures for the texture forward of `shape` at up to shape.batch images. The caller destroys them. */
export function createConv2dPackedOperands(gpu: Gpu, label: string, shape: Conv2dShape): Conv2dPackedOperands {
  const s = resolveShape(shape);
  return {
    input: createPackedMatrix(gpu, `${label}.input.packed`, s.N * s.C * s.H, s.W, { paged: true }),
    weight: createPackedMatrix(gpu, `${label}.weight.packed`, s.O * s.C * s.KH, s.KW),
  };
}

export function defaultTextureTiles(shape: Conv2dShape): Conv2dTextureTiles {
  const { outW } = conv2dOutputSize(shape);
  // conv1 (10 channels, 24x24, 5x5) ran best with all 10 channels x 4 rows x 8 columns (prototype).
  return { channelBlock: evenBlock(shape.outChannels, 10), rows: 4, columnTexels: outW > 4 ? 2 : 1, workgroup: 8 };
}

/** Packs the weights into `packed.weight` for conv2dForwardTexture (once per upload, for forward-only networks). */
export function packConv2dTextureWeight(gpu: Gpu, shape: Conv2dShape, weight: BufferArg, packed: Conv2dPackedOperands): Promise<Dispatch> {
  const s = resolveShape(shape);
  checkSize('weight', weight, s.O * s.C * s.KH * s.KW);
  return packMatrix(gpu, { rows: s.O * s.C * s.KH, k: s.KW }, weight, packed.weight);
}

// The `pooled` binding of a texture forward that writes its output buffer, one per device.
const unusedPooledTextures = new WeakMap<GPUDevice, GPUTextureView>();

function unusedPooledTexture(gpu: Gpu): GPUTextureView {
  let view = unusedPooledTextures.get(gpu.device);
  if (!view) {
    const label = 'conv2d_forward_texture: no pooled output';
    unusedPooledTextures.set(gpu.device, view = createRgba32fTexture(gpu, label, 1, 1, TEXTURE_USAGE).createView({ label }));
  }
  return view;
}

/** Whether conv2dForwardTexture can max-pool `shape`'s output 2x2 at stride 2 itself (options.pooled). */
export function conv2dTexturePoolSuits(shape: Conv2dShape): boolean {
  const { outH, outW } = conv2dOutputSize(shape);
  return conv2dTextureSuits(shape) && shape.outChannels <= 10 && outH >= 2 && outW >= 2;
}

/**
 * conv2dForward's result, from textures: packs the input (unless options.inputPrepacked: the caller did,
 * e.g. from pixels with packMatrix's normalizePixels) and the weights (unless options.weightPrepacked:
 * packConv2dTextureWeight did) into `packed`, then runs shaders/conv2d_forward_texture.wgsl. Up to three
 * dispatches; the shape must suit (conv2dTextureSuits). With options.pooled, the output is max-pooled 2x2
 * at stride 2 and written there, channels-last (as packChannelsLast would), instead of to `output`.
 */
export async function conv2dForwardTexture(
  gpu: Gpu,
  shape: Conv2dShape,
  options: {
    relu?: boolean;
    tiles?: Partial<Conv2dTextureTiles>;
    inputPrepacked?: boolean;
    weightPrepacked?: boolean;
    pooled?: ChannelsLastTexture;
  },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
  packed: Conv2dPackedOperands,
): Promise<Dispatch[]> {
  const s = resolveShape(shape);
  if (!conv2dTextureSuits(shape)) {
    throw new RangeError(`conv2d from textures needs stride 1, no padding and a kernel 4..${MAX_TEXTURE_KERNEL_W} wide`);
  }
  const pooled = options.pooled;
  const tiles = { ...defaultTextureTiles(shape), ...(pooled ? { channelBlock: s.O } : {}), ...options.tiles };
  if (pooled) {
    if (!conv2dTexturePoolSuits(shape)) throw new RangeError('conv2d from textures pools only up to 10 channels of outputs at least 2x2');
    if (tiles.channelBlock !== s.O || tiles.rows % 2 !== 0) {
      throw new RangeError(`conv2d from textures: pooling needs every channel in a block (${s.O}) and an even number of rows`);
    }
    const ph = Math.floor(s.OH / 2);
    const pw = Math.floor(s.OW / 2);
    if (s.N > pooled.items || pooled.channels !== s.O || pooled.height !== ph || pooled.width !== pw) {
      throw new RangeError(`conv2d from textures: "${pooled.texture.label}" holds ${pooled.items} of ${pooled.channels}x` +
        `${pooled.height}x${pooled.width}, not ${s.N} of ${s.O}x${ph}x${pw}`);
    }
  }
  checkRange('texture channelBlock', tiles.channelBlock, 10);
  checkRange('texture rows', tiles.rows, 4);
  checkRange('texture columnTexels', tiles.columnTexels, 2);
  checkWorkgroup(gpu, 'texture workgroup', tiles.workgroup);
  checkForwardBindings(s, input, weight, bias, output);

  const oBlocks = ceilDiv(s.O, tiles.channelBlock);
  const yBlocks = ceilDiv(s.OH, tiles.rows);
  const xBlocks = ceilDiv(s.OW, 4 * tiles.columnTexels);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_forward_texture',
    bindings: ['texture', 'texture', 'read', 'read_write', 'rgba32float_write'],
    constants: {
      N: s.N, C: s.C, H: s.H, O: s.O, KH: s.KH, KW: s.KW, OH: s.OH, OW: s.OW,
      W4: texelsPerRow(s.W),
      KW4: texelsPerRow(s.KW),
      PAGE: packed.input.pageRows,
      RELU: options.relu ? 1 : 0,
      POOL: pooled ? 1 : 0,
      OC_BLOCK: tiles.channelBlock,
      ROWS: tiles.rows,
      QX: tiles.columnTexels,
      WG: tiles.workgroup,
      O_BLOCKS: oBlocks,
      Y_BLOCKS: yBlocks,
      X_BLOCKS: xBlocks,
    },
  });
  return [
    ...(options.inputPrepacked ? [] : [await packMatrix(gpu, { rows: s.N * s.C * s.H, k: s.W }, input, packed.input)]),
    ...(options.weightPrepacked ? [] : [await packConv2dTextureWeight(gpu, shape, weight, packed)]),
    {
      kernel,
      bindGroup: kernel.bind(gpu, [packed.input.view, packed.weight.view, bias, output, pooled?.view ?? unusedPooledTexture(gpu)]),
      workgroups: grid(ceilDiv(s.N * oBlocks * yBlocks * xBlocks, tiles.workgroup)),
    },
  ];
}
