// `eval`: loads a checkpoint and reports accuracy, loss, per-class accuracy and a confusion matrix.
import { firstImages, loadMnist, type MnistSplit } from '../data/mnist.ts';
import { FOLDER_DATASET, FOLDER_HELP, folderOptions, loadFolderForCheckpoint } from './folder-data.ts';
import { openGpu } from '../gpu/device.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { evaluateModel, type EvaluationResult } from '../train/evaluate.ts';
import { type CompileReport, formatCompile, timeCompile } from '../train/warm-up.ts';
import { choiceOption, intOption, parseCommandArgs, UsageError } from './args.ts';
import {
  DATA_HELP,
  dataOptions,
  datasetOption,
  defaultCheckpointPath,
  DEVICE_HELP,
  deviceOptions,
  gpuOptions,
  trainFirstAdvice,
} from './common.ts';
import { className } from '../data/datasets.ts';
import { setUpTuning, TUNE_HELP_LINES, tuneOptions } from './tuning.ts';
import { printPlans } from './plan.ts';
import { emitJson, percent } from './progress.ts';

export const EVAL_HELP = `Usage: eval [options]

Evaluates a checkpoint on the MNIST test set (or the training set) and prints accuracy, mean loss,
per-class accuracy, the confusion matrix and throughput.

Options:
  --checkpoint PATH    checkpoint written by train (default: data/checkpoints/digit.safetensors)
  --split test|train   which split to evaluate (default: test)
  --batch-size N       images per forward pass (default: 1000)
  --limit N            evaluate the first N images of the split only (quick checks)
${DATA_HELP}
${FOLDER_HELP}
${DEVICE_HELP}
  --plan               print how each layer runs on this device at this batch size, then exit
  --json               print one JSON object instead of the report
  --verbose            print the GPU adapter and its limits, and which tile configurations run
${TUNE_HELP_LINES}
  -h, --help           show this help`;

export async function evalCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    checkpoint: { type: 'string' } as const,
    split: { type: 'string', default: 'test' } as const,
    'batch-size': { type: 'string', default: '1000' } as const,
    limit: { type: 'string' } as const,
    json: { type: 'boolean', default: false } as const,
    plan: { type: 'boolean', default: false } as const,
    verbose: { type: 'boolean', default: false } as const,
    ...tuneOptions,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...dataOptions,
    ...folderOptions,
    ...deviceOptions,
  });
  if (values.help) {
    console.log(EVAL_HELP);
    return 0;
  }
  const split = choiceOption(values.split, 'split', ['test', 'train'] as const);
  const batchSize = intOption(values['batch-size'], 'batch-size', 1, 60000);
  const limit = values.limit === undefined ? undefined : intOption(values.limit, 'limit', 1, 60000);
  const path = values.checkpoint ?? defaultCheckpointPath('digit');
  const device = gpuOptions(values);
  const checkpoint = loadCheckpoint(path, { missingAdvice: trainFirstAdvice() });
  const trainedOn = checkpoint.metadata.dataset;
  const folder = (values.dataset ?? trainedOn) === FOLDER_DATASET;
  const folderData = folder
    ? loadFolderForCheckpoint(values.data, checkpoint.model, checkpoint.metadata, {
      skipBadFiles: values['skip-bad-files']!,
      log: (line) => values.json || console.error(line),
    })
    : undefined;
  const dataset = folderData
    ? { name: FOLDER_DATASET, classes: folderData.classes as readonly string[] }
    : datasetOption(values.dataset, trainedOn);
  if (trainedOn !== undefined && trainedOn !== dataset.name) {
    console.error(
      `warning: ${path} was trained on ${trainedOn}, evaluated here on ${dataset.name}: its accuracy says little`,
    );
  }
  if (values.plan) {
    return printPlans(
      checkpoint.model,
      [{ training: false, maxBatch: batchSize }],
      { json: values.json, verbose: values.verbose, tuneCache: values['tune-cache'], device },
    );
  }
  const whole: MnistSplit = folderData ? folderData.data[split] : await loadMnist({
    dataset: folderData ? undefined : dataset.name,
    dir: values.data,
    split,
    verify: !values['no-verify'],
    onProgress: (m) => values.json || console.error(m),
  });
  if (whole.count === 0) {
    throw new Error(`${whole.imagesPath ?? `the ${split} split`} holds 0 images: nothing to evaluate`);
  }
  if (limit !== undefined && limit > whole.count) {
    throw new UsageError(
      `--limit ${limit} is more than the ${whole.count} images in ${whole.imagesPath ?? `the ${split} split`}`,
    );
  }
  const data = limit === undefined ? whole : firstImages(whole, limit);

  const gpu = await openGpu({ ...device, verbose: values.verbose, timestamps: values.tune });
  try {
    const maxBatch = Math.min(batchSize, data.count);
    const tuning = await setUpTuning(gpu, {
      cache: values['tune-cache'],
      tune: values.tune,
      model: checkpoint.model,
      plans: [{ training: false, maxBatch }],
      log: (line) => values.json || console.error(line),
    });
    if (values.verbose) console.error(tuning.description);
    let compile: CompileReport | undefined;
    const result = await evaluateModel(gpu, checkpoint.model, checkpoint.params, data, {
      batchSize: maxBatch,
      setUp: async (work) => void (compile = await timeCompile(gpu, work)),
    });
    if (!compile) throw new Error('eval: the evaluation set up no network');
    if (!values.json) console.error(formatCompile(compile));
    if (values.json) {
      emitJson({
        checkpoint: path,
        model: checkpoint.model.name,
        epoch: Number(checkpoint.metadata.epoch),
        dataset: dataset.name,
        trained_on: trainedOn ?? null,
        classes: dataset.classes,
        split,
        count: result.count,
        correct: result.correct,
        accuracy: result.accuracy,
        mean_loss: result.meanLoss,
        per_class_accuracy: perClassAccuracy(result),
        confusion: result.confusion,
        images_per_second: result.imagesPerSecond,
        seconds: result.seconds,
        compile_seconds: compile.seconds,
        kernels_compiled: compile.kernels,
        adapter: gpu.adapterName,
        device_class: gpu.deviceClass,
      });
    } else {
      console.log(
        formatReport(
          path,
          split,
          checkpoint.metadata.epoch,
          result,
          dataset.name === 'mnist' ? undefined : dataset.classes,
        ),
      );
    }
    return 0;
  } finally {
    await gpu.close();
  }
}

function perClassAccuracy(result: EvaluationResult): number[] {
  return result.confusion.map((row, label) => row[label] / Math.max(1, row.reduce((a, b) => a + b, 0)));
}

/** The report eval prints; `classes` names the rows (MNIST's digits need no names). */
export function formatReport(
  path: string,
  split: string,
  epoch: string | undefined,
  result: EvaluationResult,
  classes?: readonly string[],
): string {
  const named = (label: number) => (classes ? `${label} ${className(classes, label)}` : String(label));
  const width = Math.max(...result.confusion.map((_, label) => named(label).length));
  const lines = [
    `checkpoint ${path}${epoch ? ` (epoch ${epoch})` : ''}, ${split} split: ${result.count} images`,
    `accuracy   ${percent(result.accuracy)} (${result.correct}/${result.count})`,
    `mean loss  ${result.meanLoss.toFixed(4)}`,
    `throughput ${result.imagesPerSecond.toFixed(0)} images/s (${result.seconds.toFixed(2)} s)`,
    '',
    'per-class accuracy:',
    ...perClassAccuracy(result).map((acc, label) => `  ${named(label).padEnd(width)}: ${percent(acc)}`),
    '',
    'confusion matrix (rows: true label, columns: predicted):',
    `${' '.repeat(Math.max(3, width) + 4)}${result.confusion.map((_, i) => String(i).padStart(5)).join('')}`,
    ...result.confusion.map((row, label) =>
      `  ${(classes ? named(label).padEnd(width) : String(label).padStart(3))}  ${
        row.map((n) => String(n).padStart(5)).join('')
      }`
    ),
  ];
  return lines.join('\n');
}
