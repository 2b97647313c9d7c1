import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { matmul, type MatmulTiles } from '../../src/kernels/matmul.ts';
import { DEFAULT_TEXTURE_MATMUL_TILES, matmulTexture } from '../../src/kernels/matmul_texture.ts';
import { createPackedMatrix, packMatrix } from '../../src/kernels/layout.ts';
import { matmulReference } from '../../src/reference/linear.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { f32Buffer, poisonedBuffer, readF32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, assertRejects, testSeed } from '../helpers/compare.ts';

const test = suite('matmul_texture');

interface Case {
  m: number;
  n: number;
  k: number;
  bias?: boolean;
  relu?: boolean;
  /** Sources hold Aᵀ [k,m] and Bᵀ [k,n] (packed with transpose), as for a linear layer's weight gradient. */
  transposed?: boolean;
  tiles?: MatmulTiles;
  /** Rows and row length the textures hold beyond the product's (a small batch in textures for a big one). */
  spare?: number;
}

const describe = (c: Case) =>
  `${c.m}x${c.n}x${c.k}${c.transposed ? ' from Aᵀ, Bᵀ' : ''}${c.bias ? ' +bias' : ''}${c.relu ? ' +ReLU' : ''}` +
  (c.tiles ? ` tiles ${JSON.stringify(c.tiles)}` : '') + (c.spare ? ` in textures ${c.spare} bigger` : '');

/**
 * A [m,k] · B [n,k]ᵀ (+ bias) through packMatrix and matmulTexture, against the float64 reference and
 * against shaders/matmul.wgsl on the same buffers, which sums in the same order: the two must agree
 * exactly. C is read past m*n to catch stray writes.
 */
async function check(c: Case): Promise<void> {
  const seed = testSeed();
  const what = `${describe(c)} seed=${seed}`;
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const a = rng.f32(c.m * c.k); // [m,k], or [k,m] when transposed
  const b = rng.f32(c.n * c.k); // [n,k], or [k,n] when transposed
  const bias = rng.f32(c.n);
  const [aBuffer, bBuffer, biasBuffer] = [f32Buffer(gpu, 'a', a), f32Buffer(gpu, 'b', b), f32Buffer(gpu, 'bias', bias)];
  const spare = c.spare ?? 0;
  const packedA = createPackedMatrix(gpu, 'a.packed', c.m + spare, c.k + spare);
  const packedB = createPackedMatrix(gpu, 'b.packed', c.n + spare, c.k + spare);
  if (spare > 0) {
    // Fill the whole textures with other values first: the product must only see what was packed last.
    const rows = Math.max(c.m, c.n) + spare;
    const junk = f32Buffer(gpu, 'junk', rng.f32(rows * (c.k + spare)).map((x) => 1e3 * x));
    submitDispatches(gpu, [
      await packMatrix(gpu, { rows: c.m + spare, k: c.k + spare }, junk, packedA),
      await packMatrix(gpu, { rows: c.n + spare, k: c.k + spare }, junk, packedB),
    ]);
    junk.destroy();
  }
  const count = c.m * c.n;
  const cBuffer = poisonedBuffer(gpu, 'c', count + 8);
  const options = { bias: c.bias ? biasBuffer : undefined, relu: c.relu };
  submitDispatches(gpu, [
    await packMatrix(gpu, { rows: c.m, k: c.k, transpose: c.transposed }, aBuffer, packedA),
    await packMatrix(gpu, { rows: c.n, k: c.k, transpose: c.transposed }, bBuffer, packedB),
    ...(await matmulTexture(gpu, c, { ...options, tiles: c.tiles }, packedA, packedB, cBuffer)),
  ]);
  const all = await readF32(gpu, cBuffer, count + 8);
  for (let i = count; i < count + 8; i++) assert.ok(Number.isNaN(all[i]), `${what}: element ${i} past C was written`);
  const actual = all.subarray(0, count);
  const shape = { m: c.m, n: c.n, k: c.k, transposeA: c.transposed, transposeB: !c.transposed };
  const expected = matmulReference(shape, a, b).map((v, i) => {
    const biased = v + (c.bias ? bias[i % c.n] : 0);
    return c.relu ? Math.max(0, biased) : biased;
  });
  assertClose(actual, expected, what);

  const bufferResult = poisonedBuffer(gpu, 'c.buffer-kernel', count);
  submitDispatches(gpu, await matmul(gpu, shape, options, aBuffer, bBuffer, bufferResult));
  assertExactlyEqual(actual, await readF32(gpu, bufferResult, count), `${what}: texture vs buffer kernel`);
  for (const buffer of [aBuffer, bBuffer, biasBuffer, cBuffer, bufferResult]) buffer.destroy();
  for (const packed of [packedA, packedB]) packed.texture.destroy();
}

// k not a multiple of 4 (zero padding), blocks that do not divide the shape, single rows and columns.
for (
  const c of [
    { m: 1, n: 1, k: 1, bias: true },
    { m: 7, n: 13, k: 5, bias: true, relu: true },
    { m: 33, n: 65, k: 18 },
    { m: 37, n: 29, k: 11, bias: true, tiles: { rows: 3, columns: 5, workgroup: 7 } },
    { m: 5, n: 40, k: 9, tiles: { rows: 1, columns: 1, workgroup: 1 } },
    { m: 50, n: 49, k: 7, relu: true, tiles: { rows: 24, columns: 24, workgroup: 16 } },
    { m: 3, n: 21, k: 10, bias: true, spare: 9 },
    { m: 9, n: 31, k: 6, transposed: true },
    { m: 20, n: 3, k: 13, transposed: true, spare: 5 },
  ] satisfies Case[]
) {
  test(`${describe(c)} matches the reference and the buffer kernel`, () => check(c));
}

// The MNIST fc1 layer (2000 -> 500): forward at evaluation's batch, a partial last batch and batch 1, and
// the weight gradient at the training batch and a partial one.
for (const m of [1000, 17, 1]) {
  test(`MNIST fc1 forward ${m}x500x2000 +bias +ReLU`, () =>
    check({ m, n: 500, k: 2000, bias: true, relu: true, spare: m === 1000 ? 0 : 8 }));
}
for (const k of [64, 37]) {
  test(`MNIST fc1 weight gradient 500x2000x${k} from gradOutputᵀ, inputᵀ`, () =>
    check({ m: 500, n: 2000, k, transposed: true, spare: 64 - k }));
}

test('rejects bad shapes, tiles and textures with a clear message', async () => {
  const gpu = await sharedGpu();
  const bias = f32Buffer(gpu, 'bias', new Float32Array(8));
  const a = createPackedMatrix(gpu, 'a', 4, 8);
  const c = poisonedBuffer(gpu, 'c', 16);
  const run = (shape: { m: number; n: number; k: number }, tiles?: MatmulTiles) =>
    matmulTexture(gpu, shape, { bias, tiles }, a, a, c);
  await assertRejects(() => run({ m: 0, n: 1, k: 1 }), /m must be a positive integer/);
  await assertRejects(() => run({ m: 5, n: 1, k: 8 }), /5 rows of 8 do not fit "a" \(4 rows of 8\)/);
  await assertRejects(() => run({ m: 1, n: 1, k: 9 }), /1 rows of 9 do not fit "a"/);
  await assertRejects(
    () => run({ m: 1, n: 1, k: 1 }, { ...DEFAULT_TEXTURE_MATMUL_TILES, rows: 25 }),
    /rows must be 1\.\.24/,
  );
  await assertRejects(() => packMatrix(gpu, { rows: 2, k: 0 }, bias, a), /k must be a positive integer/);
  for (const x of [bias, c]) x.destroy();
  a.texture.destroy();
});

test.run();
