// CPU references of shaders/batchnorm_*.wgsl (batch norm over [batch, channels, spatial]; batchnorm1d
// is spatial 1), in float64, written the plain way: PyTorch's definitions.

import type { BatchNormShape } from '../util/shapes.ts';

export type { BatchNormShape };

const index = (s: BatchNormShape, n: number, c: number, j: number) => (n * s.channels + c) * s.spatial + j;

/** Batch mean and biased variance per channel. */
export function batchNormStatsReference(
  shape: BatchNormShape,
  input: ArrayLike<number>,
): { mean: Float64Array; variance: Float64Array } {
  const { batch, channels, spatial } = shape;
  const m = batch * spatial;
  const mean = new Float64Array(channels);
  const variance = new Float64Array(channels);
  for (let c = 0; c < channels; c++) {
    let sum = 0;
    for (let n = 0; n < batch; n++) for (let j = 0; j < spatial; j++) sum += input[index(shape, n, c, j)];
    mean[c] = sum / m;
    let squares = 0;
    for (let n = 0; n < batch; n++) {
      for (let j = 0; j < spatial; j++) squares += (input[index(shape, n, c, j)] - mean[c]) ** 2;
    }
    variance[c] = squares / m;
  }
  return { mean, variance };
}

/** PyTorch's running update: momentum-weighted, the variance unbiased (m / (m - 1)). */
export function batchNormRunningReference(
  shape: BatchNormShape,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  runningMean: ArrayLike<number>,
  runningVar: ArrayLike<number>,
): { runningMean: Float64Array; runningVar: Float64Array } {
  const momentum = shape.momentum ?? 0.1;
  const m = shape.batch * shape.spatial;
  const unbias = m / Math.max(m - 1, 1);
  return {
    runningMean: Float64Array.from(runningMean, (r, c) => (1 - momentum) * r + momentum * mean[c]),
    runningVar: Float64Array.from(runningVar, (r, c) => (1 - momentum) * r + momentum * variance[c] * unbias),
  };
}

/** y = (x - mean) / sqrt(var + eps) * weight + bias, with the given statistics (batch or running). */
export function batchNormForwardReference(
  shape: BatchNormShape,
  input: ArrayLike<number>,
  mean: ArrayLike<number>,
  variance: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
): Float64Array {
  const eps = shape.eps ?? 1e-5;
  const out = new Float64Array(input.length);
  for (let i = 0; i < input.length; i++) {
    const c = Math.floor(i / shape.spatial) % shape.channels;
    out[i] = (input[i] - mean[c]) / Math.sqrt(variance[c] + eps) * weight[c] + bias[c];
  }
  return out;
}

/** Training-mode backward (batch statistics): the input, weight and bias gradients. */
export function batchNormBackwardReference(
  shape: BatchNormShape,
  input: ArrayLike<number>,
  weight: ArrayLike<number>,
  gradOutput: ArrayLike<number>,
): { gradInput: Float64Array; gradWeight: Float64Array; gradBias: Float64Array } {
  const { batch, channels, spatial } = shape;
  const eps = shape.eps ?? 1e-5;
  const m = batch * spatial;
  const { mean, variance } = batchNormStatsReference(shape, input);
  const gradWeight = new Float64Array(channels);
  const gradBias = new Float64Array(channels);
  const gradInput = new Float64Array(input.length);
  for (let c = 0; c < channels; c++) {
    const invstd = 1 / Math.sqrt(variance[c] + eps);
    for (let n = 0; n < batch; n++) {
      for (let j = 0; j < spatial; j++) {
        const i = index(shape, n, c, j);
        gradBias[c] += gradOutput[i];
        gradWeight[c] += gradOutput[i] * (input[i] - mean[c]) * invstd;
      }
    }
    for (let n = 0; n < batch; n++) {
      for (let j = 0; j < spatial; j++) {
        const i = index(shape, n, c, j);
        const xhat = (input[i] - mean[c]) * invstd;
        gradInput[i] = weight[c] * invstd * (gradOutput[i] - gradBias[c] / m - xhat * gradWeight[c] / m);
      }
    }
  }
  return { gradInput, gradWeight, gradBias };
}
