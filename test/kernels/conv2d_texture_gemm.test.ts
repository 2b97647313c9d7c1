import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { conv2dOutputSize, type Conv2dShape } from '../../src/kernels/conv2d.ts';
import {
  conv2dBackwardInputTextureGemm,
  conv2dBackwardWeightTextureGemm,
  conv2dForwardTextureGemm,
  createTextureGemmOperands,
  createTiledPlanes,
  defaultTextureGemmTiles,
  destroyTextureGemmOperands,
  packTiledPlanes,
  textureGemmSuits,
  type TextureGemmTiles,
  type TextureGemmWeightTiles,
  tiledPlanesLayout,
} from '../../src/kernels/conv2d_texture_gemm.ts';
import {
  conv2dBackwardInputReference,
  conv2dBackwardWeightReference,
  conv2dForwardReference,
} from '../../src/reference/conv2d.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, poisonTexture, readF32, readTexture, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, testSeed } from '../helpers/compare.ts';
import { checkKernel } from '../helpers/kernel.ts';

const test = suite('conv2d_texture_gemm');

interface Case {
  what: string;
  shape: Conv2dShape;
  forward?: Partial<TextureGemmTiles>;
  input?: Partial<TextureGemmTiles>;
}

// Each shape compiles its own pipelines: few cases, each covering several edges. Channel counts that are
// not multiples of 4 leave zero lanes in the last texel; positions and channels not multiples of the
// block leave ragged blocks; padding 0-2 and kernels 3 and 5 cover the flipped input gradient's border.
const CASES: Case[] = [
  {
    what: 'best conv3 (48 -> 64, 12x12, batch 64)',
    shape: { batch: 64, inChannels: 48, height: 12, width: 12, outChannels: 64, kernelH: 3, kernelW: 3 },
  },
  {
    what: 'fast conv2 (16 -> 32, 14x14, padding 1)',
    shape: { batch: 8, inChannels: 16, height: 14, width: 14, outChannels: 32, kernelH: 3, kernelW: 3, padding: 1 },
  },
  {
    what: '5 -> 9 channels, 7x6, padding 1, batch 3, ragged 5x7 blocks',
    shape: { batch: 3, inChannels: 5, height: 7, width: 6, outChannels: 9, kernelH: 3, kernelW: 3, padding: 1 },
    forward: { rows: 5, columns: 7, workgroup: 3 },
    input: { rows: 9, columns: 2, workgroup: 5 },
  },
  {
    what: '6 -> 30 channels, 5x5 kernel, padding 2, batch 1',
    shape: { batch: 1, inChannels: 6, height: 9, width: 9, outChannels: 30, kernelH: 5, kernelW: 5, padding: 2 },
  },
  {
    what: '96 -> 128 on 4x4 (2x2 outputs), 24 x 24 blocks',
    shape: { batch: 5, inChannels: 96, height: 4, width: 4, outChannels: 128, kernelH: 3, kernelW: 3 },
    forward: { rows: 24, columns: 24 },
    input: { rows: 24, columns: 24 },
  },
];

for (const c of CASES) {
  test(`forward (+relu) and input gradient against the float64 reference: ${c.what}`, async () => {
    const seed = testSeed();
    const what = `${c.what} seed=${seed}`;
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const s = c.shape;
    const { outH, outW } = conv2dOutputSize(s);
    const inCount = s.batch * s.inChannels * s.height * s.width;
    const outCount = s.batch * s.outChannels * outH * outW;
    const x = rng.f32(inCount);
    const w = rng.f32(s.outChannels * s.inChannels * s.kernelH * s.kernelW);
    const b = rng.f32(s.outChannels);
    const g = rng.f32(outCount);
    const [input, weight, bias, gradOutput] = [x, w, b, g].map((v, i) => f32Buffer(gpu, `operand ${i}`, v));
    const output = poisonedBuffer(gpu, 'output', outCount);
    const relued = poisonedBuffer(gpu, 'output+relu', outCount);
    const gradInput = poisonedBuffer(gpu, 'gradInput', inCount);
    const operands = createTextureGemmOperands(gpu, 'test', s, 'both');
    for (const t of [operands.input, operands.weight, operands.gradOutput!, operands.flippedWeight!]) {
      poisonTexture(gpu, t.texture);
    }
    submitDispatches(gpu, [
      ...await conv2dForwardTextureGemm(gpu, s, { tiles: c.forward }, input, weight, bias, output, operands),
      ...await conv2dForwardTextureGemm(
        gpu,
        s,
        { relu: true, tiles: c.forward },
        input,
        weight,
        bias,
        relued,
        operands,
      ),
      ...await conv2dBackwardInputTextureGemm(gpu, s, { tiles: c.input }, gradOutput, weight, gradInput, operands),
    ]);
    const forward = await readF32(gpu, output, outCount);
    assertClose(forward, conv2dForwardReference(s, x, w, b), `forward ${what}`);
    assertClose(await readF32(gpu, relued, outCount), conv2dForwardReference(s, x, w, b, true), `forward+relu ${what}`);
    const gradient = await readF32(gpu, gradInput, inCount);
    assertClose(gradient, conv2dBackwardInputReference(s, g, w), `input gradient ${what}`);
    // Deterministic: the same dispatches give the same bits.
    submitDispatches(gpu, [
      ...await conv2dForwardTextureGemm(gpu, s, { tiles: c.forward }, input, weight, bias, output, operands),
      ...await conv2dBackwardInputTextureGemm(gpu, s, { tiles: c.input }, gradOutput, weight, gradInput, operands),
    ]);
    assertExactlyEqual(await readF32(gpu, output, outCount), forward, `forward rerun ${what}`);
    assertExactlyEqual(await readF32(gpu, gradInput, inCount), gradient, `input gradient rerun ${what}`);
    destroyTextureGemmOperands(operands);
    for (const buffer of [input, weight, bias, gradOutput, output, relued, gradInput]) buffer.destroy();
  });
}

test('packs tiled planes with their zero border, many tiles to a texture row', async () => {
  const gpu = await sharedGpu();
  const rng = new Rng(testSeed());
  const shape = { items: 5, channels: 6, height: 3, width: 4, pad: 1 };
  const values = rng.f32(5 * 6 * 3 * 4);
  const planes = createTiledPlanes(gpu, 'planes', shape);
  poisonTexture(gpu, planes.texture);
  submitDispatches(gpu, [await packTiledPlanes(gpu, 5, f32Buffer(gpu, 'src', values), planes)]);
  const texels = await readTexture(gpu, planes.texture);
  const c4 = 2;
  const tileW = (4 + 2) * c4;
  const rowFloats = planes.perRow * tileW * 4;
  for (let n = 0; n < 5; n++) {
    for (let y = 0; y < 5; y++) {
      for (let x = 0; x < 6; x++) {
        for (let c = 0; c < 8; c++) {
          const inside = c < 6 && y >= 1 && y <= 3 && x >= 1 && x <= 4;
          const expected = inside ? values[((n * 6 + c) * 3 + y - 1) * 4 + x - 1] : 0;
          const tx = (n % planes.perRow) * tileW + x * c4 + (c >> 2);
          const ty = Math.floor(n / planes.perRow) * 5 + y;
          const actual = texels[ty * rowFloats + tx * 4 + (c & 3)];
          if (actual !== expected) {
            assert.unreachable(`item ${n} (${y}, ${x}) channel ${c}: ${actual}, expected ${expected}`);
          }
        }
      }
    }
  }
  planes.texture.destroy();
});

test('suits stride 1 and padding below the kernel; tiles wrap a batch into the texture limits', () => {
  const limits = { maxTextureDimension2D: 8192 };
  const shape: Conv2dShape = {
    batch: 64,
    inChannels: 32,
    height: 26,
    width: 26,
    outChannels: 48,
    kernelH: 3,
    kernelW: 3,
  };
  assert.ok(textureGemmSuits(limits, shape, true));
  assert.not.ok(textureGemmSuits(limits, { ...shape, stride: 2 }, true), 'stride 2');
  assert.not.ok(textureGemmSuits(limits, { ...shape, padding: 3 }, true), 'padding 3 on a 3x3 kernel');
  // Tiles of 26 positions x 8 texels by 26 rows: 39 to a texture row, 315 rows of tiles.
  const planes = (items: number) => ({ items, channels: 32, height: 26, width: 26, pad: 0 });
  assert.equal(tiledPlanesLayout(limits, planes(1000)), { perRow: 39, textureWidth: 39 * 208, textureHeight: 26 * 26 });
  assert.ok(tiledPlanesLayout(limits, planes(39 * 315)));
  assert.is(tiledPlanesLayout(limits, planes(39 * 315 + 1)), undefined);
  assert.equal(defaultTextureGemmTiles(4, 128), { rows: 4, columns: 22, workgroup: 8 });
  assert.equal(defaultTextureGemmTiles(576, 48), { rows: 16, columns: 24, workgroup: 8 });
});

// The weight and bias gradient.

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
