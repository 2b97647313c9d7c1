import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { join } from 'node:path';
import process from 'node:process';
import { type Batch, batchCount, BatchIterator, epochOrder } from '../../src/data/batches.ts';
import { loadMnist, type MnistSplit, projectRoot } from '../../src/data/mnist.ts';
import { Rng } from '../../src/util/random.ts';
import { assertExactlyEqual, testSeed } from '../helpers/compare.ts';

const test = suite('data/batches');
const realDir = process.env.MNIST_DIR || join(projectRoot(), '..', 'shared', 'mnist');

/** A split of `count` tiny rows x cols images with random pixels and labels. */
function syntheticSplit(rng: Rng, count: number, rows = 3, cols = 2): MnistSplit {
  return {
    images: new Uint8Array(count * rows * cols).map(() => rng.int(256)),
    labels: new Uint8Array(count).map(() => rng.int(10)),
    count,
    rows,
    cols,
  };
}

function assertPermutation(order: Uint32Array, count: number, what: string): void {
  assert.is(order.length, count, `${what}: length`);
  const seen = new Uint8Array(count);
  for (const i of order) {
    assert.ok(i < count && !seen[i], `${what}: index ${i} out of range or repeated`);
    seen[i] = 1;
  }
}

/** Checks that a batch holds exactly the samples order[begin..begin+size) of the split. */
function assertBatchMatches(
  batch: Batch,
  split: MnistSplit,
  order: Uint32Array,
  batchSize: number,
  what: string,
): void {
  const imageSize = split.rows * split.cols;
  const begin = batch.index * batchSize;
  assert.is(batch.pixels.length, batch.size * imageSize, `${what}: pixels length`);
  assert.is(batch.labels.length, batch.size, `${what}: labels length`);
  assertExactlyEqual(batch.sampleIndices, order.subarray(begin, begin + batch.size), `${what}: sample indices`);
  for (let i = 0; i < batch.size; i++) {
    const sample = order[begin + i];
    assert.is(batch.labels[i], split.labels[sample], `${what}: label ${i}`);
    for (let p = 0; p < imageSize; p++) {
      if (batch.pixels[i * imageSize + p] !== split.images[sample * imageSize + p]) {
        assert.unreachable(`${what}: image ${i} (sample ${sample}) differs at pixel ${p}`);
      }
    }
  }
}

test('epochOrder: pinned first indices for seed 0, epoch 0 of 60000 (same on every runtime)', () => {
  assert.equal(Array.from(epochOrder(60000, 0, 0, true).subarray(0, 8)), [
    22732,
    18736,
    59765,
    46278,
    1453,
    30981,
    11967,
    3566,
  ]);
  assert.equal(Array.from(epochOrder(60000, 0, 1, true).subarray(0, 8)), [
    27162,
    34882,
    53485,
    6467,
    19358,
    19934,
    57077,
    55227,
  ]);
  assert.equal(Array.from(epochOrder(10, 0, 0, true)), [1, 2, 3, 9, 6, 4, 5, 0, 7, 8]);
  assert.equal(Array.from(epochOrder(10, 12345, 3, true)), [1, 3, 4, 2, 6, 9, 8, 0, 5, 7]);
});

test('epochOrder: same (seed, epoch) gives the same permutation; other epochs and seeds differ', () => {
  const seed = testSeed();
  const first = epochOrder(60000, seed, 4, true);
  assertPermutation(first, 60000, `seed=${seed}`);
  assertExactlyEqual(epochOrder(60000, seed, 4, true), first, `repeat seed=${seed}`);
  const orders = [
    first,
    epochOrder(60000, seed, 5, true),
    epochOrder(60000, seed, 0, true),
    epochOrder(60000, seed + 1, 4, true),
  ];
  for (let a = 0; a < orders.length; a++) {
    for (let b = a + 1; b < orders.length; b++) {
      const same = orders[a].every((x, i) => x === orders[b][i]);
      assert.not.ok(same, `orders ${a} and ${b} are equal, seed=${seed}`);
    }
  }
  for (const o of orders) assertPermutation(o, 60000, `seed=${seed}`);
});

test('epochOrder: a permutation for small and odd counts; identity without shuffle', () => {
  const seed = testSeed();
  for (const count of [0, 1, 2, 7, 64, 1001]) {
    assertPermutation(epochOrder(count, seed, 1, true), count, `count=${count} seed=${seed}`);
    assert.equal(Array.from(epochOrder(count, seed, 1, false)), Array.from({ length: count }, (_, i) => i));
  }
  assert.throws(() => epochOrder(-1, 0, 0, true), /count/);
  assert.throws(() => epochOrder(10, 0, 1.5, true), /epoch/);
  assert.throws(() => epochOrder(10, NaN, 0, true), /seed/);
});

test('batchCount includes the partial last batch', () => {
  assert.is(batchCount(60000, 64), 938);
  assert.is(60000 - 937 * 64, 32);
  assert.is(batchCount(60000, 1), 60000);
  assert.is(batchCount(10000, 1000), 10);
  assert.is(batchCount(5, 64), 1);
  assert.is(batchCount(0, 64), 0);
  assert.throws(() => batchCount(10, 0), /batch size/);
  assert.throws(() => batchCount(10, 2.5), /batch size/);
});

for (const [count, batchSize] of [[37, 8], [37, 1], [16, 8], [5, 64], [1, 1]] as const) {
  test(`BatchIterator gathers every sample once in order: ${count} samples, batch ${batchSize}`, () => {
    const seed = testSeed();
    const rng = new Rng(seed);
    const split = syntheticSplit(rng, count);
    const order = epochOrder(count, seed, 2, true);
    // Checked as they come: a batch's buffers are reused two batches later.
    const batches: { index: number; size: number }[] = [];
    for (const b of new BatchIterator(split, order, batchSize)) {
      assertBatchMatches(b, split, order, batchSize, `batch ${b.index} seed=${seed}`);
      batches.push({ index: b.index, size: b.size });
    }
    assert.is(batches.length, batchCount(count, batchSize));
    batches.forEach((b, i) => assert.is(b.index, i));
    const sizes = batches.map((b) => b.size);
    assert.is(sizes.reduce((a, b) => a + b, 0), count);
    assert.is(sizes[sizes.length - 1], count % batchSize || batchSize, 'last batch size');
  });
}

test('BatchIterator: unshuffled order copies runs of images, same result', () => {
  const seed = testSeed();
  const split = syntheticSplit(new Rng(seed), 50, 28, 28);
  const order = epochOrder(50, 0, 0, false);
  for (const batch of new BatchIterator(split, order, 16)) {
    assertBatchMatches(batch, split, order, 16, `batch ${batch.index}`);
  }
  const mixed = Uint32Array.of(3, 4, 5, 9, 10, 0, 49, 48, 47, 1);
  for (const batch of new BatchIterator(split, mixed, 4)) {
    assertBatchMatches(batch, split, mixed, 4, `mixed ${batch.index}`);
  }
});

test('BatchIterator: two host buffers used alternately, nothing new per batch', () => {
  const split = syntheticSplit(new Rng(1), 40);
  const iterator = new BatchIterator(split, epochOrder(40, 1, 0, true), 8);
  const seen = [...Array(5)].map(() => iterator.next().value as Batch);
  assert.ok(seen[0].pixels.buffer !== seen[1].pixels.buffer, 'consecutive batches share a buffer');
  assert.ok(seen[0].pixels.buffer === seen[2].pixels.buffer && seen[1].pixels.buffer === seen[3].pixels.buffer);
  assert.ok(
    seen[0].labels.buffer === seen[4].labels.buffer && seen[0].sampleIndices.buffer === seen[2].sampleIndices.buffer,
  );
  assert.ok(seen[0].pixels === seen[2].pixels, 'full batches reuse the same view');
  assert.ok(iterator.next().done);
});

test('BatchIterator: startBatch resumes mid-epoch with the same batches', () => {
  const seed = testSeed();
  const split = syntheticSplit(new Rng(seed), 45);
  const order = epochOrder(45, seed, 7, true);
  const summary = (iterator: BatchIterator) => {
    const out = [];
    for (const b of iterator) {
      out.push({ index: b.index, size: b.size, indices: Array.from(b.sampleIndices), pixels: Array.from(b.pixels) });
    }
    return out;
  };
  const full = summary(new BatchIterator(split, order, 8));
  for (const start of [0, 3, 5, 6]) {
    const resumed = summary(new BatchIterator(split, order, 8, { startBatch: start }));
    assert.equal(resumed, full.slice(start), `startBatch ${start} seed=${seed}`);
  }
  assert.throws(() => new BatchIterator(split, order, 8, { startBatch: 7 }), /startBatch/);
  assert.throws(() => new BatchIterator(split, order, 8, { startBatch: -1 }), /startBatch/);
});

test('BatchIterator rejects an order pointing past the split and mismatched split arrays', () => {
  const split = syntheticSplit(new Rng(2), 10);
  assert.throws(() => new BatchIterator(split, Uint32Array.of(0, 10), 4), /order\[1\] = 10/);
  assert.throws(() => new BatchIterator({ ...split, count: 11 }, Uint32Array.of(0), 4), /count 11/);
  assert.throws(() => new BatchIterator(split, Uint32Array.of(0), 0), /batch size/);
});

test('real training set, batch 64: 938 batches, the last of 32, every image once, shuffled', async () => {
  const train = await loadMnist({ dir: realDir, split: 'train', download: false });
  const order = epochOrder(train.count, 0, 0, true);
  const seen = new Uint8Array(train.count);
  let batches = 0;
  let last = 0;
  const started = performance.now();
  for (const batch of new BatchIterator(train, order, 64)) {
    batches++;
    last = batch.size;
    for (const i of batch.sampleIndices) seen[i]++;
    if (batch.index % 97 === 0) assertBatchMatches(batch, train, order, 64, `batch ${batch.index}`);
  }
  const ms = performance.now() - started;
  assert.is(batches, 938);
  assert.is(last, 32);
  assert.ok(seen.every((n) => n === 1), 'some image was skipped or repeated');
  // First batch of seed 0, epoch 0: the labels of the pinned samples.
  const first = new BatchIterator(train, order, 64).next().value as Batch;
  assert.equal(Array.from(first.sampleIndices.subarray(0, 3)), [22732, 18736, 59765]);
  assert.ok(ms < 5000, `one epoch of batches took ${ms.toFixed(0)} ms`);
});

test.run();
