// Forward passes over a whole split. Predictions and per-sample losses are copied into two big
// buffers on the GPU, batch after batch, and read back once at the end; accuracy, mean loss and the
// confusion matrix are then computed on the host in float64.
import { WaitPacer } from '../gpu/wait.ts';
import { createBuffer, writeBuffer } from '../gpu/buffers.ts';
import { explainGpuFailure, type Gpu } from '../gpu/device.ts';
import { recordDispatches } from '../gpu/kernel.ts';
import type { MnistSplit } from '../data/mnist.ts';
import type { Normalization } from '../kernels/normalize.ts';
import { Network } from '../nn/network.ts';
import type { ModelSpec } from '../nn/spec.ts';
import { batchSizesOf, warmUp } from './warm-up.ts';

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

/**
 * Most bytes of images (and labels) staged on the GPU for one submission. MNIST's 10,000 test images
 * take 7.8 MB and its 60,000 training images 47 MB, so either split is one submission.
 */
export const EVAL_STAGING_BYTES = 128 << 20;

const align4 = (bytes: number) => Math.ceil(bytes / 4) * 4;

/**
 * The batches of a pass over `count` images, grouped into submissions: each group's images, every batch
 * in a 4-byte aligned slot of `batchSize * imageBytes`, fit in `stagingBytes`.
 */
export function evaluationSubmissions(
  count: number,
  batchSize: number,
  imageBytes: number,
  stagingBytes = EVAL_STAGING_BYTES,
): { start: number; size: number }[][] {
  const perSubmission = Math.max(1, Math.floor(stagingBytes / (align4(batchSize * imageBytes) + 4 * batchSize)));
  const groups: { start: number; size: number }[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    if (groups.length === 0 || groups[groups.length - 1].length === perSubmission) groups.push([]);
    groups[groups.length - 1].push({ start, size: Math.min(batchSize, count - start) });
  }
  return groups;
}

/**
 * Evaluates `network` (its current parameters) on every image of `split`, in order. The images are
 * staged on the GPU and the batches recorded into one command buffer (EVAL_STAGING_BYTES per submission),
 * each batch copied into the network's input before its forward pass.
 */
export async function evaluate(
  gpu: Gpu,
  network: Network,
  split: MnistSplit,
  options: { stagingBytes?: number } = {},
): Promise<EvaluationResult> {
  const started = performance.now();
  const { device } = gpu;
  const batchSize = network.options.maxBatch;
  const classes = network.model.classes;
  const imageSize = network.inputSize;
  const usage = 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */
  // Every batch's predictions (u32) then every batch's losses (f32), copied here by the evaluation's own
  // command buffers and mapped once at the end: no readback submission of its own.
  const lossesAt = Math.ceil(split.count / 2) * 8; // getMappedRange offsets are multiples of 8
  const results = createBuffer(gpu, {
    label: 'eval.results',
    size: Math.max(16, Math.ceil(lossesAt / 8) * 16),
    usage: 0x1 /* MAP_READ */ | 0x8,
  });
  const submissions = evaluationSubmissions(split.count, batchSize, imageSize, options.stagingBytes);
  const slotBytes = align4(batchSize * imageSize);
  const perSubmission = submissions[0].length;
  const stagedPixels = createBuffer(gpu, {
    label: 'eval.staged pixels',
    size: Math.max(16, perSubmission * slotBytes),
    usage,
  });
  const stagedLabels = createBuffer(gpu, {
    label: 'eval.staged labels',
    size: Math.max(16, perSubmission * batchSize * 4),
    usage,
  });
  try {
    // Milliseconds per image: the last evaluation's on this device and batch size. Where waits poll and
    // there is none yet, the first batch goes alone and is timed, and the rest is paced by it.
    const pacer = new WaitPacer(gpu, `evaluation/${network.model.name}/${batchSize}`, PACE);
    const learnFirst = pacer.paces && pacer.msPerUnit === undefined && split.count > batchSize;
    let submittedAt = 0;
    for (const group of submissions) {
      for (const [slot, { start, size }] of group.entries()) {
        const pixels = split.images.subarray(start * imageSize, (start + size) * imageSize);
        writeBuffer(gpu, stagedPixels, pixels, slot * slotBytes);
        writeBuffer(
          gpu,
          stagedLabels,
          Uint32Array.from(split.labels.subarray(start, start + size)),
          slot * batchSize * 4,
        );
      }
      const record = async (batches: typeof group, firstSlot: number) => {
        const encoder = device.createCommandEncoder({ label: `eval batches at ${batches[0].start}` });
        for (const [i, { start, size }] of batches.entries()) {
          const slot = firstSlot + i;
          const plan = await network.plan(size);
          encoder.copyBufferToBuffer(stagedPixels, slot * slotBytes, network.pixels, 0, align4(size * imageSize));
          encoder.copyBufferToBuffer(stagedLabels, slot * batchSize * 4, network.labels, 0, size * 4);
          const pass = encoder.beginComputePass({ label: `eval forward at ${start}` });
          recordDispatches(pass, plan.evaluationStep);
          pass.end();
          encoder.copyBufferToBuffer(network.predictions, 0, results, start * 4, size * 4);
          encoder.copyBufferToBuffer(network.sampleLoss, 0, results, lossesAt + start * 4, size * 4);
        }
        device.queue.submit([encoder.finish()]);
      };
      if (learnFirst && submittedAt === 0) {
        await record(group.slice(0, 1), 0);
        submittedAt = performance.now();
        await pacer.wait(submittedAt, group[0].size, () => device.queue.onSubmittedWorkDone());
        if (group.length > 1) await record(group.slice(1), 1);
      } else {
        await record(group, 0);
        submittedAt ||= performance.now();
      }
      // The next group overwrites the staged images: the GPU must be done with these first.
      if (group !== submissions[submissions.length - 1]) await device.queue.onSubmittedWorkDone();
    }
    // The queue alone, not the mapping, whose own round trip would count as GPU time.
    if (pacer.paces) await pacer.wait(submittedAt, split.count, () => device.queue.onSubmittedWorkDone());
    try {
      await results.mapAsync(0x1, /* READ */ 0, 2 * lossesAt);
    } catch (err) {
      throw await explainGpuFailure(gpu, err, `reading back the evaluation of ${split.count} images`);
    }
    const predictions = new Uint32Array(results.getMappedRange(0, lossesAt).slice(0, 4 * split.count));
    const losses = new Float32Array(results.getMappedRange(lossesAt, lossesAt).slice(0, 4 * split.count));
    results.unmap();
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
    results.destroy();
    stagedPixels.destroy();
    stagedLabels.destroy();
  }
}

/**
 * Evaluates trained weights on every image of `data`: the one evaluation set-up that the library's
 * evaluate and the CLI's eval share. A forward-only network for batches up to `batchSize` (default
 * 1000) is created, its kernels compiled for every batch size the pass runs (inside `setUp`, which
 * eval times), then evaluated and destroyed. The input is normalized with `normalization` (what the
 * weights were trained with), else the data's.
 */
export async function evaluateModel(
  gpu: Gpu,
  model: ModelSpec,
  params: Float32Array,
  data: MnistSplit,
  options: {
    batchSize?: number;
    normalization?: Normalization;
    setUp?: (work: () => Promise<void>) => Promise<void>;
  } = {},
): Promise<EvaluationResult> {
  const maxBatch = Math.min(options.batchSize ?? 1000, data.count);
  const normalization = options.normalization ?? data.normalization;
  let network: Network | undefined;
  const work = async () => {
    network = await Network.create(gpu, model, { maxBatch, training: false, normalization });
    network.setParameters(params);
    await warmUp(gpu, network, batchSizesOf(data.count, maxBatch));
  };
  try {
    await (options.setUp ? options.setUp(work) : work());
    if (!network) throw new Error('evaluateModel: the set-up created no network');
    return await evaluate(gpu, network, data);
  } finally {
    network?.destroy();
  }
}
