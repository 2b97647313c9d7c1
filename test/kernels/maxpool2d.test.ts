import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import {
  maxPool2dBackward,
  maxPool2dForward,
  maxPool2dOutputSize,
  type MaxPool2dShape,
} from '../../src/kernels/maxpool2d.ts';
import { maxPool2dBackwardReference, maxPool2dForwardReference } from '../../src/reference/maxpool2d.ts';
import { reluBackwardReference } from '../../src/reference/relu.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { f32Buffer, poisonedBuffer, readF32, readU32, sharedGpu, u32Buffer } from '../helpers/gpu.ts';
import { assertClose, assertExactlyEqual, assertRejects, numericGradient, testSeed } from '../helpers/compare.ts';

const test = suite('maxpool2d');

const MNIST_POOL: MaxPool2dShape = { batch: 8, channels: 20, height: 24, width: 24, kernel: 2 };

const SHAPES: [string, MaxPool2dShape][] = [
  ['MNIST pool, batch 8', MNIST_POOL],
  ['MNIST pool, batch 1', { ...MNIST_POOL, batch: 1 }],
  ['odd 7x9 input leaves a row and a column out', { batch: 3, channels: 5, height: 7, width: 9, kernel: 2 }],
  ['overlapping 3x3 windows, stride 2', { batch: 3, channels: 4, height: 11, width: 10, kernel: 3, stride: 2 }],
  ['overlapping 3x3 windows, stride 1', { batch: 2, channels: 3, height: 6, width: 7, kernel: 3, stride: 1 }],
  ['3x3 windows, stride 3 over 13x13', { batch: 5, channels: 3, height: 13, width: 13, kernel: 3 }],
  ['window the size of the input', { batch: 2, channels: 3, height: 5, width: 5, kernel: 5 }],
  ['1x1 windows, stride 2', { batch: 1, channels: 2, height: 5, width: 6, kernel: 1, stride: 2 }],
  ['2x2 windows, stride 3: gaps between windows', {
    batch: 2,
    channels: 3,
    height: 8,
    width: 10,
    kernel: 2,
    stride: 3,
  }],
  // 5 windows per row split into blocks of 3 and 2 adjacent windows per invocation.
  ['5 windows per row, a partial block', { batch: 2, channels: 3, height: 6, width: 11, kernel: 2 }],
  ['5 overlapping windows per row, a partial block', {
    batch: 2,
    channels: 2,
    height: 9,
    width: 11,
    kernel: 3,
    stride: 2,
  }],
];

const sizes = (shape: MaxPool2dShape) => {
  const { outH, outW } = maxPool2dOutputSize(shape);
  const planes = shape.batch * shape.channels;
  return { inCount: planes * shape.height * shape.width, outCount: planes * outH * outW };
};

/** Few distinct values, so most windows hold ties. */
const tiedInput = (rng: Rng, count: number) => Float32Array.from({ length: count }, () => rng.int(4) - 2);

async function forward(gpu: Gpu, shape: MaxPool2dShape, x: Float32Array) {
  const { outCount } = sizes(shape);
  const input = f32Buffer(gpu, 'pool input', x);
  const output = poisonedBuffer(gpu, 'pool output', outCount);
  const argmax = poisonedBuffer(gpu, 'pool argmax', outCount);
  submitDispatches(gpu, await maxPool2dForward(gpu, shape, input, output, argmax));
  const result = { output: await readF32(gpu, output, outCount), argmax: await readU32(gpu, argmax, outCount) };
  for (const b of [input, output, argmax]) b.destroy();
  return result;
}

/** With `reluOutput`, the fused ReLU mask is applied too. */
async function backward(
  gpu: Gpu,
  shape: MaxPool2dShape,
  g: Float32Array,
  argmaxValues: Uint32Array,
  reluOutput?: Float32Array,
) {
  const { inCount } = sizes(shape);
  const gradOutput = f32Buffer(gpu, 'pool gradOutput', g);
  const argmax = u32Buffer(gpu, 'pool argmax', argmaxValues);
  const gradInput = poisonedBuffer(gpu, 'pool gradInput', inCount);
  const relu = reluOutput && f32Buffer(gpu, 'pool input (ReLU output)', reluOutput);
  submitDispatches(gpu, await maxPool2dBackward(gpu, shape, gradOutput, argmax, gradInput, { reluOutput: relu }));
  const result = await readF32(gpu, gradInput, inCount);
  for (const b of [gradOutput, argmax, gradInput, relu]) b?.destroy();
  return result;
}

for (const [name, shape] of SHAPES) {
  for (const ties of [false, true]) {
    test(`forward: values and argmax exact, ${name}${ties ? ', many ties' : ''}`, async () => {
      const seed = testSeed();
      const gpu = await sharedGpu();
      const rng = new Rng(seed);
      const x = ties ? tiedInput(rng, sizes(shape).inCount) : rng.f32(sizes(shape).inCount);
      const actual = await forward(gpu, shape, x);
      const expected = maxPool2dForwardReference(shape, x);
      const what = `${name} ties=${ties} seed=${seed}`;
      assertExactlyEqual(actual.output, expected.output, `output ${what}`);
      assertExactlyEqual(actual.argmax, expected.argmax, `argmax ${what}`);
    });
  }

  test(`backward matches the reference, ${name}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const { inCount, outCount } = sizes(shape);
    // Ties make several windows choose the same element when they overlap, so gradients add up.
    const { argmax } = maxPool2dForwardReference(shape, tiedInput(rng, inCount));
    const g = rng.f32(outCount);
    const actual = await backward(gpu, shape, g, argmax);
    assertClose(actual, maxPool2dBackwardReference(shape, g, argmax), `gradInput ${name} seed=${seed}`);
  });

  test(`backward with the fused ReLU mask = pool backward then ReLU backward, ${name}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const { inCount, outCount } = sizes(shape);
    // A ReLU's output: many exact zeros (ties among them), a NaN passes its gradient as in PyTorch.
    const x = Float32Array.from(tiedInput(rng, inCount), (v) => Math.max(v, 0));
    x[inCount >> 1] = NaN;
    const { argmax } = maxPool2dForwardReference(shape, x);
    const g = rng.f32(outCount);
    const actual = await backward(gpu, shape, g, argmax, x);
    const expected = reluBackwardReference(x, maxPool2dBackwardReference(shape, g, argmax));
    assertClose(actual, expected, `masked gradInput ${name} seed=${seed}`);
  });
}

test('ties go to the first element in row-major window order', async () => {
  const gpu = await sharedGpu();
  const shape: MaxPool2dShape = { batch: 1, channels: 1, height: 2, width: 4, kernel: 2 };
  // Window 0 is all 1 (first = index 0); window 1 has 5 at (0,3) and (1,2): row-major first is (0,3).
  const actual = await forward(gpu, shape, new Float32Array([1, 1, 0, 5, 1, 1, 5, 2]));
  assert.equal([...actual.output], [1, 5]);
  assert.equal([...actual.argmax], [0, 3]);
});

test('NaN wins, the last NaN of a window as PyTorch; -Infinity windows pick their first element', async () => {
  const gpu = await sharedGpu();
  const shape: MaxPool2dShape = { batch: 1, channels: 1, height: 2, width: 6, kernel: 2 };
  const x = new Float32Array([NaN, 3, 1, -Infinity, -Infinity, -Infinity, 2, NaN, NaN, 7, -Infinity, -Infinity]);
  const actual = await forward(gpu, shape, x);
  const expected = maxPool2dForwardReference(shape, x);
  assert.equal([...actual.argmax], [7, 8, 4]);
  assertExactlyEqual(actual.argmax, expected.argmax, 'argmax vs reference');
  assert.ok(Number.isNaN(actual.output[0]) && Number.isNaN(actual.output[1]), 'NaN windows give NaN');
  assert.is(actual.output[2], -Infinity);
});

test('backward is bit-identical run after run with overlapping windows', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const shape: MaxPool2dShape = { batch: 4, channels: 6, height: 15, width: 15, kernel: 3, stride: 2 };
  const { argmax } = maxPool2dForwardReference(shape, tiedInput(rng, sizes(shape).inCount));
  const g = rng.f32(sizes(shape).outCount);
  const first = await backward(gpu, shape, g, argmax);
  const second = await backward(gpu, shape, g, argmax);
  assertExactlyEqual(new Uint32Array(second.buffer), new Uint32Array(first.buffer), `bits seed=${seed}`);
});

test('output size is floor mode without padding, as PyTorch', () => {
  assert.equal(maxPool2dOutputSize({ batch: 1, channels: 1, height: 24, width: 24, kernel: 2 }), {
    outH: 12,
    outW: 12,
  });
  assert.equal(maxPool2dOutputSize({ batch: 1, channels: 1, height: 7, width: 9, kernel: 2 }), { outH: 3, outW: 4 });
  assert.equal(maxPool2dOutputSize({ batch: 1, channels: 1, height: 11, width: 10, kernel: 3, stride: 2 }), {
    outH: 5,
    outW: 4,
  });
});

test('bad shapes and small bindings are refused with a message naming them', async () => {
  const gpu = await sharedGpu();
  const buffer = poisonedBuffer(gpu, 'small', 4);
  const big = poisonedBuffer(gpu, 'big', 64);
  const shape: MaxPool2dShape = { batch: 1, channels: 1, height: 4, width: 4, kernel: 2 };
  const cases: [() => Promise<unknown>, RegExp][] = [
    [() => maxPool2dForward(gpu, { ...shape, kernel: 5 }, big, big, big), /5x5 window does not fit a 4x4 input/],
    [() => maxPool2dForward(gpu, { ...shape, stride: 0 }, big, big, big), /stride must be a positive integer/],
    [() => maxPool2dForward(gpu, shape, buffer, big, big), /input needs 16 words/],
    [() => maxPool2dBackward(gpu, shape, big, big, buffer), /gradInput needs 16 words/],
  ];
  for (const [call, message] of cases) await assertRejects(call, message);
  buffer.destroy();
  big.destroy();
});

test('the backward reference agrees with float64 finite differences', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  for (
    const shape of [
      { batch: 2, channels: 2, height: 5, width: 5, kernel: 2 },
      { batch: 1, channels: 2, height: 7, width: 6, kernel: 3, stride: 2 },
    ] as MaxPool2dShape[]
  ) {
    const { inCount, outCount } = sizes(shape);
    // Distinct values spaced far beyond the step, so no perturbation changes which element wins.
    const x = rng.shuffle(Array.from({ length: inCount }, (_, i) => i * 0.01));
    const w = Array.from({ length: outCount }, () => rng.uniform(-1, 1));
    const loss = (z: number[]) => maxPool2dForwardReference(shape, z).output.reduce((s, v, o) => s + w[o] * v, 0);
    const numeric = numericGradient(x, () => loss(x), 1e-5);
    const analytic = maxPool2dBackwardReference(shape, w, maxPool2dForwardReference(shape, x).argmax);
    assertClose(analytic, numeric, `maxpool backward reference k=${shape.kernel} seed=${seed}`, 1e-8);
  }
});

test.run();
