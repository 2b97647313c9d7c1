import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { reluBackward, reluForward } from '../../src/kernels/relu.ts';
import { reluBackwardReference, reluForwardReference } from '../../src/reference/relu.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { createStorageBuffer, writeBuffer } from '../../src/gpu/buffers.ts';
import { f32Buffer, POISON_BITS, poisonedBuffer, readF32, readU32, sharedGpu } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, numericGradient, testSeed } from '../helpers/compare.ts';

const test = suite('relu');

/** Random values with a sprinkling of exact zeros and negative zeros, the edge of the mask. */
function activations(rng: Rng, count: number): Float32Array {
  const x = rng.f32(count, -2, 2);
  for (let i = 0; i < count; i += 7) x[i] = i % 14 === 0 ? 0 : -0;
  return x;
}

// 1 element, fewer than one invocation's 8, a partial workgroup, several workgroups with a tail, and a
// conv activation of batch 3 (3 x 32 x 26 x 26).
const COUNTS = [1, 5, 8, 513, 4099, 3 * 32 * 26 * 26];

for (const count of COUNTS) {
  test(`forward matches the reference exactly, ${count} elements`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const x = activations(new Rng(seed), count);
    const input = f32Buffer(gpu, 'relu input', x);
    const output = poisonedBuffer(gpu, 'relu output', count + 5);
    submitDispatches(gpu, await reluForward(gpu, count, input, output));
    assertExactlyEqual(
      await readF32(gpu, output, count),
      reluForwardReference(x),
      `relu forward count=${count} seed=${seed}`,
    );
    const past = await readU32(gpu, output, 5, count * 4);
    for (const bits of past) assert.is(bits, POISON_BITS, 'an element past count was written');
    input.destroy();
    output.destroy();
  });

  test(`backward masks the gradient in place exactly, ${count} elements`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const y = Float32Array.from(reluForwardReference(activations(rng, count)));
    const g = rng.f32(count + 5);
    const output = f32Buffer(gpu, 'relu output', y);
    const grad = f32Buffer(gpu, 'relu grad', g);
    submitDispatches(gpu, await reluBackward(gpu, count, output, grad));
    const actual = await readF32(gpu, grad, count + 5);
    assertExactlyEqual(
      actual.subarray(0, count),
      reluBackwardReference(y, g.subarray(0, count)),
      `relu backward count=${count} seed=${seed}`,
    );
    assertExactlyEqual(actual.subarray(count), g.subarray(count), 'gradient past count changed');
    output.destroy();
    grad.destroy();
  });
}

test('NaN passes through forward and backward, as in PyTorch', async () => {
  const gpu = await sharedGpu();
  const x = new Float32Array([NaN, -1, 2, NaN]);
  const input = f32Buffer(gpu, 'relu input', x);
  const output = poisonedBuffer(gpu, 'relu output', 4);
  const grad = f32Buffer(gpu, 'relu grad', [1, 2, 3, 4]);
  submitDispatches(gpu, [...(await reluForward(gpu, 4, input, output)), ...(await reluBackward(gpu, 4, output, grad))]);
  const y = await readU32(gpu, output, 4);
  assert.ok(
    (y[0] & 0x7fffffff) > 0x7f800000 && y[0] !== POISON_BITS,
    `relu(NaN) should be a NaN, got bits ${y[0].toString(16)}`,
  );
  assert.equal([...(await readF32(gpu, output, 4)).subarray(1, 3)], [0, 2]);
  assert.equal([...(await readF32(gpu, grad, 4))], [1, 0, 3, 4]);
  for (const b of [input, output, grad]) b.destroy();
});

test('works on ranges of larger buffers', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const count = 77;
  const x = activations(new Rng(seed), count);
  // One buffer may not be both read and written by a dispatch, so the ranges are in two buffers.
  const params = createStorageBuffer(gpu, 'params', 256 + count * 4);
  writeBuffer(gpu, params, x, 256);
  const activationsOut = poisonedBuffer(gpu, 'activations', 128 + count);
  const input = { buffer: params, offset: 256, size: count * 4 };
  const output = { buffer: activationsOut, offset: 512, size: count * 4 };
  submitDispatches(gpu, await reluForward(gpu, count, input, output));
  assertExactlyEqual(
    await readF32(gpu, activationsOut, count, 512),
    reluForwardReference(x),
    `relu on ranges seed=${seed}`,
  );
  for (const bits of await readU32(gpu, activationsOut, 128)) assert.is(bits, POISON_BITS, 'written before the range');
  params.destroy();
  activationsOut.destroy();
});

test('a binding too small for count is refused, naming it', async () => {
  const gpu = await sharedGpu();
  const small = createStorageBuffer(gpu, 'small', 16);
  const big = createStorageBuffer(gpu, 'big', 64);
  try {
    await reluForward(gpu, 16, big, small);
    assert.unreachable('should have thrown');
  } catch (err) {
    assert.match((err as Error).message, /output needs 16 words/);
  }
  small.destroy();
  big.destroy();
});

test('the backward reference agrees with float64 finite differences', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const count = 40;
  const x = Array.from({ length: count }, () => {
    const v = rng.uniform(0.05, 2);
    return rng.next() < 0.5 ? -v : v;
  });
  const w = Array.from({ length: count }, () => rng.uniform(-1, 1));
  const loss = (z: number[]) => reluForwardReference(z).reduce((s, v, i) => s + w[i] * v, 0);
  const numeric = numericGradient(x, () => loss(x), 1e-6);
  assertClose(reluBackwardReference(reluForwardReference(x), w), numeric, `relu backward reference seed=${seed}`, 1e-8);
});

test.run();
