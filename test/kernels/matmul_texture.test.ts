import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { matmul, type MatmulTiles } from '../../src/kernels/matmul.ts';
import {
  createPackedMatrix, DEFAULT_TEXTURE_MATMUL_TILES, matmulTexture, packMatrix, type PackedMatrix,
} from '../../src/kernels/matmul_texture.ts';
import { linearForwardReference } from '../../src/reference/linear.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, readF32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, assertRejects, testSeed } from '../helpers/compare.ts';

const test = suite('matmul_texture');

interface Case {
  m: number;
  n: number;
  k: number;
  relu?: boolean;
  tiles?: MatmulTiles;
  /** Rows the textures hold beyond m and n (a smaller batch packed into a texture made for a bigger one). */
  spareRows?: number;
}

const describe = (c: Case) => `${c.m}x${c.n}x${c.k}${c.relu ? ' +ReLU' : ''}${c.tiles ? ` tiles ${JSON.stringify(c.tiles)}` : ''}` +
  (c.spareRows ? ` in textures ${c.spareRows} rows bigger` : '');

/**
 * A [m,k] · B [n,k]ᵀ + bias through packMatrix and matmulTexture, against the float64 reference, and
 * against shaders/matmul.wgsl on the same buffers, which sums in the same order: the two must agree
 * exactly. C is read past m*n to catch stray writes.
 */
async function check(c: Case): Promise<void> {
  const seed = testSeed();
  const what = `${describe(c)} seed=${seed}`;
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const a = rng.f32(c.m * c.k);
  const b = rng.f32(c.n * c.k);
  const bias = rng.f32(c.n);
  const [aBuffer, bBuffer, biasBuffer] = [f32Buffer(gpu, 'a', a), f32Buffer(gpu, 'b', b), f32Buffer(gpu, 'bias', bias)];
  const spare = c.spareRows ?? 0;
  const packedA = createPackedMatrix(gpu, 'a.packed', c.m + spare, c.k);
  const packedB = createPackedMatrix(gpu, 'b.packed', c.n + spare, c.k);
  if (spare > 0) {
    // Fill the textures with a bigger, different matrix first: the product must only see the rows packed last.
    const junk = f32Buffer(gpu, 'junk', rng.f32((Math.max(c.m, c.n) + spare) * c.k).map((x) => 1e3 * x));
    submitDispatches(gpu, [await packMatrix(gpu, c.m + spare, junk, packedA), await packMatrix(gpu, c.n + spare, junk, packedB)]);
    junk.destroy();
  }
  const count = c.m * c.n;
  const cBuffer = poisonedBuffer(gpu, 'c', count + 8);
  submitDispatches(gpu, [
    await packMatrix(gpu, c.m, aBuffer, packedA),
    await packMatrix(gpu, c.n, bBuffer, packedB),
    ...(await matmulTexture(gpu, { m: c.m, n: c.n }, { bias: biasBuffer, relu: c.relu, tiles: c.tiles }, packedA, packedB, cBuffer)),
  ]);
  const all = await readF32(gpu, cBuffer, count + 8);
  for (let i = count; i < count + 8; i++) assert.ok(Number.isNaN(all[i]), `${what}: element ${i} past C was written`);
  const actual = all.subarray(0, count);
  const expected = linearForwardReference({ batch: c.m, inFeatures: c.k, outFeatures: c.n }, a, b, bias, c.relu);
  assertClose(actual, expected, what);

  const bufferResult = poisonedBuffer(gpu, 'c.buffer-kernel', count);
  submitDispatches(gpu, await matmul(gpu, { m: c.m, n: c.n, k: c.k, transposeB: true }, { bias: biasBuffer, relu: c.relu },
    aBuffer, bBuffer, bufferResult));
  assertExactlyEqual(actual, await readF32(gpu, bufferResult, count), `${what}: texture vs buffer kernel`);
  for (const buffer of [aBuffer, bBuffer, biasBuffer, cBuffer, bufferResult]) buffer.destroy();
  for (const packed of [packedA, packedB]) packed.texture.destroy();
}

// k not a multiple of 4 (zero padding), blocks that do not divide the shape, single rows and columns.
for (const c of [
  { m: 1, n: 1, k: 1 },
  { m: 7, n: 13, k: 5, relu: true },
  { m: 33, n: 65, k: 18 },
  { m: 37, n: 29, k: 11, tiles: { rows: 3, columns: 5, workgroup: 7 } },
  { m: 5, n: 40, k: 9, tiles: { rows: 1, columns: 1, workgroup: 1 } },
  { m: 50, n: 49, k: 7, tiles: { rows: 24, columns: 24, workgroup: 16 }, relu: true },
  { m: 3, n: 21, k: 12, spareRows: 9 },
] satisfies Case[]) {
  test(`${describe(c)} matches the reference and the buffer kernel`, () => check(c));
}

// The MNIST fc1 layer (2000 -> 500) at evaluation's batch, a partial last batch, and batch 1.
for (const m of [1000, 17, 1]) {
  test(`MNIST fc1 ${m}x500x2000 +ReLU`, () => check({ m, n: 500, k: 2000, relu: true, spareRows: m === 1000 ? 0 : 1000 - m }));
}

test('rejects bad shapes, tiles and textures with a clear message', async () => {
  const gpu = await sharedGpu();
  const bias = f32Buffer(gpu, 'bias', new Float32Array(8));
  const a: PackedMatrix = createPackedMatrix(gpu, 'a', 4, 8);
  const b: PackedMatrix = createPackedMatrix(gpu, 'b', 4, 12);
  const c = poisonedBuffer(gpu, 'c', 16);
  const run = (shape: { m: number; n: number }, tiles: MatmulTiles | undefined, bb = a) =>
    matmulTexture(gpu, shape, { bias, tiles }, a, bb, c);
  await assertRejects(() => run({ m: 0, n: 1 }, undefined), /m must be a positive integer/);
  await assertRejects(() => run({ m: 5, n: 1 }, undefined), /A holds 4 rows/);
  await assertRejects(() => run({ m: 1, n: 1 }, { ...DEFAULT_TEXTURE_MATMUL_TILES, rows: 25 }), /rows must be 1\.\.24/);
  await assertRejects(() => run({ m: 1, n: 1 }, undefined, b), /A rows have 8 elements but B rows 12/);
  await assertRejects(async () => packMatrix(gpu, 5, bias, a), /5 rows do not fit "a"/);
  for (const x of [bias, c]) x.destroy();
  for (const x of [a, b]) x.texture.destroy();
});

test.run();
