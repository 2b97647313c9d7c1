// Dispatches shaders/softmax_cross_entropy.wgsl (loss, gradient and predictions, or log-softmax alone)
// and shaders/loss_stats.wgsl (batch loss sum and correct count, for the host to read back).
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, type LossShape } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid, placeholderBuffer } from './checks.ts';

export type { LossShape };

const ROWS_WG = 64;
/** Invocations of the single loss_stats workgroup; a power of two <= MAX_WG in the shader. */
const STATS_WG = 64;

function checkShape(what: string, shape: LossShape): void {
  checkIntegers(what, { batch: shape.batch, classes: shape.classes });
}

async function rowsKernel(gpu: Gpu, shape: LossShape, logSoftmaxOnly: boolean, labelSmoothing = 0) {
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
    throw new RangeError(`softmaxCrossEntropy: label smoothing must be in [0, 1), got ${labelSmoothing}`);
  }
  return getKernel(gpu, {
    shader: 'softmax_cross_entropy',
    bindings: ['read', 'read', 'read_write', 'read_write', 'read_write'],
    constants: {
      BATCH: shape.batch,
      CLASSES: shape.classes,
      LOG_SOFTMAX_ONLY: logSoftmaxOnly ? 1 : 0,
      WG: ROWS_WG,
      ...(labelSmoothing ? { SMOOTHING: labelSmoothing } : {}),
    },
  });
}

/**
 * Cross-entropy of logits [batch, classes] against u32 labels, with a stable log-sum-exp. Overwrites
 * gradLogits = (softmax - onehot) / batch (gradient of the batch-mean loss), sampleLoss = -log_softmax[label]
 * per sample, and predictions = argmax per sample (ties: first index). A label >= classes gives a NaN loss.
 */
export async function softmaxCrossEntropy(
  gpu: Gpu,
  shape: LossShape,
  logits: BufferArg,
  labels: BufferArg,
  gradLogits: BufferArg,
  sampleLoss: BufferArg,
  predictions: BufferArg,
  labelSmoothing = 0,
): Promise<Dispatch[]> {
  const what = 'softmaxCrossEntropy';
  checkShape(what, shape);
  const { batch, classes } = shape;
  checkSize(what, 'logits', logits, batch * classes);
  checkSize(what, 'labels', labels, batch);
  checkSize(what, 'gradLogits', gradLogits, batch * classes);
  checkSize(what, 'sampleLoss', sampleLoss, batch);
  checkSize(what, 'predictions', predictions, batch);
  const kernel = await rowsKernel(gpu, shape, false, labelSmoothing);
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [logits, labels, gradLogits, sampleLoss, predictions]),
    workgroups: grid('softmaxCrossEntropy', ceilDiv(batch, ROWS_WG)),
  }];
}

/** output = log_softmax(logits) per row, [batch, classes]. Overwrites output. */
export async function logSoftmax(
  gpu: Gpu,
  shape: LossShape,
  logits: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  const what = 'logSoftmax';
  checkShape(what, shape);
  checkSize(what, 'logits', logits, shape.batch * shape.classes);
  checkSize(what, 'output', output, shape.batch * shape.classes);
  const kernel = await rowsKernel(gpu, shape, true);
  // This specialization leaves labels, sampleLoss and predictions alone; their slots get stand-ins.
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [
      logits,
      placeholderBuffer(gpu, 0),
      output,
      placeholderBuffer(gpu, 1),
      placeholderBuffer(gpu, 2),
    ]),
    workgroups: grid('logSoftmax', ceilDiv(shape.batch, ROWS_WG)),
  }];
}

/**
 * stats (2 u32 words) = [bitcast<u32>(f32 sum of sampleLoss, in a fixed order), count of predictions ==
 * labels] over the batch. One workgroup; deterministic.
 */
export async function lossStats(
  gpu: Gpu,
  shape: LossShape,
  sampleLoss: BufferArg,
  predictions: BufferArg,
  labels: BufferArg,
  stats: BufferArg,
): Promise<Dispatch[]> {
  const what = 'lossStats';
  checkShape(what, shape);
  checkSize(what, 'sampleLoss', sampleLoss, shape.batch);
  checkSize(what, 'predictions', predictions, shape.batch);
  checkSize(what, 'labels', labels, shape.batch);
  checkSize(what, 'stats', stats, 2);
  const kernel = await getKernel(gpu, {
    shader: 'loss_stats',
    bindings: ['read', 'read', 'read', 'read_write'],
    constants: { BATCH: shape.batch, WG: STATS_WG },
  });
  return [{ kernel, bindGroup: kernel.bind(gpu, [sampleLoss, predictions, labels, stats]), workgroups: [1] }];
}
