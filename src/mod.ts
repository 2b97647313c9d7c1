/**
 * webgpu-digits as a library: train and run small convolutional networks on 28x28 images with
 * hand-written WebGPU kernels, under Node (Dawn, npm `webgpu`) and Deno (`navigator.gpu`).
 *
 * ```ts
 * import { defineModel, evaluate, loadDataset, openDevice, train } from 'webgpu-digits';
 * const gpu = await openDevice();
 * const model = defineModel({ name: 'tiny', input: [1, 28, 28], classes: 10, layers: [ ... ] });
 * const trained = await train(gpu, model, await loadDataset({ split: 'train' }), { epochs: 1 });
 * console.log((await evaluate(gpu, trained, await loadDataset({ split: 'test' }))).accuracy);
 * await gpu.close();
 * ```
 *
 * @module
 */
import type { Gpu } from './gpu/device.ts';
import { DigitImageError, toMnistDigit } from './io/digit-image.ts';
import { decodePng } from './io/png.ts';
import type { AugmentOptions } from './kernels/augment.ts';
import type { Schedule } from './train/schedule.ts';
import { predictImages, type Prediction } from './nn/predict.ts';
import { initParameters, ParameterLayout } from './nn/parameters.ts';
import { type ModelSpec, parameterSpecs, resolveLayers, shapeSize } from './nn/spec.ts';
import { loadCheckpoint, saveCheckpoint } from './train/checkpoint.ts';
import { trainConfig, type TrainingSettings } from './train/config.ts';
import { evaluateModel, type EvaluationResult } from './train/evaluate.ts';
import {
  type BatchProgress,
  type EpochReport,
  initialState,
  train as trainLoop,
  type TrainConfig,
  type TrainState,
} from './train/trainer.ts';
import { loadMnist, type LoadMnistOptions, type MnistSplit } from './data/mnist.ts';

export {
  type AdapterChoice,
  AdapterSelectionError,
  type AdapterSummary,
  DeviceClassError,
  type Gpu,
  GpuDeviceLostError,
  GpuUnavailableError,
  listAdapters,
  type OpenGpuOptions,
} from './gpu/device.ts';
export {
  DIGIT,
  getModel,
  type LayerSpec,
  MODELS,
  type ModelSpec,
  type ParameterSpec,
  parameterSpecs,
  RECIPES,
  type TrainingRecipe,
} from './nn/spec.ts';
export {
  className,
  DATASET_NAMES,
  type DatasetFile,
  type DatasetPreset,
  DATASETS,
  FASHION_MNIST,
  getDataset,
  KMNIST,
  MNIST,
} from './data/datasets.ts';
export { firstImages, type MnistSplit as Dataset, resolveDataDir } from './data/mnist.ts';
export { DataError } from './data/idx.ts';
export { CheckpointError } from './train/checkpoint.ts';
export { DEVICE_CLASSES, type DeviceKind as DeviceClass } from './gpu/profile.ts';
export type { AugmentOptions, BatchProgress, EpochReport, EvaluationResult, Prediction, Schedule, TrainingSettings };
export { type ImportedStateDict, importStateDict, StateDictError } from './io/state-dict.ts';
export { exportOnnx } from './io/onnx.ts';
export {
  type FolderPart,
  type ImageFolderDataset,
  type ImageFolderOptions,
  loadImageFolder,
  type SkippedFile,
} from './data/image-folder.ts';
export { datasetFromArrays, type DatasetFromArraysOptions } from './data/arrays.ts';
export type { Normalization } from './kernels/normalize.ts';
import type { Normalization } from './kernels/normalize.ts';

import { openGpu, type OpenGpuOptions } from './gpu/device.ts';

/**
 * Opens a WebGPU device: Deno's or the browser's `navigator.gpu`, or Dawn (npm `webgpu`) under Node.
 * Close it with `gpu.close()` when done, or the process may not exit.
 *
 * @param options `adapter` (a number or part of a name, as {@link listAdapters} gives them),
 *   `powerPreference` ('low-power' | 'high-performance'), `verbose` (adapter and limits to stderr),
 *   `deviceClass` (one of {@link DEVICE_CLASSES}: plan for that class instead of the adapter's own;
 *   'integrated-gpu' and 'discrete-gpu' run the GPU-class kernels; `gpu.deviceClass` says which is used).
 * @throws GpuUnavailableError when there is no adapter (the message says what to install),
 *   AdapterSelectionError when `adapter` names none (the message lists them), and DeviceClassError
 *   when `deviceClass` is no device class (the message lists them).
 */
export function openDevice(options: OpenGpuOptions = {}): Promise<Gpu> {
  return openGpu(options);
}

/**
 * Checks a model description and returns it (frozen). A model is a list of layers ({@link LayerSpec}), each
 * one of these kinds (src/nn/layers/, one module each):
 * - `conv2d` (`name`, `outChannels`, `kernel`, optional `stride`, `padding`)
 * - `relu`
 * - `maxpool2d` (`kernel`, optional `stride`)
 * - `avgpool2d` (optional `kernel`, `stride`; no `kernel`: global average pooling)
 * - `flatten`
 * - `linear` (`name`, `outFeatures`)
 * - `batchnorm2d` (`name`, optional `eps`, `momentum`)
 * - `batchnorm1d` (`name`, optional `eps`, `momentum`)
 * - `dropout` (`p`)
 * - `gelu` (PyTorch's approximate='tanh')
 * - `silu`
 * - `leakyrelu` (optional `slope`, default 0.01)
 * - `tanh`
 * - `sigmoid`
 *
 * The last layer must output `classes` scores. Parameter names follow PyTorch's state_dict (`<name>.weight`, `<name>.bias`).
 *
 * @throws Error naming the layer whose shapes do not fit.
 */
export function defineModel(spec: ModelSpec): ModelSpec {
  if (typeof spec?.name !== 'string' || !/^[\w.-]+$/.test(spec.name)) {
    throw new Error(`defineModel: name must be letters, digits, '_', '.' or '-', got ${JSON.stringify(spec?.name)}`);
  }
  const copy: ModelSpec = JSON.parse(JSON.stringify(spec));
  resolveLayers(copy); // throws on a layer that does not fit
  const names = parameterSpecs(copy).map((p) => p.name);
  const twice = names.find((name, i) => names.indexOf(name) !== i);
  if (twice) {
    throw new Error(`defineModel: ${copy.name} has two parameters named ${twice}; give each layer its own name`);
  }
  return Object.freeze(copy);
}

/** A model with its weights: what `train` returns, `loadModel` reads and `evaluate`/`predict` run. */
export interface TrainedModel {
  model: ModelSpec;
  /** All parameters in one flat array (ParameterLayout order, 256-byte aligned). */
  params: Float32Array;
  /** The dataset it was trained on, where known (recorded in checkpoints). */
  dataset?: string;
  /** Epochs trained. */
  epochs?: number;
  /** The input's per-channel mean and std (from the training data; default MNIST's constants). */
  normalization?: Normalization;
}

/** Options of {@link loadDataset}. */
export interface LoadDatasetOptions {
  /** 'mnist' (default), 'fashion-mnist', 'kmnist', or a DatasetPreset. */
  dataset?: LoadMnistOptions['dataset'];
  split: 'train' | 'test';
  /** Folder with the four IDX files (default: $MNIST_DIR etc., else data/<dataset>/). */
  dir?: string;
  /** Check checksums (default true); false also turns downloads off. */
  verify?: boolean;
  /** Download missing files from the preset's mirrors (default true). */
  download?: boolean;
  /** Only the first `limit` images. */
  limit?: number;
  onProgress?: (message: string) => void;
}

/**
 * Loads one split of a dataset preset as uint8 pixels (count x 28 x 28) and labels, downloading
 * missing files from its mirrors (verified) unless told not to.
 *
 * @throws DataError naming the file, what is wrong and what to do.
 */
export async function loadDataset(options: LoadDatasetOptions): Promise<MnistSplit> {
  const split = await loadMnist(options);
  if (options.limit === undefined) return split;
  if (!Number.isInteger(options.limit) || options.limit < 1 || options.limit > split.count) {
    throw new RangeError(`loadDataset: limit must be an integer in [1, ${split.count}], got ${options.limit}`);
  }
  const size = split.rows * split.cols;
  return {
    ...split,
    count: options.limit,
    images: split.images.subarray(0, options.limit * size),
    labels: split.labels.subarray(0, options.limit),
  };
}

/** Options of {@link train}. */
export interface TrainOptions extends TrainingSettings {
  /** Start from these weights instead of a fresh initialisation (e.g. a loaded model, to fine-tune). */
  initial?: TrainedModel;
  /** Evaluated after every epoch (the result is in the epoch report's `test`). */
  test?: MnistSplit;
  /** Called as batches' statistics come back from the GPU (every few steps). */
  onProgress?: (progress: BatchProgress) => void;
  /** Called after every epoch, with the weights at that point. */
  onEpoch?: (report: EpochReport, model: TrainedModel) => void | Promise<void>;
  /** Polled after every step: true stops training at that step. */
  shouldStop?: () => boolean;
  /** Aborting it stops training at the next step. */
  signal?: AbortSignal;
}

/** What {@link train} returns. */
export interface TrainOutcome extends TrainedModel {
  /** One report per completed epoch. */
  reports: EpochReport[];
  /** True when stopped by `shouldStop` or `signal` before the last epoch ended. */
  stopped: boolean;
}

/**
 * Trains `model` on `data` with Adam and cross-entropy, everything on the GPU (forward, backward,
 * optimizer); returns the trained weights. Same seed, data and settings give the same weights.
 */
export async function train(
  gpu: Gpu,
  model: ModelSpec,
  data: MnistSplit,
  options: TrainOptions = {},
): Promise<TrainOutcome> {
  checkInput(model, data, 'train');
  let config: TrainConfig;
  try {
    config = trainConfig(model, options);
  } catch (err) {
    throw err instanceof RangeError ? new RangeError(`train: ${err.message}`) : err;
  }
  const layout = new ParameterLayout(parameterSpecs(model));
  let params = options.initial?.params;
  if (params && params.length !== layout.totalElements) {
    throw new RangeError(
      `train: initial has ${params.length} parameters, ${model.name} has ${layout.totalElements} (another model?)`,
    );
  }
  params ??= initParameters(layout, config.seed);
  const state: TrainState = initialState(params.slice());
  const dataset = data.dataset;
  const result = await trainLoop(gpu, config, data, state, {
    testSplit: options.test,
    onProgress: options.onProgress,
    shouldStop: () => Boolean(options.signal?.aborted || options.shouldStop?.()),
    onEpoch: options.onEpoch
      ? (report, s) =>
        options.onEpoch!(report, {
          model,
          params: s.params.slice(),
          dataset,
          epochs: s.epoch,
          normalization: data.normalization,
        })
      : undefined,
  });
  return {
    model,
    params: result.state.params,
    dataset,
    epochs: result.state.epoch,
    normalization: data.normalization,
    reports: result.reports,
    stopped: result.stopped,
  };
}

function checkInput(model: ModelSpec, data: MnistSplit, what: string): void {
  const [channels, height, width] = model.input;
  const dataChannels = data.channels ?? 1;
  if (channels !== dataChannels || height !== data.rows || width !== data.cols) {
    throw new RangeError(
      `${what}: ${model.name} takes ${channels}x${height}x${width} inputs, the data is ${dataChannels}x${data.rows}x${data.cols}`,
    );
  }
  if (data.count < 1) throw new RangeError(`${what}: the data holds no images`);
}

/**
 * Evaluates a model on every image of `data`: accuracy, mean loss, confusion matrix
 * (`confusion[label][predicted]`), the predictions, and images/s.
 */
export async function evaluate(
  gpu: Gpu,
  trained: TrainedModel,
  data: MnistSplit,
  options: { batchSize?: number } = {},
): Promise<EvaluationResult> {
  checkInput(trained.model, data, 'evaluate');
  return await evaluateModel(gpu, trained.model, trained.params, data, {
    batchSize: options.batchSize,
    normalization: trained.normalization,
  });
}

/**
 * Classifies images given as pixels: `count x height x width` bytes, 0 = background, 255 = ink
 * (as in MNIST), either one Uint8Array of several images or an array of one image each.
 */
export function predict(
  gpu: Gpu,
  trained: TrainedModel,
  images: Uint8Array | readonly Uint8Array[],
): Promise<Prediction[]> {
  const size = shapeSize(trained.model.input);
  const flat = images instanceof Uint8Array ? images : concat(images, size);
  return predictImages(gpu, trained.model, trained.params, flat, { normalization: trained.normalization });
}

function concat(images: readonly Uint8Array[], size: number): Uint8Array {
  const flat = new Uint8Array(images.length * size);
  images.forEach((image, i) => {
    if (image.length !== size) throw new RangeError(`predict: image ${i} has ${image.length} pixels, expected ${size}`);
    flat.set(image, i * size);
  });
  return flat;
}

/**
 * Turns PNG bytes of one handwritten digit (any size, gray/RGB(A)/palette, either polarity) into the
 * 28x28 pixels MNIST models take: ink cropped, scaled into 20x20, centred by its centre of mass.
 */
export function pngToPixels(png: Uint8Array, source = '<png>'): Uint8Array {
  try {
    return toMnistDigit(decodePng(png, source));
  } catch (err) {
    if (err instanceof DigitImageError) throw new Error(`${source}: ${err.message}`);
    throw err;
  }
}

/** Classifies PNG pictures (bytes of each file) as `predict` does pixel arrays. */
export function predictPng(gpu: Gpu, trained: TrainedModel, pngs: readonly Uint8Array[]): Promise<Prediction[]> {
  return predict(gpu, trained, pngs.map((png, i) => pngToPixels(png, `PNG ${i}`)));
}

/**
 * Writes a model as a checkpoint (safetensors with PyTorch state_dict names, the model description
 * and dataset in its metadata), atomically, creating its folder. `webgpu-digits eval --checkpoint` reads it.
 */
export async function saveModel(path: string, trained: TrainedModel): Promise<void> {
  // The run that made these weights is not known here: its seed, batch size and optimizer go unrecorded.
  await saveCheckpoint(path, {
    config: { model: trained.model },
    state: { params: trained.params, ...(trained.epochs === undefined ? {} : { epoch: trained.epochs }) },
    withOptimizer: false,
    run: {
      ...(trained.dataset ? { dataset: trained.dataset } : {}),
      ...(trained.normalization ? { normalization: JSON.stringify(trained.normalization) } : {}),
    },
  });
}

/** Reads a checkpoint written by `saveModel` or `webgpu-digits train` (verified: names, shapes, digest, finite values). */
export function loadModel(path: string): TrainedModel {
  const loaded = loadCheckpoint(path);
  const epochs = Number(loaded.metadata.epoch);
  return {
    model: loaded.model,
    params: loaded.params,
    dataset: loaded.metadata.dataset,
    epochs: Number.isFinite(epochs) ? epochs : undefined,
    ...(loaded.metadata.normalization
      ? { normalization: JSON.parse(loaded.metadata.normalization) as Normalization }
      : {}),
  };
}
