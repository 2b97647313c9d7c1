// Forward passes over a whole split. Predictions and per-sample losses are copied into two big
// buffers on the GPU, batch after batch, and read back once at the end; accuracy, mean loss and the
// confusion matrix are then computed on the host in float64.
import type { Gpu } from '../gpu/device.ts';
import { WaitPacer } from '../gpu/wait.ts';
import { createBuffer, readF32, readU32 } from '../gpu/buffers.ts';
import { recordDispatches } from '../gpu/kernel.ts';
import type { MnistSplit } from '../data/mnist.ts';
import type { Network } from '../nn/network.ts';

export interface EvaluationResult {
  count: number;
  correct: number;
  accuracy: number;
  meanLoss: number;
  /** confusion[label][predicted] */
  confusion: number[][];
  predictions: Uint32Array;
  seconds: number;
  imagesPerSecond: number;
}

/** No work is queued behind an evaluation's last batch, so a sleep that outlasts it idles the GPU: sleep less. */
const PACE = { share: 0.95, smoothing: 1, overshoot: 0.9 };

/** Evaluates `network` (its current parameters) on every image of `split`, in order. */
export async function evaluate(gpu: Gpu, network: Network, split: MnistSplit): Promise<EvaluationResult> {
  const started = performance.now();
  const { device } = gpu;
  const batchSize = network.options.maxBatch;
  const classes = network.model.classes;
  const imageSize = network.inputSize;
  const usage = 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */
  const size = Math.max(16, Math.ceil(split.count / 4) * 16);
  const allPredictions = createBuffer(gpu, { label: 'eval.predictions', size, usage });
  const allLosses = createBuffer(gpu, { label: 'eval.losses', size, usage });
  const labels = new Uint32Array(batchSize);
  try {
    // Milliseconds per image: the last evaluation's on this device and batch size; the first one times
    // its first batch alone and goes by that.
    const pacer = new WaitPacer(gpu, `evaluation/${network.model.name}/${batchSize}`, PACE);
    let submittedAt = 0;
    for (let start = 0; start < split.count; start += batchSize) {
      const n = Math.min(batchSize, split.count - start);
      const plan = await network.plan(n);
      for (let i = 0; i < n; i++) labels[i] = split.labels[start + i];
      network.writeBatch(split.images.subarray(start * imageSize, (start + n) * imageSize), labels.subarray(0, n));
      const encoder = device.createCommandEncoder({ label: `eval batch at ${start}` });
      const pass = encoder.beginComputePass({ label: 'eval forward' });
      recordDispatches(pass, plan.evaluationStep);
      pass.end();
      encoder.copyBufferToBuffer(network.predictions, 0, allPredictions, start * 4, n * 4);
      encoder.copyBufferToBuffer(network.sampleLoss, 0, allLosses, start * 4, n * 4);
      device.queue.submit([encoder.finish()]);
      if (start > 0) continue;
      submittedAt = performance.now();
      if (pacer.paces && pacer.msPerUnit === undefined && n < split.count) {
        await pacer.wait(submittedAt, n, () => device.queue.onSubmittedWorkDone());
      }
    }
    // The queue alone, not the readbacks, whose own round trips would count as GPU time.
    if (pacer.paces) await pacer.wait(submittedAt, split.count, () => device.queue.onSubmittedWorkDone());
    const predictions = await readU32(gpu, allPredictions, split.count);
    const losses = await readF32(gpu, allLosses, split.count);
    const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
    let correct = 0;
    let lossSum = 0;
    for (let i = 0; i < split.count; i++) {
      const label = split.labels[i];
      const predicted = predictions[i];
      if (predicted >= classes) throw new Error(`evaluation produced class ${predicted} for image ${i}`);
      confusion[label][predicted]++;
      if (label === predicted) correct++;
      lossSum += losses[i];
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      count: split.count,
      correct,
      accuracy: correct / split.count,
      meanLoss: lossSum / split.count,
      confusion,
      predictions,
      seconds,
      imagesPerSecond: split.count / seconds,
    };
  } finally {
    allPredictions.destroy();
    allLosses.destroy();
  }
}
