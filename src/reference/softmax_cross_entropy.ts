// CPU references of shaders/softmax_cross_entropy.wgsl and shaders/loss_stats.wgsl, in float64.
import type { LossShape } from '../util/shapes.ts';

/** First index of the row maximum; a NaN counts as the maximum (torch.argmax). */
function argmaxRow(logits: ArrayLike<number>, base: number, classes: number): number {
  let best = 0;
  for (let j = 1; j < classes; j++) {
    const v = logits[base + j];
    if (!Number.isNaN(logits[base + best]) && (v > logits[base + best] || Number.isNaN(v))) best = j;
  }
  return best;
}

/**
 * Per-row log-softmax, log-sum-exp taken around the row max: log(sum) = log1p(sum of the other terms), as
 * even float64 would lose a confident row's tiny loss in log(1 + 1e-13).
 */
export function logSoftmaxReference(shape: LossShape, logits: ArrayLike<number>): Float64Array {
  const { batch, classes } = shape;
  const out = new Float64Array(batch * classes);
  for (let n = 0; n < batch; n++) {
    const base = n * classes;
    const top = argmaxRow(logits, base, classes);
    const max = logits[base + top];
    let rest = 0;
    for (let j = 0; j < classes; j++) if (j !== top) rest += Math.exp(logits[base + j] - max);
    const logSum = Math.log1p(rest);
    for (let j = 0; j < classes; j++) out[base + j] = logits[base + j] - max - logSum;
  }
  return out;
}

/** Per-sample loss -log_softmax[label], gradient of the batch-mean loss, and argmax predictions. */
export function softmaxCrossEntropyReference(
  shape: LossShape,
  logits: ArrayLike<number>,
  labels: ArrayLike<number>,
  labelSmoothing = 0,
): { gradLogits: Float64Array; sampleLoss: Float64Array; predictions: Uint32Array } {
  const { batch, classes } = shape;
  const logProbs = logSoftmaxReference(shape, logits);
  const gradLogits = new Float64Array(batch * classes);
  const sampleLoss = new Float64Array(batch);
  const predictions = new Uint32Array(batch);
  for (let n = 0; n < batch; n++) {
    const base = n * classes;
    const label = labels[n];
    const valid = label < classes;
    // The target: (1 - smoothing) onehot + smoothing / classes, as PyTorch's label_smoothing.
    const target = (j: number) => (valid && j === label ? 1 - labelSmoothing : 0) + labelSmoothing / classes;
    let loss = 0;
    for (let j = 0; j < classes; j++) loss -= target(j) * logProbs[base + j];
    sampleLoss[n] = valid ? loss : NaN;
    predictions[n] = argmaxRow(logits, base, classes);
    for (let j = 0; j < classes; j++) {
      gradLogits[base + j] =
        (Math.exp(logProbs[base + j]) - (labelSmoothing ? target(j) : valid && j === label ? 1 : 0)) / batch;
    }
  }
  return { gradLogits, sampleLoss, predictions };
}

/** Sum of the per-sample losses and the number of correct predictions. */
export function lossStatsReference(
  sampleLoss: ArrayLike<number>,
  predictions: ArrayLike<number>,
  labels: ArrayLike<number>,
): { lossSum: number; correct: number } {
  let lossSum = 0;
  let correct = 0;
  for (let n = 0; n < sampleLoss.length; n++) {
    lossSum += sampleLoss[n];
    if (predictions[n] === labels[n]) correct++;
  }
  return { lossSum, correct };
}
