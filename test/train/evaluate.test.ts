// evaluate(): the whole split staged on the GPU and run in few submissions gives, image for image,
// what running each batch on its own gives.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readF32, readU32 } from '../../src/gpu/buffers.ts';
import { submitDispatches } from '../../src/gpu/kernel.ts';
import { Network } from '../../src/nn/network.ts';
import { initParameters } from '../../src/nn/parameters.ts';
import { DIGIT } from '../../src/nn/spec.ts';
import { EVAL_STAGING_BYTES, evaluate, evaluationSubmissions } from '../../src/train/evaluate.ts';
import { Rng } from '../../src/util/random.ts';
import { assertExactlyEqual, testSeed } from '../helpers/compare.ts';
import { sharedGpu } from '../helpers/gpu.ts';
import { testSplit } from '../helpers/mnist.ts';

const test = suite('evaluate');

test('evaluationSubmissions covers every image once, in order, each group within its staging budget', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  for (let trial = 0; trial < 200; trial++) {
    const count = 1 + rng.int(3000);
    const batchSize = 1 + rng.int(300);
    const imageBytes = 1 + rng.int(800);
    const stagingBytes = 1 + rng.int(400_000);
    const groups = evaluationSubmissions(count, batchSize, imageBytes, stagingBytes);
    const what = `count ${count}, batch ${batchSize}, ${imageBytes} B/image, budget ${stagingBytes} (seed ${seed})`;
    let next = 0;
    for (const group of groups) {
      assert.ok(group.length >= 1, `${what}: no empty group`);
      const slot = Math.ceil((batchSize * imageBytes) / 4) * 4 + 4 * batchSize;
      assert.ok(
        group.length === 1 || group.length * slot <= stagingBytes,
        `${what}: ${group.length} batches of ${slot} B fit the budget`,
      );
      for (const { start, size } of group) {
        assert.is(start, next, what);
        assert.is(size, Math.min(batchSize, count - start), what);
        next += size;
      }
    }
    assert.is(next, count, `${what}: every image`);
    assert.ok(
      groups.slice(0, -1).every((g) => g.length === groups[0].length),
      `${what}: all groups but the last are full`,
    );
  }
  const mnistTest = evaluationSubmissions(10_000, 1000, 784);
  const mnistTrain = evaluationSubmissions(60_000, 1000, 784);
  assert.is(mnistTest.length, 1, `MNIST's test set is one submission at ${EVAL_STAGING_BYTES} B`);
  assert.is(mnistTrain.length, 1, 'so is its training set');
});

test('evaluate in one or several submissions equals each batch run alone, ragged last batch included', async () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const gpu = await sharedGpu();
  const data = await testSplit('test');
  const maxBatch = 24;
  const count = 3 * maxBatch + 1 + rng.int(maxBatch - 1); // a ragged last batch
  const first = rng.int(data.count - count);
  const size = DIGIT.input.reduce((a, b) => a * b, 1);
  const split = {
    ...data,
    count,
    images: data.images.subarray(first * size, (first + count) * size),
    labels: data.labels.subarray(first, first + count),
  };
  const network = await Network.create(gpu, DIGIT, { maxBatch, training: false });
  try {
    network.setParameters(initParameters(network.layout, seed));
    // Each batch alone, as the evaluation before staging did it.
    const predictions = new Uint32Array(count);
    const losses = new Float32Array(count);
    for (let start = 0; start < count; start += maxBatch) {
      const n = Math.min(maxBatch, count - start);
      network.writeBatch(
        split.images.slice(start * size, (start + n) * size),
        Uint32Array.from(split.labels.subarray(start, start + n)),
      );
      submitDispatches(gpu, (await network.plan(n)).evaluationStep);
      predictions.set(await readU32(gpu, network.predictions, n), start);
      losses.set(await readF32(gpu, network.sampleLoss, n), start);
    }
    let correct = 0;
    let lossSum = 0;
    for (let i = 0; i < count; i++) {
      if (predictions[i] === split.labels[i]) correct++;
      lossSum += losses[i];
    }
    // One submission; then two batches per submission (three submissions, the last with the ragged batch).
    for (const stagingBytes of [undefined, 2 * (Math.ceil((maxBatch * size) / 4) * 4 + 4 * maxBatch)]) {
      const what = `${count} images from ${first}, batch ${maxBatch}, staging ${
        stagingBytes ?? 'default'
      } (seed ${seed})`;
      const result = await evaluate(gpu, network, split, { stagingBytes });
      assertExactlyEqual(result.predictions, predictions, `${what}: predictions`);
      assert.is(result.correct, correct, `${what}: correct`);
      assert.is(result.meanLoss, lossSum / count, `${what}: mean loss`);
      assert.is(result.confusion.flat().reduce((a, b) => a + b, 0), count, `${what}: confusion counts every image`);
    }
  } finally {
    network.destroy();
  }
});

test.run();
