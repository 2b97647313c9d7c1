import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { logSoftmax, type LossShape, lossStats, softmaxCrossEntropy } from '../../src/kernels/softmax_cross_entropy.ts';
import {
  logSoftmaxReference,
  lossStatsReference,
  softmaxCrossEntropyReference,
} from '../../src/reference/softmax_cross_entropy.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import type { Gpu } from '../../src/gpu/device.ts';
import { f32Buffer, poisonedBuffer, readF32, readU32, sharedGpu, u32Buffer } from '../helpers/gpu.ts';
import {
  asF32,
  assertClose,
  assertExactlyEqual,
  assertRejects,
  numericGradient,
  testSeed,
} from '../helpers/compare.ts';

const test = suite('softmax_cross_entropy');

const SHAPES: LossShape[] = [
  { batch: 1, classes: 10 },
  { batch: 3, classes: 10 },
  { batch: 64, classes: 10 },
  { batch: 257, classes: 10 },
  { batch: 5, classes: 1 },
  { batch: 7, classes: 37 },
];

interface Inputs {
  logits: Float32Array;
  labels: Uint32Array;
}

function randomInputs(rng: Rng, { batch, classes }: LossShape, kind: 'normal' | 'ties' | 'large'): Inputs {
  const logits = new Float32Array(batch * classes);
  for (let i = 0; i < logits.length; i++) {
    logits[i] = kind === 'normal' ? 3 * rng.normal() : kind === 'ties' ? rng.int(3) : rng.uniform(-1e4, 1e4);
  }
  const labels = Uint32Array.from({ length: batch }, () => rng.int(classes));
  return { logits, labels };
}

async function runLoss(gpu: Gpu, shape: LossShape, { logits, labels }: Inputs, labelSmoothing = 0) {
  const { batch, classes } = shape;
  const logitsBuffer = f32Buffer(gpu, 'logits', logits);
  const labelsBuffer = u32Buffer(gpu, 'labels', labels);
  const grad = poisonedBuffer(gpu, 'gradLogits', batch * classes);
  const loss = poisonedBuffer(gpu, 'sampleLoss', batch);
  const predictions = poisonedBuffer(gpu, 'predictions', batch);
  submitDispatches(
    gpu,
    await softmaxCrossEntropy(gpu, shape, logitsBuffer, labelsBuffer, grad, loss, predictions, labelSmoothing),
  );
  const result = {
    gradLogits: await readF32(gpu, grad, batch * classes),
    sampleLoss: await readF32(gpu, loss, batch),
    predictions: await readU32(gpu, predictions, batch),
  };
  for (const b of [logitsBuffer, labelsBuffer, grad, loss, predictions]) b.destroy();
  return result;
}

async function runLogSoftmax(gpu: Gpu, shape: LossShape, logits: Float32Array): Promise<Float32Array> {
  const input = f32Buffer(gpu, 'logits', logits);
  const output = poisonedBuffer(gpu, 'logProbs', logits.length);
  submitDispatches(gpu, await logSoftmax(gpu, shape, input, output));
  const result = await readF32(gpu, output, logits.length);
  input.destroy();
  output.destroy();
  return result;
}

async function runStats(
  gpu: Gpu,
  sampleLoss: Float32Array,
  predictions: Uint32Array,
  labels: Uint32Array,
): Promise<Uint32Array> {
  const shape = { batch: sampleLoss.length, classes: 10 };
  const buffers = [
    f32Buffer(gpu, 'sampleLoss', sampleLoss),
    u32Buffer(gpu, 'predictions', predictions),
    u32Buffer(gpu, 'labels', labels),
  ];
  const stats = poisonedBuffer(gpu, 'stats', 2);
  submitDispatches(gpu, await lossStats(gpu, shape, buffers[0], buffers[1], buffers[2], stats));
  const result = await readU32(gpu, stats, 2);
  for (const b of [...buffers, stats]) b.destroy();
  return result;
}

for (const shape of SHAPES) {
  for (const kind of ['normal', 'ties', 'large'] as const) {
    const name = `batch ${shape.batch}, ${shape.classes} classes, ${kind} logits`;
    test(`loss, gradient and predictions match the reference, ${name}`, async () => {
      const seed = testSeed();
      const gpu = await sharedGpu();
      const inputs = randomInputs(new Rng(seed), shape, kind);
      const actual = await runLoss(gpu, shape, inputs);
      const expected = softmaxCrossEntropyReference(shape, inputs.logits, inputs.labels);
      const what = `${name} seed=${seed}`;
      // Large logits make confident rows whose loss and gradient underflow f32.
      assertClose(actual.sampleLoss, asF32(expected.sampleLoss), `sampleLoss ${what}`);
      assertClose(actual.gradLogits, asF32(expected.gradLogits), `gradLogits ${what}`);
      assertExactlyEqual(actual.predictions, expected.predictions, `predictions ${what}`);
    });

    test(`log-softmax matches the reference, ${name}`, async () => {
      const seed = testSeed();
      const gpu = await sharedGpu();
      const { logits } = randomInputs(new Rng(seed), shape, kind);
      assertClose(
        await runLogSoftmax(gpu, shape, logits),
        logSoftmaxReference(shape, logits),
        `log-softmax ${name} seed=${seed}`,
      );
    });
  }
}

test('label smoothing: loss and gradient match the reference (the target mixes in smoothing / classes)', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  for (const [batch, classes] of [[7, 10], [3, 5]]) {
    const shape = { batch, classes };
    const inputs = randomInputs(new Rng(seed), shape, 'normal');
    const actual = await runLoss(gpu, shape, inputs, 0.1);
    const expected = softmaxCrossEntropyReference(shape, inputs.logits, inputs.labels, 0.1);
    assertClose(actual.sampleLoss, expected.sampleLoss, `loss ${batch}x${classes} seed ${seed}`);
    assertClose(actual.gradLogits, expected.gradLogits, `grad ${batch}x${classes} seed ${seed}`);
  }
});

test('huge logits neither overflow nor lose the small probabilities', async () => {
  const gpu = await sharedGpu();
  const shape = { batch: 2, classes: 3 };
  const logits = new Float32Array([1e4, 1e4 - 1, 1e4 - 2, -1e4, -1e4 + 3, -1e4 + 1]);
  const labels = new Uint32Array([2, 0]);
  const actual = await runLoss(gpu, shape, { logits, labels });
  const expected = softmaxCrossEntropyReference(shape, logits, labels);
  assertClose(actual.sampleLoss, expected.sampleLoss, 'sampleLoss');
  assertClose(actual.gradLogits, expected.gradLogits, 'gradLogits');
  assert.equal([...actual.predictions], [0, 1]);
  assertClose(await runLogSoftmax(gpu, shape, logits), logSoftmaxReference(shape, logits), 'log-softmax');
});

test('confident rows keep their tiny losses accurate (no log(1 + tiny) cancellation)', async () => {
  const gpu = await sharedGpu();
  const shape = { batch: 3, classes: 10 };
  const logits = new Float32Array(30);
  logits[0] = 6;
  logits[12] = 12;
  logits[24] = 30;
  const labels = new Uint32Array([0, 2, 4]);
  const actual = await runLoss(gpu, shape, { logits, labels });
  const expected = softmaxCrossEntropyReference(shape, logits, labels);
  for (let n = 0; n < 3; n++) {
    assertClose([actual.sampleLoss[n]], [expected.sampleLoss[n]], `loss of row ${n} (${expected.sampleLoss[n]})`);
  }
});

test('argmax ties go to the first index; a NaN logit wins and poisons the loss', async () => {
  const gpu = await sharedGpu();
  const shape = { batch: 3, classes: 4 };
  const logits = new Float32Array([1, 5, 5, 2, 7, 7, 7, 7, 1, NaN, 9, NaN]);
  const actual = await runLoss(gpu, shape, { logits, labels: new Uint32Array([0, 3, 2]) });
  assert.equal([...actual.predictions], [1, 0, 1]);
  assert.ok(Number.isNaN(actual.sampleLoss[2]), 'NaN row gives a NaN loss');
  assert.ok(Number.isFinite(actual.sampleLoss[0]) && Number.isFinite(actual.sampleLoss[1]), 'other rows stay finite');
});

test('a label out of range gives a NaN loss for that sample only', async () => {
  const gpu = await sharedGpu();
  const shape = { batch: 2, classes: 3 };
  const logits = new Float32Array([1, 2, 3, 3, 2, 1]);
  const labels = new Uint32Array([3, 0]);
  const actual = await runLoss(gpu, shape, { logits, labels });
  const expected = softmaxCrossEntropyReference(shape, logits, labels);
  assert.ok(Number.isNaN(actual.sampleLoss[0]), 'label 3 of 3 classes');
  assertClose(actual.sampleLoss.subarray(1), expected.sampleLoss.subarray(1), 'valid sample');
  assertClose(actual.gradLogits, expected.gradLogits, 'gradient has no one-hot term for the bad label');
});

test('loss and gradient are bit-identical run after run', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const shape = { batch: 100, classes: 10 };
  const inputs = randomInputs(new Rng(seed), shape, 'normal');
  const first = await runLoss(gpu, shape, inputs);
  const second = await runLoss(gpu, shape, inputs);
  assertExactlyEqual(
    new Uint32Array(second.gradLogits.buffer),
    new Uint32Array(first.gradLogits.buffer),
    `grad bits seed=${seed}`,
  );
  assertExactlyEqual(
    new Uint32Array(second.sampleLoss.buffer),
    new Uint32Array(first.sampleLoss.buffer),
    `loss bits seed=${seed}`,
  );
});

for (const batch of [1, 3, 63, 64, 65, 1000, 4097]) {
  test(`loss stats: sum close, correct count exact, batch ${batch}`, async () => {
    const seed = testSeed();
    const gpu = await sharedGpu();
    const rng = new Rng(seed);
    const sampleLoss = rng.f32(batch, 0, 5);
    const labels = Uint32Array.from({ length: batch }, () => rng.int(10));
    const predictions = labels.map((label) => (rng.next() < 0.6 ? label : rng.int(10)));
    const stats = await runStats(gpu, sampleLoss, predictions, labels);
    const expected = lossStatsReference(sampleLoss, predictions, labels);
    assertClose(new Float32Array(stats.buffer, 0, 1), [expected.lossSum], `loss sum batch=${batch} seed=${seed}`);
    assert.is(stats[1], expected.correct, `correct count batch=${batch} seed=${seed}`);
  });
}

test('loss stats are bit-identical run after run', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const rng = new Rng(seed);
  const batch = 3001;
  const sampleLoss = rng.f32(batch, 0, 5);
  const labels = Uint32Array.from({ length: batch }, () => rng.int(10));
  const first = await runStats(gpu, sampleLoss, labels, labels);
  const second = await runStats(gpu, sampleLoss, labels, labels);
  assertExactlyEqual(second, first, `stats words seed=${seed}`);
  assert.is(first[1], batch, 'every prediction correct');
});

test('loss then stats in one submission, as a training step records them', async () => {
  const seed = testSeed();
  const gpu = await sharedGpu();
  const shape = { batch: 50, classes: 10 };
  const { logits, labels } = randomInputs(new Rng(seed), shape, 'ties');
  const logitsBuffer = f32Buffer(gpu, 'logits', logits);
  const labelsBuffer = u32Buffer(gpu, 'labels', labels);
  const grad = poisonedBuffer(gpu, 'gradLogits', 500);
  const loss = poisonedBuffer(gpu, 'sampleLoss', 50);
  const predictions = poisonedBuffer(gpu, 'predictions', 50);
  const stats = poisonedBuffer(gpu, 'stats', 2);
  submitDispatches(gpu, [
    ...(await softmaxCrossEntropy(gpu, shape, logitsBuffer, labelsBuffer, grad, loss, predictions)),
    ...(await lossStats(gpu, shape, loss, predictions, labelsBuffer, stats)),
  ]);
  const words = await readU32(gpu, stats, 2);
  const expected = softmaxCrossEntropyReference(shape, logits, labels);
  const expectedStats = lossStatsReference(expected.sampleLoss, expected.predictions, labels);
  assertClose(new Float32Array(words.buffer, 0, 1), [expectedStats.lossSum], `loss sum seed=${seed}`);
  assert.is(words[1], expectedStats.correct, `correct seed=${seed}`);
  for (const b of [logitsBuffer, labelsBuffer, grad, loss, predictions, stats]) b.destroy();
});

test('small bindings are refused with a message naming them', async () => {
  const gpu = await sharedGpu();
  const small = poisonedBuffer(gpu, 'small', 4);
  const big = poisonedBuffer(gpu, 'big', 1000);
  const shape = { batch: 10, classes: 10 };
  const cases: [() => Promise<unknown>, RegExp][] = [
    [() => softmaxCrossEntropy(gpu, shape, small, big, big, big, big), /logits needs 100 words/],
    [() => logSoftmax(gpu, shape, big, small), /output needs 100 words/],
    [() => lossStats(gpu, shape, big, big, small, big), /labels needs 10 words/],
    [() => lossStats(gpu, { batch: 0, classes: 10 }, big, big, big, big), /batch must be a positive integer/],
  ];
  for (const [call, message] of cases) await assertRejects(call, message);
  small.destroy();
  big.destroy();
});

test('the gradient reference agrees with float64 finite differences of the mean loss', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const shape = { batch: 4, classes: 5 };
  const { logits, labels } = randomInputs(rng, shape, 'normal');
  const x = Array.from(logits);
  const meanLoss = (z: number[]) =>
    softmaxCrossEntropyReference(shape, z, labels).sampleLoss.reduce((s, v) => s + v, 0) / shape.batch;
  const numeric = numericGradient(x, () => meanLoss(x), 1e-6);
  assertClose(
    softmaxCrossEntropyReference(shape, x, labels).gradLogits,
    numeric,
    `gradient reference seed=${seed}`,
    1e-7,
  );
});

test.run();
