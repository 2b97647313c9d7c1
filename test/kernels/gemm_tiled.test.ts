// shaders/gemm_tiled.wgsl (src/kernels/gemm_tiled.ts) against the float64 reference, in every
// configuration the tuner may pick (gemm_tiles.ts GEMM_TILE_CANDIDATES) on the shapes of digit's three
// linear products, and on odd shapes and batch 1 with a seeded sample of them; bit for bit against
// matmul.wgsl, which sums in the same order. Poisoned outputs (checkKernel) catch forgotten elements.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { gemmTiled } from '../../src/kernels/gemm_tiled.ts';
import { defaultGemmTiles, GEMM_TILE_CANDIDATES, type GemmTiles } from '../../src/kernels/gemm_tiles.ts';
import { matmul } from '../../src/kernels/matmul.ts';
import { matmulReference } from '../../src/reference/linear.ts';
import type { MatmulShape } from '../../src/util/shapes.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, readF32, sharedGpu } from '../helpers/gpu.ts';
import { assertRejects, testSeed } from '../helpers/compare.ts';
import { assertMatches, checkKernel } from '../helpers/kernel.ts';

const test = suite('gemm_tiled');

const describe = (s: MatmulShape) => `${s.m}x${s.n}x${s.k}${s.transposeA ? ' Aᵀ' : ''}${s.transposeB ? ' Bᵀ' : ''}`;

interface Options {
  bias?: boolean;
  relu?: boolean;
  reluMask?: boolean;
}

/** Random operands for `shape` and the reference of C with `options`. */
function caseOf(shape: MatmulShape, options: Options, seed: number) {
  const rng = new Rng(seed);
  const count = shape.m * shape.n;
  const inputs = {
    a: rng.f32(shape.m * shape.k),
    b: rng.f32(shape.k * shape.n),
    bias: rng.f32(shape.n),
    mask: Float32Array.from({ length: count }, () => Math.max(0, rng.uniform(-1, 1))),
  };
  inputs.mask[count >> 1] = NaN;
  const expected = matmulReference(shape, inputs.a, inputs.b);
  for (let i = 0; i < count; i++) {
    let v = expected[i] + (options.bias ? inputs.bias[i % shape.n] : 0);
    if (options.relu) v = Math.max(v, 0);
    if (options.reluMask && !(inputs.mask[i] > 0) && !Number.isNaN(inputs.mask[i])) v = 0;
    expected[i] = v;
  }
  return { inputs, expected };
}

async function check(
  shape: MatmulShape,
  tiles: GemmTiles | undefined,
  options: Options,
  seed: number,
): Promise<Float32Array> {
  const gpu = await sharedGpu();
  const { inputs, expected } = caseOf(shape, options, seed);
  const out = await checkKernel(gpu, {
    what: `${describe(shape)} ${JSON.stringify(options)} tiles ${JSON.stringify(tiles)} seed=${seed}`,
    inputs,
    outputs: { c: shape.m * shape.n },
    dispatch: (b) =>
      gemmTiled(
        gpu,
        shape,
        {
          bias: options.bias ? b.bias : undefined,
          relu: options.relu,
          reluMask: options.reluMask ? b.mask : undefined,
          tiles,
        },
        b.a,
        b.b,
        b.c,
      ),
    expected: { c: expected },
    tolerance: 1e-5,
  });
  return out.c as Float32Array;
}

// digit's products at batch 64: fc1 forward, fc1 input gradient, fc1 weight gradient; fc2 forward.
const DIGIT_SHAPES: MatmulShape[] = [
  { m: 64, n: 50, k: 320, transposeB: true },
  { m: 64, n: 320, k: 50 },
  { m: 50, n: 320, k: 64, transposeA: true },
  { m: 64, n: 10, k: 50, transposeB: true },
];

const ODD_SHAPES: MatmulShape[] = [
  { m: 1, n: 10, k: 50, transposeB: true },
  { m: 1, n: 1, k: 1 },
  { m: 37, n: 23, k: 13, transposeA: true, transposeB: true },
  { m: 130, n: 67, k: 9 },
  { m: 5, n: 129, k: 3, transposeA: true },
];

GEMM_TILE_CANDIDATES.forEach((tiles) => {
  test(`digit's products, tiles ${JSON.stringify(tiles)}`, async () => {
    const seed = testSeed();
    await check(DIGIT_SHAPES[0], tiles, { bias: true, relu: true }, seed);
    await check(DIGIT_SHAPES[1], tiles, { reluMask: true }, seed);
    await check(DIGIT_SHAPES[2], tiles, {}, seed);
  });
});

test('odd shapes and batch 1, each with a seeded sample of the candidates (seed printed on failure)', async () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  for (const shape of ODD_SHAPES) {
    const tiles = GEMM_TILE_CANDIDATES[rng.int(GEMM_TILE_CANDIDATES.length)];
    await check(shape, tiles, { bias: rng.int(2) === 1, relu: rng.int(2) === 1, reluMask: rng.int(2) === 1 }, seed);
  }
});

test("default tiles of each class of device, digit's shapes", async () => {
  const seed = testSeed();
  for (const kind of ['cpu-driver', 'integrated-gpu', 'discrete-gpu'] as const) {
    for (const s of [DIGIT_SHAPES[0], DIGIT_SHAPES[3]]) {
      await check(s, defaultGemmTiles(kind, s.m, s.n, s.k), { bias: true }, seed);
    }
  }
});

test("bit for bit the buffer kernel's results (same summation order), and the same on every run", async () => {
  const gpu = await sharedGpu();
  const seed = testSeed();
  for (const shape of [DIGIT_SHAPES[0], DIGIT_SHAPES[2], ODD_SHAPES[2]]) {
    const { inputs } = caseOf(shape, {}, seed);
    const a = f32Buffer(gpu, 'a', inputs.a);
    const b = f32Buffer(gpu, 'b', inputs.b);
    const bias = f32Buffer(gpu, 'bias', inputs.bias);
    const c = poisonedBuffer(gpu, 'c', shape.m * shape.n);
    try {
      const run = async (dispatches: Promise<import('../../src/gpu/kernel.ts').Dispatch[]>) => {
        submitDispatches(gpu, await dispatches);
        return readF32(gpu, c, shape.m * shape.n);
      };
      const buffer = await run(matmul(gpu, shape, { bias }, a, b, c));
      const first = await run(gemmTiled(gpu, shape, { bias, tiles: GEMM_TILE_CANDIDATES[3] }, a, b, c));
      const second = await run(gemmTiled(gpu, shape, { bias, tiles: GEMM_TILE_CANDIDATES[3] }, a, b, c));
      assertMatches(first, buffer, `${describe(shape)} seed=${seed}: tiled vs buffer`, 'exact');
      assertMatches(second, first, `${describe(shape)}: second run`, 'exact');
    } finally {
      for (const x of [a, b, bias, c]) x.destroy();
    }
  }
});

test('tiles the kernel cannot run are refused with the reason', async () => {
  const gpu = await sharedGpu();
  const buf = f32Buffer(gpu, 'x', new Float32Array(16));
  try {
    const shape = { m: 2, n: 2, k: 2 };
    await assertRejects(
      () =>
        gemmTiled(gpu, shape, { tiles: { tileM: 256, tileN: 16, tileK: 8, threadM: 4, threadN: 4 } }, buf, buf, buf),
      /at most 128/,
    );
    await assertRejects(
      () => gemmTiled(gpu, shape, { tiles: { tileM: 30, tileN: 16, tileK: 8, threadM: 4, threadN: 4 } }, buf, buf, buf),
      /multiple of threadM/,
    );
    await assertRejects(() => gemmTiled(gpu, { m: 8, n: 8, k: 8 }, {}, buf, buf, buf), /A needs 64 words/);
  } finally {
    buf.destroy();
  }
  assert.ok(true);
});

test.run();
