import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { conv2dOutputSize, type Conv2dShape } from '../../src/kernels/conv2d.ts';
import {
  conv2dBackwardInputTextureGemm,
  conv2dForwardTextureGemm,
  createTextureGemmOperands,
  createTiledPlanes,
  defaultTextureGemmTiles,
  destroyTextureGemmOperands,
  packTiledPlanes,
  textureGemmSuits,
  type TextureGemmTiles,
  tiledPlanesLayout,
} from '../../src/kernels/conv2d_texture_gemm.ts';
import { conv2dBackwardInputReference, conv2dForwardReference } from '../../src/reference/conv2d.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, poisonTexture, readF32, readTexture, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, testSeed } from '../helpers/compare.ts';

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
    const operands = createTextureGemmOperands(gpu, 'test', s, true);
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

test.run();
