import { suite } from 'uvu';
import { Rng } from '../../src/util/random.ts';
import { conv2dOutputSize, type Conv2dShape } from '../../src/kernels/conv2d.ts';
import {
  conv2dBackwardInputTextureGemm,
  conv2dBackwardWeightTextureGemm,
  createTextureGemmOperands,
  destroyTextureGemmOperands,
  packTiledPlanes,
  type TextureGemmWeightTiles,
} from '../../src/kernels/conv2d_texture_gemm.ts';
import { conv2dBackwardInputReference, conv2dBackwardWeightReference } from '../../src/reference/conv2d.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, readF32, sharedGpu } from '../helpers/gpu.ts';
import { assertExactlyEqual, testSeed } from '../helpers/compare.ts';
import { checkKernel } from '../helpers/kernel.ts';

const test = suite('conv2d_texture_gemm');

const conv = (
  batch: number,
  inChannels: number,
  size: number,
  outChannels: number,
  kernel: number,
  padding: number,
): Conv2dShape => ({
  batch,
  inChannels,
  height: size,
  width: size,
  outChannels,
  kernelH: kernel,
  kernelW: kernel,
  padding,
});

function sizes(shape: Conv2dShape) {
  const { outH, outW } = conv2dOutputSize(shape);
  const { batch, inChannels: c, outChannels: o, kernelH: kh, kernelW: kw, height, width } = shape;
  return { input: batch * c * height * width, output: batch * o * outH * outW, weight: o * c * kh * kw, bias: o };
}

const describe = (shape: Conv2dShape, tiles?: Partial<TextureGemmWeightTiles>) =>
  `N${shape.batch} C${shape.inChannels} ${shape.height}x${shape.width} O${shape.outChannels} k${shape.kernelH} ` +
  `pad ${shape.padding ?? 0}${tiles ? ` tiles ${JSON.stringify(tiles)}` : ''}`;

/** The weight gradient (after the forward's input pack) against the float64 reference. */
async function checkWeightGradient(shape: Conv2dShape, tiles?: Partial<TextureGemmWeightTiles>): Promise<void> {
  const gpu = await sharedGpu();
  const seed = testSeed();
  const rng = new Rng(seed);
  const n = sizes(shape);
  const inputs = { input: rng.f32(n.input), gradOutput: rng.f32(n.output) };
  const operands = createTextureGemmOperands(gpu, 'test', shape, 'weight');
  try {
    await checkKernel(gpu, {
      what: `weight gradient ${describe(shape, tiles)} seed=${seed}`,
      inputs,
      outputs: { gradWeight: n.weight, gradBias: n.bias },
      dispatch: async (b) => [
        await packTiledPlanes(gpu, shape.batch, b.input, operands.input),
        ...await conv2dBackwardWeightTextureGemm(
          gpu,
          shape,
          { tiles },
          b.gradOutput,
          b.gradWeight,
          b.gradBias,
          operands,
        ),
      ],
      expected: conv2dBackwardWeightReference(shape, inputs.input, inputs.gradOutput),
    });
  } finally {
    destroyTextureGemmOperands(operands);
  }
}

// best's and fast's convolutions (smaller batches where the default split is all that changes), then
// odd channel counts, paddings 0-2, kernels 3 and 5, single items and ragged blocks.
const SHAPES: [string, Conv2dShape, Partial<TextureGemmWeightTiles>?][] = [
  ["best's conv2", conv(64, 32, 26, 48, 3, 0)],
  ["best's conv3, batch 3", conv(3, 48, 12, 64, 3, 0)],
  ["best's conv5, batch 3", conv(3, 96, 4, 128, 3, 0)],
  ["fast's conv2, batch 3", conv(3, 16, 14, 32, 3, 1)],
  ['5 -> 7 channels, padding 2, kernel 5, batch 1', conv(1, 5, 9, 7, 5, 2)],
  ['13 -> 22 channels, padding 1, batch 3', conv(3, 13, 7, 22, 3, 1)],
  ['3 -> 30 channels, kernel 5, ragged blocks', conv(3, 3, 8, 30, 5, 0), { outBlock: 3, columnBlock: 3 }],
  ['17 -> 9 channels, padding 2, one row per split', conv(3, 17, 6, 9, 3, 2), {
    outBlock: 2,
    columnBlock: 5,
    rowsPerSplit: 1,
  }],
  ['largest blocks, one split, workgroup 1', conv(3, 10, 5, 26, 3, 1), {
    outBlock: 6,
    columnBlock: 8,
    rowsPerSplit: 100,
    workgroup: 1,
    reduceWorkgroup: 1,
  }],
  ['smallest blocks, 7 rows per split', conv(3, 6, 7, 5, 5, 2), { outBlock: 1, columnBlock: 1, rowsPerSplit: 7 }],
];

for (const [name, shape, tiles] of SHAPES) {
  test(`weight and bias gradient: ${name}`, () => checkWeightGradient(shape, tiles));
}

test('the input gradient reuses the output gradient the weight gradient packed', async () => {
  const gpu = await sharedGpu();
  const seed = testSeed();
  const rng = new Rng(seed);
  const shape = conv(3, 13, 7, 22, 3, 1);
  const n = sizes(shape);
  const inputs = { input: rng.f32(n.input), gradOutput: rng.f32(n.output), weight: rng.f32(n.weight) };
  const operands = createTextureGemmOperands(gpu, 'test', shape, 'both');
  try {
    await checkKernel(gpu, {
      what: `${describe(shape)} seed=${seed}`,
      inputs,
      outputs: { gradWeight: n.weight, gradBias: n.bias, gradInput: n.input },
      dispatch: async (b) => [
        await packTiledPlanes(gpu, shape.batch, b.input, operands.input),
        ...await conv2dBackwardWeightTextureGemm(gpu, shape, {}, b.gradOutput, b.gradWeight, b.gradBias, operands),
        ...await conv2dBackwardInputTextureGemm(
          gpu,
          shape,
          { gradOutputPacked: true },
          b.gradOutput,
          b.weight,
          b.gradInput,
          operands,
        ),
      ],
      expected: {
        ...conv2dBackwardWeightReference(shape, inputs.input, inputs.gradOutput),
        gradInput: conv2dBackwardInputReference(shape, inputs.gradOutput, inputs.weight),
      },
    });
  } finally {
    destroyTextureGemmOperands(operands);
  }
});

test('same inputs give bit-identical weight and bias gradients run after run', async () => {
  const gpu = await sharedGpu();
  const shape = conv(5, 20, 10, 24, 3, 1);
  const rng = new Rng(testSeed());
  const n = sizes(shape);
  const input = f32Buffer(gpu, 'input', rng.f32(n.input));
  const gradOutput = f32Buffer(gpu, 'gradOutput', rng.f32(n.output));
  const operands = createTextureGemmOperands(gpu, 'test', shape, 'weight');
  const runs: Float32Array[][] = [];
  try {
    for (let run = 0; run < 2; run++) {
      const gradWeight = poisonedBuffer(gpu, 'gradWeight', n.weight);
      const gradBias = poisonedBuffer(gpu, 'gradBias', n.bias);
      submitDispatches(gpu, [
        await packTiledPlanes(gpu, shape.batch, input, operands.input),
        ...await conv2dBackwardWeightTextureGemm(gpu, shape, {}, gradOutput, gradWeight, gradBias, operands),
      ]);
      runs.push([await readF32(gpu, gradWeight, n.weight), await readF32(gpu, gradBias, n.bias)]);
      gradWeight.destroy();
      gradBias.destroy();
    }
  } finally {
    destroyTextureGemmOperands(operands);
    input.destroy();
    gradOutput.destroy();
  }
  assertExactlyEqual(new Uint32Array(runs[1][0].buffer), new Uint32Array(runs[0][0].buffer), 'gradWeight');
  assertExactlyEqual(new Uint32Array(runs[1][1].buffer), new Uint32Array(runs[0][1].buffer), 'gradBias');
});

test.run();
