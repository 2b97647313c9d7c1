// `predict`: classifies PNG files of handwritten digits with a trained checkpoint.
import { readRegularFile } from '../io/files.ts';
import { openGpu } from '../gpu/device.ts';
import { decodePng } from '../io/png.ts';
import { DigitImageError, terminalArt, toMnistDigit } from '../io/digit-image.ts';
import { predictImages } from '../nn/predict.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { parseCommandArgs, UsageError } from './args.ts';
import {
  datasetOption,
  defaultCheckpointPath,
  DEVICE_HELP,
  deviceOptions,
  gpuOptions,
  trainFirstAdvice,
} from './common.ts';
import { className } from '../data/datasets.ts';
import { emitJson, percent } from './progress.ts';
import { FOLDER_DATASET, pictureForModel, recordedPreprocessing } from './folder-data.ts';

export const PREDICT_HELP = `Usage: predict [options] IMAGE.png [IMAGE.png ...]

Classifies PNG images of single handwritten digits (or, with a model trained on --dataset folder,
PNG and JPEG pictures, converted to its input channels and size and normalized as it was trained). Any size; grayscale, RGB or RGBA, palette,
8 or 16 bits; dark ink on a light background or light on dark. Each image is converted the way MNIST
digits were made: ink cropped, scaled to fit 20x20, centred by its centre of mass in 28x28.

Options:
  --checkpoint PATH    checkpoint written by train (default: data/checkpoints/digit.safetensors)
  --dataset NAME       whose class names to print (default: the dataset the checkpoint was trained on)
  --show               print each image as the network sees it (28x28) in the terminal
${DEVICE_HELP}
  --json               one JSON object per image on stdout
  -h, --help           show this help`;

export async function predictCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseCommandArgs(argv, {
    checkpoint: { type: 'string' } as const,
    show: { type: 'boolean', default: false } as const,
    json: { type: 'boolean', default: false } as const,
    dataset: { type: 'string' } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...deviceOptions,
  }, true);
  if (values.help) {
    console.log(PREDICT_HELP);
    return 0;
  }
  if (positionals.length === 0) throw new UsageError('give at least one PNG file to classify');
  const device = gpuOptions(values);
  const checkpoint = loadCheckpoint(values.checkpoint ?? defaultCheckpointPath('digit'), {
    missingAdvice: trainFirstAdvice(),
  });
  // A model trained on --dataset folder takes pictures as they are (color, any size), with its recorded constants.
  const folder = checkpoint.metadata.dataset === FOLDER_DATASET;
  const recorded = recordedPreprocessing(checkpoint.metadata);
  const dataset = folder
    ? { name: FOLDER_DATASET, classes: recorded.classes as readonly string[] | undefined }
    : datasetOption(values.dataset, checkpoint.metadata.dataset);
  // MNIST's classes are the digits themselves: printed as before, without a name beside them.
  const named = (
    label: number,
  ) => (dataset.name === 'mnist' ? String(label) : `${label} ${className(dataset.classes, label)}`);
  const [channels, height, width] = checkpoint.model.input;
  if (!folder && (channels !== 1 || height !== 28 || width !== 28)) {
    throw new Error(
      `predict needs a model with 1x28x28 input; ${checkpoint.path} expects ${channels}x${height}x${width}`,
    );
  }
  // Decode every file first: a bad image is reported before the GPU starts.
  const digits = positionals.map((file) => {
    const bytes = readRegularFile(file, 'Image');
    try {
      if (folder) return { file, pixels: pictureForModel(bytes, file, checkpoint.model) };
      return { file, pixels: toMnistDigit(decodePng(bytes, file)) };
    } catch (err) {
      // decodePng names the file; the digit conversion ("the picture is blank") does not.
      if (err instanceof DigitImageError) throw new Error(`${file}: ${err.message}`);
      throw err;
    }
  });

  const size = channels * height * width;
  const pixels = new Uint8Array(digits.length * size);
  digits.forEach((d, i) => pixels.set(d.pixels, i * size));
  const gpu = await openGpu(device);
  let predictions;
  try {
    predictions = await predictImages(gpu, checkpoint.model, checkpoint.params, pixels, {
      normalization: recorded.normalization,
    });
  } finally {
    await gpu.close();
  }
  digits.forEach(({ file, pixels: digit }, i) => {
    const { class: predicted, probabilities } = predictions[i];
    if (values.json) {
      emitJson({
        file,
        digit: predicted,
        class: className(dataset.classes, predicted),
        dataset: dataset.name,
        probability: probabilities[predicted],
        probabilities,
      });
      return;
    }
    if (values.show) console.log(terminalArt(digit.subarray(0, height * width), width, height));
    const ranked = probabilities.map((p, d) => [d, p] as const).sort((a, b) => b[1] - a[1]).slice(0, 3);
    console.log(
      `${file}: ${named(predicted)} (${percent(probabilities[predicted])})   next: ` +
        ranked.slice(1).map(([d, p]) => `${named(d)} ${percent(p)}`).join(', '),
    );
  });
  return 0;
}
