// `report`: one self-contained HTML file from a training log and/or a checkpoint (evaluated here on
// the test set, as `eval` does), and with --png the curves and the confusion matrix as PNG files.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { loadMnist } from '../data/mnist.ts';
import { type Gpu, openGpu } from '../gpu/device.ts';
import { readF32 } from '../gpu/buffers.ts';
import { submitDispatches } from '../gpu/kernel.ts';
import { encodePng } from '../io/png.ts';
import { ensureDir, readRegularFile, writeFileAtomic } from '../io/files.ts';
import { checkWriteTarget, type WriteTarget } from '../io/write-target.ts';
import { dispatchesOf, Network } from '../nn/network.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { parameterSpecs } from '../nn/spec.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.ts';
import { evaluate } from '../train/evaluate.ts';
import {
  type EpochRecord,
  type HeaderRecord,
  MAX_LOG_BYTES,
  MetricsLogError,
  parseMetricsLog,
  type StepRecord,
} from '../train/metrics-log.ts';
import type { MnistSplit } from '../data/mnist.ts';
import { type GalleryItem, reportCharts, type ReportData, type ReportEvaluation, reportHtml } from '../viz/report.ts';
import { sceneToPng } from '../viz/raster.ts';
import { intOption, parseCommandArgs, UsageError } from './args.ts';
import {
  DATA_HELP,
  dataOptions,
  datasetOption,
  defaultCheckpointPath,
  DEVICE_HELP,
  deviceOptions,
  gpuOptions,
} from './common.ts';
import { percent } from './progress.ts';
import { FOLDER_DATASET, FOLDER_HELP, folderOptions, loadFolderForCheckpoint } from './folder-data.ts';

export const REPORT_HELP = `Usage: report [options]

Writes one self-contained HTML file (opens from disk, no network): loss and accuracy per epoch and per
logged step, the test confusion matrix as a heatmap with counts, per-class accuracy, the most
confidently misclassified test images, the first convolution's filters, throughput and run settings.
A checkpoint trained on --dataset folder is evaluated on the test pictures of the folder it records
(or --data DIR), split and normalized as training did, with the folder's class names.

Options:
  --log FILE           a log written by train --log (.jsonl or .csv)
  --checkpoint PATH    checkpoint to evaluate on the test set (default: the one the log names, else
                       data/checkpoints/digit.safetensors when no --log is given)
  --out FILE           HTML file to write (default: report.html)
  --png DIR            also write the curves and the confusion matrix as PNG files into DIR
  --overwrite          replace --out and the PNG files if they exist
  --gallery N          misclassified images to show (default: 24)
  --batch-size N       images per forward pass (default: 1000, as eval)
${DATA_HELP}
${FOLDER_HELP}
${DEVICE_HELP}
  -h, --help           show this help`;

export async function reportCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    log: { type: 'string' } as const,
    checkpoint: { type: 'string' } as const,
    out: { type: 'string', default: 'report.html' } as const,
    png: { type: 'string' } as const,
    overwrite: { type: 'boolean', default: false } as const,
    gallery: { type: 'string', default: '24' } as const,
    'batch-size': { type: 'string', default: '1000' } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...dataOptions,
    ...folderOptions,
    ...deviceOptions,
  });
  if (values.help) {
    console.log(REPORT_HELP);
    return 0;
  }
  const device = gpuOptions(values);
  const galleryCount = intOption(values.gallery, 'gallery', 0, 1000);
  const batchSize = intOption(values['batch-size'], 'batch-size', 1, 10000);
  const log = values.log === undefined ? null : readLog(values.log);
  const fromLog = log?.headers[0]?.settings.checkpoint;
  const checkpointPath = values.checkpoint ??
    (typeof fromLog === 'string' && existsSync(fromLog) ? fromLog : log ? undefined : defaultCheckpointPath('digit'));
  if (!log && checkpointPath === undefined) throw new UsageError('give --log FILE and/or --checkpoint PATH');
  // Every file this run writes, checked before the checkpoint is evaluated.
  const target = (what: string): WriteTarget => ({
    what,
    overwrite: values.overwrite,
    inputs: [[values.log, 'the log'], [checkpointPath, 'the checkpoint']],
  });
  checkWriteTarget(values.out!, target('--out'));
  const pngNames = [
    ...(log?.epochs.length ? ['loss-per-epoch', 'accuracy-per-epoch'] : []),
    ...(log?.steps.length ? ['loss-per-step'] : []),
    ...(checkpointPath !== undefined ? ['confusion'] : []),
  ];
  if (values.png !== undefined) {
    for (const name of pngNames) checkWriteTarget(join(values.png, `${name}.png`), target('--png'));
  }
  const checkpoint = checkpointPath === undefined ? null : loadCheckpoint(checkpointPath);
  if (log && checkpoint) refuseMixedRuns(log, checkpoint);

  let evaluation: ReportEvaluation | null = null;
  let gallery: GalleryItem[] = [];
  let dataset: { name: string; classes: readonly string[] } | undefined;
  if (checkpoint) {
    const trainedOn = checkpoint.metadata.dataset;
    const folder = (values.dataset ?? trainedOn) === FOLDER_DATASET;
    let test: MnistSplit;
    if (folder) {
      const loaded = loadFolderForCheckpoint(values.data, checkpoint.model, checkpoint.metadata, {
        skipBadFiles: values['skip-bad-files']!,
        log: (line) => console.error(line),
      });
      test = loaded.data.test;
      dataset = { name: FOLDER_DATASET, classes: loaded.classes };
    } else {
      const preset = datasetOption(values.dataset, trainedOn);
      dataset = preset;
      test = await loadMnist({
        dataset: preset,
        dir: values.data,
        split: 'test',
        verify: !values['no-verify'],
        onProgress: (m) => console.error(m),
      });
    }
    if (trainedOn !== undefined && trainedOn !== dataset.name) {
      console.error(`warning: ${checkpoint.path} was trained on ${trainedOn}, evaluated here on ${dataset.name}`);
    }
    if (test.count === 0) {
      throw new Error(`${test.imagesPath ?? 'the test split'} holds 0 images: nothing to evaluate`);
    }
    const gpu = await openGpu(device);
    try {
      ({ evaluation, gallery } = await evaluateForReport(gpu, checkpoint, test, batchSize, galleryCount));
    } finally {
      await gpu.close();
    }
  }
  const data: ReportData = {
    title: `webgpu-digits report: ${checkpoint?.model.name ?? log?.headers[0]?.model ?? 'run'}`,
    generated: new Date().toISOString(),
    log,
    checkpoint: checkpoint &&
      {
        path: checkpoint.path,
        model: checkpoint.model.name,
        parameters: new ParameterLayout(parameterSpecs(checkpoint.model)).parameterCount,
        metadata: checkpoint.metadata,
      },
    evaluation,
    ...(dataset && dataset.name !== 'mnist' ? { dataset: { name: dataset.name, classes: dataset.classes } } : {}),
    gallery,
    filters: checkpoint ? firstConvFilters(checkpoint) : null,
  };
  ensureDir(dirname(resolve(values.out!))); // not mkdirSync({ recursive }), which spins forever under /proc on Node
  checkWriteTarget(values.out!, target('--out')); // again: a run may have taken the path while we evaluated
  await writeFileAtomic(values.out!, new TextEncoder().encode(reportHtml(data)));
  console.log(`wrote ${values.out}${evaluation ? ` (test accuracy ${percent(evaluation.accuracy)})` : ''}`);
  if (values.png !== undefined) {
    ensureDir(values.png);
    const charts = reportCharts(data);
    for (const name of pngNames) {
      if (!charts[name]) continue;
      const file = join(values.png, `${name}.png`);
      await writeFileAtomic(file, sceneToPng(charts[name]));
      console.log(`wrote ${file}`);
    }
  }
  return 0;
}

/**
 * A log and a checkpoint of two different runs would be reported as one: refuse when what both record
 * (model, seed, batch size, dataset) differs.
 */
function refuseMixedRuns(log: NonNullable<ReportData['log']>, checkpoint: LoadedCheckpoint): void {
  const header = log.headers[0];
  const m = checkpoint.metadata;
  const pairs: [string, unknown, string | undefined][] = [
    ['model', header.model, m.model],
    ['seed', header.seed, m.seed],
    ['batch size', header.settings.batch_size, m.batch_size],
    ['dataset', header.dataset.name, m.dataset],
  ];
  const differ = pairs.filter(([, fromLog, fromCheckpoint]) =>
    fromLog !== undefined && fromCheckpoint !== undefined && String(fromLog) !== fromCheckpoint
  );
  if (differ.length) {
    throw new UsageError(
      `${log.path} and ${checkpoint.path} are of different runs (${
        differ.map(([name, a, b]) => `${name} ${String(a)} in the log, ${b} in the checkpoint`).join('; ')
      }); give the checkpoint of the logged run, or one of them alone`,
    );
  }
}

function readLog(path: string): NonNullable<ReportData['log']> {
  let text: string;
  try {
    text = new TextDecoder().decode(readRegularFile(path, 'Log', '', MAX_LOG_BYTES));
  } catch (err) {
    throw new Error(`cannot read the log: ${(err as Error).message}`);
  }
  return parseReportLog(text, path);
}

/** The records of a log's text, checked line by line (MetricsLogError names the line), grouped for the report. */
export function parseReportLog(text: string, path: string): NonNullable<ReportData['log']> {
  const records = parseMetricsLog(text, path);
  const headers = records.filter((r): r is HeaderRecord => r.type === 'header');
  if (headers.length === 0) {
    throw new MetricsLogError(`${path} has no header record: expected a log written by train --log`);
  }
  return {
    path,
    headers,
    steps: records.filter((r): r is StepRecord => r.type === 'step'),
    epochs: records.filter((r): r is EpochRecord => r.type === 'epoch'),
  };
}

/** `eval`'s numbers (same network, batch size and code), then every image's probabilities for the gallery. */
async function evaluateForReport(
  gpu: Gpu,
  checkpoint: LoadedCheckpoint,
  test: MnistSplit,
  batchSize: number,
  galleryCount: number,
): Promise<{ evaluation: ReportEvaluation; gallery: GalleryItem[] }> {
  const maxBatch = Math.min(batchSize, test.count);
  const network = await Network.create(gpu, checkpoint.model, {
    maxBatch,
    training: false,
    normalization: test.normalization,
  });
  try {
    network.setParameters(checkpoint.params);
    await network.plan(maxBatch);
    const result = await evaluate(gpu, network, test);
    const classes = checkpoint.model.classes;
    const channels = (test.channels ?? 1) as 1 | 3;
    const imageSize = channels * test.rows * test.cols;
    const wrong: { index: number; label: number; predicted: number; probabilities: number[] }[] = [];
    for (let start = 0; start < test.count; start += maxBatch) {
      const n = Math.min(maxBatch, test.count - start);
      network.writeBatch(
        test.images.subarray(start * imageSize, (start + n) * imageSize),
        Uint32Array.from(test.labels.subarray(start, start + n)),
      );
      const plan = await network.plan(n);
      submitDispatches(gpu, dispatchesOf(plan.forward, plan.logProbabilities), 'report');
      const logProbs = await readF32(gpu, network.logProbs, n * classes);
      for (let i = 0; i < n; i++) {
        const index = start + i;
        if (result.predictions[index] === test.labels[index]) continue;
        wrong.push({
          index,
          label: test.labels[index],
          predicted: result.predictions[index],
          probabilities: Array.from(logProbs.subarray(i * classes, (i + 1) * classes), Math.exp),
        });
      }
    }
    wrong.sort((a, b) => b.probabilities[b.predicted] - a.probabilities[a.predicted] || a.index - b.index);
    const gallery = wrong.slice(0, galleryCount).map((w) => ({
      ...w,
      probability: w.probabilities[w.predicted],
      // Gray digits as ink on paper (inverted), color pictures as they are.
      image: pngDataUri(
        test.images.subarray(w.index * imageSize, (w.index + 1) * imageSize),
        test.cols,
        test.rows,
        3,
        channels === 1 ? (v) => 255 - v : (v) => v,
        channels,
      ),
    }));
    const evaluation: ReportEvaluation = {
      split: 'test',
      count: result.count,
      correct: result.correct,
      accuracy: result.accuracy,
      meanLoss: result.meanLoss,
      confusion: result.confusion,
      perClassAccuracy: result.confusion.map((row, label) => row[label] / Math.max(1, row.reduce((a, b) => a + b, 0))),
      imagesPerSecond: result.imagesPerSecond,
      adapter: gpu.adapterName,
    };
    return { evaluation, gallery };
  } finally {
    network.destroy();
  }
}

/**
 * A planar [channels, height, width] image (gray or RGB) scaled up `scale` times (nearest neighbour) as a
 * PNG data URI; `tone` maps each value.
 */
function pngDataUri(
  values: ArrayLike<number>,
  width: number,
  height: number,
  scale: number,
  tone: (v: number) => number,
  channels: 1 | 3 = 1,
): string {
  const [w, h] = [width * scale, height * scale];
  const pixels = new Uint8Array(w * h * channels);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const source = Math.floor(y / scale) * width + Math.floor(x / scale);
      for (let c = 0; c < channels; c++) {
        pixels[(y * w + x) * channels + c] = tone(values[c * width * height + source]);
      }
    }
  }
  const png = encodePng({ width: w, height: h, channels, pixels });
  let binary = '';
  for (let i = 0; i < png.length; i += 0x8000) binary += String.fromCharCode(...png.subarray(i, i + 0x8000));
  return `data:image/png;base64,${btoa(binary)}`;
}

function firstConvFilters(checkpoint: LoadedCheckpoint): ReportData['filters'] {
  const slot = new ParameterLayout(parameterSpecs(checkpoint.model)).slots.find((s) => s.shape.length === 4);
  if (!slot) return null;
  const [out, inChannels, kh, kw] = slot.shape;
  const weights = checkpoint.params.subarray(slot.offset, slot.offset + slot.count);
  const maxAbs = weights.reduce((m, w) => Math.max(m, Math.abs(w)), 1e-12);
  const images: string[] = [];
  // One image per output channel (of its first input channel): gray 0, white positive, black negative.
  for (let o = 0; o < out; o++) {
    const filter = weights.subarray(o * inChannels * kh * kw, o * inChannels * kh * kw + kh * kw);
    images.push(pngDataUri(filter, kw, kh, 12, (v) => Math.round(127.5 + 127.5 * (v / maxAbs))));
  }
  return { images, shape: [...slot.shape], maxAbs };
}
