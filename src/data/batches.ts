// Epoch order (seeded shuffle) and the batch iterator that gathers images in that order into
// preallocated host buffers, ready to upload.
import { Rng } from '../util/random.ts';
import type { MnistSplit } from './mnist.ts';

export interface Batch {
  /** Position of this batch in the epoch, counting from 0 (also when resumed mid-epoch). */
  index: number;
  /** Images in this batch: the batch size, or fewer for the last batch of an epoch. */
  size: number;
  /** size*rows*cols bytes, image after image. */
  pixels: Uint8Array;
  labels: Uint32Array;
  /** Which images of the split these are, in batch order. */
  sampleIndices: Uint32Array;
}

export interface BatchIteratorOptions {
  /** First batch to yield, to resume an epoch where a checkpoint left it (default 0). */
  startBatch?: number;
}

/** Murmur3's 32-bit finalizer: a bijection that spreads every input bit over the output. */
function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * The order of the `count` samples in `epoch`: a permutation drawn from its own stream, seeded
 * by (seed, epoch), so resuming at epoch k needs no replay of earlier epochs and both runtimes
 * agree (Rng uses only 32-bit integer arithmetic). The epoch is mixed with a constant first so
 * that epoch 0's stream differs from `new Rng(seed)`, which weight initialisation may use.
 * Without `shuffle`, the identity order.
 */
export function epochOrder(count: number, seed: number, epoch: number, shuffle: boolean): Uint32Array {
  if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) {
    throw new RangeError(`epochOrder: count must be a non-negative integer, got ${count}`);
  }
  if (!Number.isInteger(epoch) || epoch < 0) {
    throw new RangeError(`epochOrder: epoch must be a non-negative integer, got ${epoch}`);
  }
  if (!Number.isInteger(seed)) throw new RangeError(`epochOrder: seed must be an integer, got ${seed}`);
  const order = new Uint32Array(count);
  for (let i = 0; i < count; i++) order[i] = i;
  if (shuffle) new Rng((seed ^ mix32(Math.imul(epoch + 1, 0x9e3779b9) ^ 0x5348_5546)) >>> 0).shuffle(order);
  return order;
}

/** Batches in an epoch of `count` samples, the partial last batch included. */
export function batchCount(count: number, batchSize: number): number {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(`batch size must be a positive integer, got ${batchSize}`);
  }
  if (!Number.isInteger(count) || count < 0) {
    throw new RangeError(`sample count must be a non-negative integer, got ${count}`);
  }
  return Math.ceil(count / batchSize);
}

interface Slot {
  pixels: Uint8Array;
  labels: Uint32Array;
  sampleIndices: Uint32Array;
}

/**
 * Yields the batches of one epoch in `order`. The pixels, labels and indices are gathered into two
 * preallocated sets of buffers used alternately (double buffering): a batch's arrays stay valid
 * while the next batch is prepared, and are overwritten by the one after that. Upload (or copy)
 * a batch before taking two more. Nothing is allocated per batch beyond the small Batch object
 * (and, for a partial last batch, views of the right length).
 */
export class BatchIterator implements IterableIterator<Batch> {
  readonly batches: number;
  private readonly imageSize: number;
  private readonly slots: [Slot, Slot];
  private nextBatch: number;

  constructor(
    private readonly split: MnistSplit,
    private readonly order: Uint32Array,
    readonly batchSize: number,
    options: BatchIteratorOptions = {},
  ) {
    this.batches = batchCount(order.length, batchSize);
    const start = options.startBatch ?? 0;
    if (!Number.isInteger(start) || start < 0 || start > this.batches) {
      throw new RangeError(`startBatch must be an integer in [0, ${this.batches}], got ${start}`);
    }
    this.nextBatch = start;
    this.imageSize = (split.channels ?? 1) * split.rows * split.cols;
    if (split.images.length !== split.count * this.imageSize || split.labels.length !== split.count) {
      throw new RangeError(
        `BatchIterator: split arrays do not match count ${split.count} of ${split.rows}x${split.cols} images`,
      );
    }
    for (let i = 0; i < order.length; i++) {
      if (order[i] >= split.count) {
        throw new RangeError(`BatchIterator: order[${i}] = ${order[i]} is past the ${split.count} samples`);
      }
    }
    const capacity = Math.min(batchSize, order.length);
    const slot = (): Slot => ({
      pixels: new Uint8Array(capacity * this.imageSize),
      labels: new Uint32Array(capacity),
      sampleIndices: new Uint32Array(capacity),
    });
    this.slots = [slot(), slot()];
  }

  [Symbol.iterator](): this {
    return this;
  }

  next(): IteratorResult<Batch, undefined> {
    const index = this.nextBatch;
    if (index >= this.batches) return { done: true, value: undefined };
    this.nextBatch++;

    const begin = index * this.batchSize;
    const size = Math.min(this.batchSize, this.order.length - begin);
    const slot = this.slots[index & 1];
    const full = size === slot.labels.length;
    const pixels = full ? slot.pixels : slot.pixels.subarray(0, size * this.imageSize);
    const labels = full ? slot.labels : slot.labels.subarray(0, size);
    const sampleIndices = full ? slot.sampleIndices : slot.sampleIndices.subarray(0, size);
    this.gather(begin, size, pixels, labels, sampleIndices);
    return { done: false, value: { index, size, pixels, labels, sampleIndices } };
  }

  /** Copies samples order[begin..begin+size), one set() per run of consecutive indices. */
  private gather(
    begin: number,
    size: number,
    pixels: Uint8Array,
    labels: Uint32Array,
    sampleIndices: Uint32Array,
  ): void {
    const { images, labels: allLabels } = this.split;
    const order = this.order;
    const imageSize = this.imageSize;
    let i = 0;
    while (i < size) {
      const first = order[begin + i];
      let run = 1;
      while (i + run < size && order[begin + i + run] === first + run) run++;
      pixels.set(images.subarray(first * imageSize, (first + run) * imageSize), i * imageSize);
      for (let k = 0; k < run; k++) {
        sampleIndices[i + k] = first + k;
        labels[i + k] = allLabels[first + k];
      }
      i += run;
    }
  }
}
