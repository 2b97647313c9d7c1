// Dispatches shaders/conv2d_gemm_tiled.wgsl: the three convolution passes as implicit GEMMs with
// workgroup tiles, the GPU-class variant of conv2d.ts (same tensors, same results to rounding). Forward
// and backward input are one dispatch each; the weight gradient sums split-K partials and the bias
// gradient with shaders/reduce_tree.wgsl (fixed order: deterministic). Tiles: gemm_tiles.ts.
import type { Gpu } from '../gpu/device.ts';
import { createStorageBuffer } from '../gpu/buffers.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import type { Conv2dShape } from '../util/shapes.ts';
import { checkForwardBindings, resolveConv2dShape, type ResolvedConv2d } from './conv2d.ts';
import { checkSize, grid, placeholderBuffer } from './checks.ts';
import { checkGemmTiles } from './gemm_tiled.ts';
import { conv2dGemmShape, defaultGemmTiles, gemmTileConstants, type GemmTiles } from './gemm_tiles.ts';

export { conv2dGemmShape };
import { reduceTree } from './reduce_tree.ts';

const MODE = { forward: 0, backwardInput: 1, backwardWeight: 2 } as const;

async function kernelFor(
  gpu: Gpu,
  s: ResolvedConv2d,
  pass: keyof typeof MODE,
  tiles: GemmTiles,
  flags: { bias?: boolean; relu?: boolean } = {},
) {
  const shape: Conv2dShape = {
    batch: s.N,
    inChannels: s.C,
    height: s.H,
    width: s.W,
    outChannels: s.O,
    kernelH: s.KH,
    kernelW: s.KW,
    stride: s.S,
    padding: s.P,
  };
  const [m, n, k] = conv2dGemmShape(shape, pass);
  checkGemmTiles(gpu, `conv2d ${pass}`, tiles);
  const block = gemmTileConstants(pass === 'backwardWeight' ? tiles : { ...tiles, splits: 1 }, m, n, k);
  const kernel = await getKernel(gpu, {
    shader: 'conv2d_gemm_tiled',
    bindings: ['read', 'read', 'read', 'read_write'],
    constants: {
      ...block.constants,
      MODE: MODE[pass],
      BATCH: s.N,
      C: s.C,
      H: s.H,
      W: s.W,
      O: s.O,
      KH: s.KH,
      KW: s.KW,
      S: s.S,
      P: s.P,
      OH: s.OH,
      OW: s.OW,
      HAS_BIAS: flags.bias ? 1 : 0,
      RELU: flags.relu ? 1 : 0,
    },
  });
  return { kernel, block, m, n, k };
}

/** output = conv(input, weight) + bias, then ReLU when options.relu. One dispatch. */
export async function conv2dForwardTiled(
  gpu: Gpu,
  shape: Conv2dShape,
  options: { relu?: boolean; tiles?: GemmTiles },
  input: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  checkForwardBindings(s, input, weight, bias, output);
  const [m, n, k] = conv2dGemmShape(shape, 'forward');
  const tiles = options.tiles ?? defaultGemmTiles('discrete-gpu', m, n, k);
  const { kernel, block } = await kernelFor(gpu, s, 'forward', tiles, { bias: true, relu: options.relu });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [input, weight, bias, output]),
    workgroups: grid('conv2d', block.groups),
  }];
}

/** gradInput = d(loss)/d(input) from gradOutput and the weights. Overwrites gradInput. One dispatch. */
export async function conv2dBackwardInputTiled(
  gpu: Gpu,
  shape: Conv2dShape,
  gradOutput: BufferArg,
  weight: BufferArg,
  gradInput: BufferArg,
  tiles?: GemmTiles,
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  checkSize('conv2d', 'gradOutput', gradOutput, s.N * s.O * s.OH * s.OW);
  checkSize('conv2d', 'weight', weight, s.O * s.C * s.KH * s.KW);
  checkSize('conv2d', 'gradInput', gradInput, s.N * s.C * s.H * s.W);
  const [m, n, k] = conv2dGemmShape(shape, 'backwardInput');
  const { kernel, block } = await kernelFor(
    gpu,
    s,
    'backwardInput',
    tiles ?? defaultGemmTiles('discrete-gpu', m, n, k),
  );
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [gradOutput, weight, placeholderBuffer(gpu), gradInput]),
    workgroups: grid('conv2d', block.groups),
  }];
}

// Split-K partial sums, one buffer per device, grown on demand (as conv2d.ts's): dispatches run in
// queue order, so every layer reuses it.
const partialBuffers = new WeakMap<GPUDevice, GPUBuffer>();

function partialBuffer(gpu: Gpu, elements: number): GPUBuffer {
  const existing = partialBuffers.get(gpu.device);
  if (existing && existing.size >= elements * 4) return existing;
  const buffer = createStorageBuffer(gpu, 'conv2d tiled weight-gradient partial sums', Math.max(16, elements * 4));
  partialBuffers.set(gpu.device, buffer);
  return buffer;
}

/**
 * gradWeight, gradBias from the layer's input and gradOutput. Overwrites both. Three dispatches: the
 * tiled product in `tiles.splits` partial sums over k, their sum, and the bias gradient (both tree reductions).
 */
export async function conv2dBackwardWeightTiled(
  gpu: Gpu,
  shape: Conv2dShape,
  input: BufferArg,
  gradOutput: BufferArg,
  gradWeight: BufferArg,
  gradBias: BufferArg,
  options: { tiles?: GemmTiles; subgroups?: boolean } = {},
): Promise<Dispatch[]> {
  const s = resolveConv2dShape(shape);
  checkSize('conv2d', 'input', input, s.N * s.C * s.H * s.W);
  checkSize('conv2d', 'gradOutput', gradOutput, s.N * s.O * s.OH * s.OW);
  checkSize('conv2d', 'gradWeight', gradWeight, s.O * s.C * s.KH * s.KW);
  checkSize('conv2d', 'gradBias', gradBias, s.O);
  const [m, n, k] = conv2dGemmShape(shape, 'backwardWeight');
  const tiles = options.tiles ?? defaultGemmTiles('discrete-gpu', m, n, k, true);
  const { kernel, block } = await kernelFor(gpu, s, 'backwardWeight', tiles);
  const splits = block.constants.K_SPLITS;
  const bias = await reduceTree(gpu, { outer: s.N, j: s.O, inner: s.OH * s.OW }, gradOutput, gradBias, {
    subgroups: options.subgroups,
  });
  if (splits === 1) {
    return [{
      kernel,
      bindGroup: kernel.bind(gpu, [gradOutput, input, placeholderBuffer(gpu), gradWeight]),
      workgroups: grid('conv2d', block.groups),
    }, bias];
  }
  const partial = partialBuffer(gpu, splits * m * n);
  return [
    {
      kernel,
      bindGroup: kernel.bind(gpu, [gradOutput, input, placeholderBuffer(gpu), partial]),
      workgroups: grid('conv2d', block.groups),
    },
    await reduceTree(gpu, { outer: splits, j: m * n }, partial, gradWeight, { subgroups: options.subgroups }),
    bias,
  ];
}
