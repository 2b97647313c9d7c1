// shaders/reduce_tree.wgsl (src/kernels/reduce_tree.ts) and, where the device has `subgroups`,
// reduce_tree_subgroups.wgsl: sums over [outer, J, inner] against float64, odd sizes, a single value,
// every workgroup size, poisoned outputs, the same bits on every run.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { type ReduceShape, reduceTree } from '../../src/kernels/reduce_tree.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { testSeed } from '../helpers/compare.ts';
import { assertMatches, checkKernel } from '../helpers/kernel.ts';

const test = suite('reduce_tree');

function reference(shape: ReduceShape, x: ArrayLike<number>): Float64Array {
  const inner = shape.inner ?? 1;
  const out = new Float64Array(shape.j);
  for (let o = 0; o < shape.outer; o++) {
    for (let j = 0; j < shape.j; j++) for (let i = 0; i < inner; i++) out[j] += x[(o * shape.j + j) * inner + i];
  }
  return out;
}

const SHAPES: ReduceShape[] = [
  { outer: 64, j: 50 }, // fc1's bias gradient at batch 64
  { outer: 64, j: 20, inner: 64 }, // conv2's
  { outer: 1, j: 10 }, // batch 1
  { outer: 1, j: 1 },
  { outer: 37, j: 3, inner: 13 },
  { outer: 16, j: 5000 }, // split-K partials
];

async function check(shape: ReduceShape, seed: number, options: { subgroups?: boolean; workgroup?: number } = {}) {
  const gpu = await sharedGpu();
  const x = new Rng(seed).f32(shape.outer * shape.j * (shape.inner ?? 1));
  const out = await checkKernel(gpu, {
    what: `${JSON.stringify(shape)} ${JSON.stringify(options)} seed=${seed}`,
    inputs: { x },
    outputs: { out: shape.j },
    dispatch: (b) => reduceTree(gpu, shape, b.x, b.out, options),
    expected: { out: reference(shape, x) },
  });
  return out.out;
}

test('sums against float64: bias gradients, split-K partials, batch 1, odd sizes', async () => {
  const seed = testSeed();
  for (const shape of SHAPES) await check(shape, seed);
});

test('every workgroup size, and the same bits on every run', async () => {
  const seed = testSeed();
  for (const workgroup of [1, 2, 8, 64, 256]) {
    const first = await check(SHAPES[1], seed, { workgroup });
    assertMatches(await check(SHAPES[1], seed, { workgroup }), first, `workgroup ${workgroup}, second run`, 'exact');
  }
  assert.ok(true);
});

test('subgroups, where the device has them (else the plain tree: the fallback)', async () => {
  const gpu = await sharedGpu();
  const seed = testSeed();
  if (!gpu.features.has('subgroups')) {
    console.log('  (no subgroups feature on this device: reduceTree falls back to reduce_tree.wgsl)');
  }
  for (const shape of SHAPES) {
    const first = await check(shape, seed, { subgroups: true });
    assertMatches(
      await check(shape, seed, { subgroups: true }),
      first,
      `${JSON.stringify(shape)} subgroups, second run`,
      'exact',
    );
  }
});

test('a workgroup size that is no power of two is refused', async () => {
  const gpu = await sharedGpu();
  let message = '';
  try {
    await reduceTree(
      gpu,
      { outer: 2, j: 2 },
      gpu.device.createBuffer({ size: 16, usage: 0x80 }),
      gpu.device.createBuffer({ size: 16, usage: 0x80 }),
      { workgroup: 48 },
    );
  } catch (err) {
    message = (err as Error).message;
  }
  assert.match(message, /power of two/);
});

test.run();
