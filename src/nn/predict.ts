// Classifying images with a trained model: the one predict loop that the library (mod.ts), the CLI's
// predict and the browser page share. It imports nothing of Node's or Deno's.
import type { Gpu } from '../gpu/device.ts';
import { readF32 } from '../gpu/buffers.ts';
import { submitDispatches } from '../gpu/kernel.ts';
import type { Normalization } from '../kernels/normalize.ts';
import { dispatchesOf, Network } from './network.ts';
import { type ModelSpec, shapeSize } from './spec.ts';

/** One prediction: the class, its probability, and every class's probability. */
export interface Prediction {
  class: number;
  probability: number;
  probabilities: number[];
}

/** Most images one forward pass takes (forward-only plans below 128 keep the buffer kernels). */
export const PREDICT_MAX_BATCH = 256;

/**
 * Classifies `pixels`, images of the model's input shape one after another (bytes, as the dataset
 * stores them), normalized with `normalization` (default: MNIST's). Throws a RangeError when the
 * bytes are no whole number of images.
 */
export async function predictImages(
  gpu: Gpu,
  model: ModelSpec,
  params: Float32Array,
  pixels: Uint8Array,
  options: { normalization?: Normalization } = {},
): Promise<Prediction[]> {
  const size = shapeSize(model.input);
  if (pixels.length === 0 || pixels.length % size !== 0) {
    throw new RangeError(
      `predict: expected a multiple of ${size} pixels (${model.input.join('x')} per image), got ${pixels.length}`,
    );
  }
  const count = pixels.length / size;
  const classes = model.classes;
  const maxBatch = Math.min(PREDICT_MAX_BATCH, count);
  const network = await Network.create(gpu, model, { maxBatch, training: false, normalization: options.normalization });
  const out: Prediction[] = [];
  try {
    network.setParameters(params);
    for (let start = 0; start < count; start += maxBatch) {
      const n = Math.min(maxBatch, count - start);
      network.writeBatch(pixels.subarray(start * size, (start + n) * size), new Uint32Array(n));
      const plan = await network.plan(n);
      submitDispatches(gpu, dispatchesOf(plan.forward, plan.logProbabilities), 'predict');
      const logProbs = await readF32(gpu, network.logProbs, n * classes);
      for (let i = 0; i < n; i++) {
        const probabilities = Array.from(logProbs.subarray(i * classes, (i + 1) * classes), Math.exp);
        const best = probabilities.indexOf(Math.max(...probabilities));
        out.push({ class: best, probability: probabilities[best], probabilities });
      }
    }
    return out;
  } finally {
    network.destroy();
  }
}
