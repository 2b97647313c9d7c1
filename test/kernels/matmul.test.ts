import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { DEFAULT_MATMUL_TILES, matmul, type MatmulShape, type MatmulTiles } from '../../src/kernels/matmul.ts';
import { matmulReference } from '../../src/reference/linear.ts';
import { reluBackwardReference } from '../../src/reference/relu.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { createStorageBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { f32Buffer, poisonedBuffer, readF32, readU32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, testSeed } from '../helpers/compare.ts';

const test = suite('matmul');

const describe = (shape: MatmulShape, tiles?: MatmulTiles) =>
  `${shape.m}x${shape.n}x${shape.k}${shape.transposeA ? ' Aᵀ' : ''}${shape.transposeB ? ' Bᵀ' : ''}` +
  (tiles ? ` tiles ${JSON.stringify(tiles)}` : '');

interface Run {
  actual: Float32Array;
  expected: Float64Array;
  what: string;
}

/** Runs matmul on fresh random inputs and returns the GPU result (read past m*n, to catch stray writes). */
interface RunOptions {
  bias?: boolean;
  relu?: boolean;
  /** Fuse a ReLU backward whose forward output is random with many zeros (and one NaN). */
  reluMask?: boolean;
  tiles?: MatmulTiles;
}

async function runMatmul(shape: MatmulShape, options: RunOptions = {}): Promise<Run> {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const a = rng.f32(shape.m * shape.k);
  const b = rng.f32(shape.k * shape.n);
  const bias = rng.f32(shape.n);
  const aBuffer = f32Buffer(gpu, 'a', a);
  const bBuffer = f32Buffer(gpu, 'b', b);
  const biasBuffer = f32Buffer(gpu, 'bias', bias);
  const count = shape.m * shape.n;
  const mask = Float32Array.from({ length: count }, () => Math.max(0, rng.uniform(-1, 1)));
  mask[count >> 1] = NaN;
  const maskBuffer = f32Buffer(gpu, 'relu output', mask);
  const cBuffer = poisonedBuffer(gpu, 'c', count + 8);
  const dispatches = await matmul(
    gpu,
    shape,
    {
      bias: options.bias ? biasBuffer : undefined,
      relu: options.relu,
      reluMask: options.reluMask ? maskBuffer : undefined,
      tiles: options.tiles,
    },
    aBuffer,
    bBuffer,
    cBuffer,
  );
  submitDispatches(gpu, dispatches);
  const all = await readF32(gpu, cBuffer, count + 8);
  for (let i = count; i < count + 8; i++) {
    assert.ok(Number.isNaN(all[i]), `${describe(shape)}: element ${i} past C was written`);
  }
  let expected = matmulReference(shape, a, b);
  if (options.bias || options.relu) {
    for (let i = 0; i < count; i++) {
      const v = expected[i] + (options.bias ? bias[i % shape.n] : 0);
      expected[i] = options.relu ? Math.max(0, v) : v;
    }
  }
  if (options.reluMask) expected = reluBackwardReference(mask, expected);
  for (const buffer of [aBuffer, bBuffer, biasBuffer, maskBuffer, cBuffer]) buffer.destroy();
  return { actual: all.subarray(0, count), expected, what: `matmul ${describe(shape, options.tiles)} seed=${seed}` };
}

const TRANSPOSES = [
  [false, false],
  [true, false],
  [false, true],
  [true, true],
] as const;

// Every pipeline is compiled for its shape (~2 s each on lavapipe, cached on disk afterwards), so the
// cases below cover the edges with few distinct shapes.
for (const [m, n, k] of [[1, 1, 1], [7, 13, 5], [33, 65, 17]]) {
  for (const [transposeA, transposeB] of TRANSPOSES) {
    const shape = { m, n, k, transposeA, transposeB };
    test(`${describe(shape)} matches the reference`, async () => {
      const { actual, expected, what } = await runMatmul(shape);
      assertClose(actual, expected, what);
    });
  }
}

test('k = 1, a single row, a single column', async () => {
  for (
    const shape of [
      { m: 2, n: 3, k: 1 },
      { m: 2, n: 3, k: 1, transposeA: true, transposeB: true },
      { m: 1, n: 40, k: 9, transposeB: true },
      { m: 19, n: 1, k: 23, transposeA: true },
    ]
  ) {
    const { actual, expected, what } = await runMatmul(shape);
    assertClose(actual, expected, what);
  }
});

// Blocks that do not divide the shape, one invocation per workgroup, the biggest block.
for (
  const [tiles, transposes] of [
    [{ rows: 3, columns: 5, workgroup: 7 }, TRANSPOSES],
    [{ rows: 1, columns: 1, workgroup: 1 }, [[true, true]]],
    [{ rows: 32, columns: 16, workgroup: 64 }, [[false, true]]],
    [{ rows: 25, columns: 2, workgroup: 3 }, [[true, false]]],
  ] as const
) {
  for (const [transposeA, transposeB] of transposes) {
    const shape = { m: 37, n: 29, k: 11, transposeA, transposeB };
    test(`${describe(shape, tiles)} matches the reference`, async () => {
      const { actual, expected, what } = await runMatmul(shape, { tiles });
      assertClose(actual, expected, what);
    });
  }
}

test('fused bias and ReLU, and the fused ReLU-backward mask', async () => {
  const cases: [MatmulShape, RunOptions][] = [
    [{ m: 7, n: 13, k: 5 }, { bias: true }],
    [{ m: 33, n: 65, k: 17, transposeB: true }, { bias: true, relu: true }],
    [{ m: 1, n: 3, k: 1 }, { relu: true }],
    [{ m: 33, n: 65, k: 17 }, { reluMask: true }],
    [{ m: 1, n: 5, k: 3 }, { reluMask: true }],
  ];
  for (const [shape, options] of cases) {
    const { actual, expected, what } = await runMatmul(shape, options);
    assertClose(actual, expected, `${what} ${JSON.stringify(options)}`);
    if (options.relu) assert.ok(actual.every((x) => x >= 0), `${what}: negative output after ReLU`);
  }
});

// The MNIST fc1 layer (2000 -> 500, batch 64): forward, gradient w.r.t. input, gradient w.r.t. weight.
for (
  const shape of [
    { m: 64, n: 500, k: 2000, transposeB: true },
    { m: 64, n: 2000, k: 500 },
    { m: 500, n: 2000, k: 64, transposeA: true },
    { m: 1, n: 500, k: 2000, transposeB: true },
  ]
) {
  test(`MNIST shape ${describe(shape)}`, async () => {
    const { actual, expected, what } = await runMatmul(shape, { bias: shape.transposeB, relu: shape.transposeB });
    assertClose(actual, expected, what);
  });
}

test('same inputs give bit-identical outputs', async () => {
  const gpu = await sharedGpu();
  const rng = new Rng(testSeed());
  const shape = { m: 64, n: 500, k: 300, transposeB: true };
  const a = f32Buffer(gpu, 'a', rng.f32(shape.m * shape.k));
  const b = f32Buffer(gpu, 'b', rng.f32(shape.k * shape.n));
  const outputs: Uint32Array[] = [];
  for (let run = 0; run < 2; run++) {
    const c = poisonedBuffer(gpu, 'c', shape.m * shape.n);
    submitDispatches(gpu, await matmul(gpu, shape, {}, a, b, c));
    outputs.push(await readU32(gpu, c, shape.m * shape.n));
    c.destroy();
  }
  assertExactlyEqual(outputs[1], outputs[0], 'second run vs first');
  a.destroy();
  b.destroy();
});

test('operands may be ranges of larger buffers', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const shape = { m: 5, n: 6, k: 7 };
  const a = rng.f32(shape.m * shape.k);
  const b = rng.f32(shape.k * shape.n);
  const bias = rng.f32(shape.n);
  // One flat buffer holds b at float 64 (byte 256) and bias at float 128 (byte 512); C sits at byte 256 of another.
  const flat = new Float32Array(192).fill(1e6);
  flat.set(b, 64);
  flat.set(bias, 128);
  const aBuffer = f32Buffer(gpu, 'a', a);
  const flatBuffer = f32Buffer(gpu, 'flat', flat);
  const out = poisonedBuffer(gpu, 'out', 64 + shape.m * shape.n + 8);
  submitDispatches(
    gpu,
    await matmul(gpu, shape, { bias: { buffer: flatBuffer, offset: 512, size: 4 * shape.n } }, aBuffer, {
      buffer: flatBuffer,
      offset: 256,
      size: 4 * b.length,
    }, { buffer: out, offset: 256, size: 4 * shape.m * shape.n }),
  );
  const all = await readF32(gpu, out, 64 + shape.m * shape.n + 8);
  const expected = matmulReference(shape, a, b).map((v, i) => v + bias[i % shape.n]);
  assertClose(all.subarray(64, 64 + shape.m * shape.n), expected, `ranges seed=${seed}`);
  for (const i of [0, 63, 64 + shape.m * shape.n]) {
    assert.ok(Number.isNaN(all[i]), `element ${i} outside the range was written`);
  }
  for (const buffer of [aBuffer, flatBuffer, out]) buffer.destroy();
});

test('rejects bad shapes and tiles with a clear message', async () => {
  const gpu = await sharedGpu();
  const buffer = createStorageBuffer(gpu, 'x', 64);
  writeBuffer(gpu, buffer, new Float32Array(16));
  const attempts: [MatmulShape, MatmulTiles | undefined, RegExp][] = [
    [{ m: 0, n: 1, k: 1 }, undefined, /m must be a positive integer/],
    [{ m: 1, n: 1.5, k: 1 }, undefined, /n must be a positive integer/],
    [{ m: 1, n: 1, k: 1 }, { ...DEFAULT_MATMUL_TILES, rows: 33 }, /rows must be 1\.\.32/],
    [{ m: 1, n: 1, k: 1 }, { ...DEFAULT_MATMUL_TILES, columns: 0 }, /columns 1\.\.16/],
    [{ m: 70000, n: 70000, k: 1 }, undefined, /2\^32/],
  ];
  for (const [shape, tiles, message] of attempts) {
    try {
      await matmul(gpu, shape, { tiles }, buffer, buffer, buffer);
      assert.unreachable(`accepted ${describe(shape, tiles)}`);
    } catch (err) {
      assert.instance(err, RangeError);
      assert.match((err as Error).message, message);
    }
  }
  buffer.destroy();
});

test.run();
