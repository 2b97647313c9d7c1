// Training in the page: the engine's own trainer (src/train/trainer.ts) on MNIST fetched by the page, with
// the settings `train` takes (a preset's recipe fills in what the form leaves to it, as on the command
// line), live curves drawn with the report's chart code (src/viz), pause, resume and stop, the test
// accuracy after each epoch, the drawing pad following the weights, and the checkpoint to download.
import type { Gpu } from '../src/gpu/device.ts';
import { firstImages } from '../src/data/mnist-split.ts';
import type { MnistSplit } from '../src/data/mnist.ts';
import { MNIST } from '../src/data/datasets.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { DEFAULT_AUGMENT } from '../src/kernels/augment.ts';
import { pageInputOf } from '../src/io/pad-input.ts';
import { checkModelSpec } from '../src/nn/model-file.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { getModel, type ModelSpec, parameterSpecs, RECIPES } from '../src/nn/spec.ts';
import { encodeCheckpoint } from '../src/train/checkpoint-format.ts';
import { type EpochReport, initialState, train, type TrainConfig, type TrainState } from '../src/train/trainer.ts';
import { type ScheduleName } from '../src/train/schedule.ts';
import { createHash } from '../src/util/sha256.ts';
import { lineChart, type Series } from '../src/viz/charts.ts';
import { sceneToSvg } from '../src/viz/svg.ts';
import { download } from './checkpoint-files.ts';
import { fetchMnistSplit, MnistFetchError } from './mnist-fetch.ts';
import type { Pad } from './pad.ts';

/** What tests (and the curious) can read about the run. */
export interface TrainingApi {
  state: 'idle' | 'loading' | 'compiling' | 'training' | 'paused' | 'stopped' | 'done' | 'error';
  message: string;
  epochs: {
    epoch: number;
    trainLoss: number;
    trainAccuracy: number;
    testLoss: number;
    testAccuracy: number;
    imagesPerSecond: number;
  }[];
  /** Images per second over the epochs trained so far (their images over their training time). */
  imagesPerSecond: number;
  /** The state's tensors_sha256 as a checkpoint would record it, once a checkpoint can be downloaded. */
  tensorsSha256: string;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const input = (id: string) => $<HTMLInputElement>(id);

/** The model the form names: a preset, or the model file chosen beside it. */
async function chosenModel(): Promise<{ spec: ModelSpec; preset: boolean }> {
  const choice = $<HTMLSelectElement>('model').value;
  if (choice !== 'file') return { spec: getModel(choice), preset: true };
  const file = input('model-file').files?.[0];
  if (!file) throw new Error('Choose a model file (.json) beside "model file", or pick a preset.');
  let parsed: unknown;
  try {
    parsed = JSON.parse(await file.text());
  } catch (err) {
    throw new Error(
      `${file.name} is not valid JSON (${(err as Error).message}); choose a model file as train --model takes.`,
    );
  }
  return { spec: checkModelSpec(parsed, file.name), preset: false };
}

function numberField(id: string, what: string, integer: boolean, min: number, max: number): number {
  const text = input(id).value.trim();
  const value = Number(text);
  if (text === '' || !Number.isFinite(value) || (integer && !Number.isInteger(value)) || value < min || value > max) {
    throw new Error(`${what} must be ${integer ? 'a whole number' : 'a number'} from ${min} to ${max}, not "${text}".`);
  }
  return value;
}

/** The run the form describes, built as `train` builds it from the same flags. */
async function configFromForm(): Promise<{ config: TrainConfig; limit: number | undefined; mnistUrl: string }> {
  const { spec, preset } = await chosenModel();
  const recipe = preset ? RECIPES.get(spec.name) ?? {} : {};
  const limitText = input('limit').value.trim();
  const scheduleName: ScheduleName = recipe.schedule ?? 'constant';
  const config: TrainConfig = {
    model: spec,
    epochs: numberField('epochs', 'Epochs', true, 1, 100000),
    batchSize: numberField('batch-size', 'Batch size', true, 1, 60000),
    seed: numberField('seed', 'Seed', true, 0, 0xffffffff),
    shuffle: true,
    adam: { ...ADAM_DEFAULTS, lr: numberField('lr', 'Learning rate', false, Number.MIN_VALUE, 1e6), weightDecay: 0 },
    // A step schedule needs --gamma, which no recipe sets; the presets' recipes use cosine or one-cycle.
    schedule: { name: scheduleName } as TrainConfig['schedule'],
    labelSmoothing: 0,
    augment: recipe.augment ? DEFAULT_AUGMENT : undefined,
  };
  const limit = limitText === '' ? undefined : numberField('limit', 'Images', true, 1, 60000);
  const mnistUrl = input('mnist-url').value.trim() || 'mnist/';
  return { config, limit, mnistUrl: mnistUrl.endsWith('/') ? mnistUrl : `${mnistUrl}/` };
}

/** Fills the form with a preset's recipe where it has one, and the tutorial's settings elsewhere (as `train`). */
function applyRecipe(): void {
  const choice = $<HTMLSelectElement>('model').value;
  const recipe = choice === 'file' ? {} : RECIPES.get(choice) ?? {};
  input('epochs').value = String(recipe.epochs ?? 20);
  input('lr').value = String(recipe.lr ?? ADAM_DEFAULTS.lr);
  const extra = [
    recipe.schedule && recipe.schedule !== 'constant' ? `--schedule ${recipe.schedule}` : '',
    recipe.augment ? '--augment' : '',
  ]
    .filter(Boolean);
  $('recipe').textContent = extra.length ? `The ${choice} preset's recipe also sets ${extra.join(' ')}.` : '';
}

export class TrainingPanel {
  readonly api: TrainingApi = { state: 'idle', message: '', epochs: [], imagesPerSecond: NaN, tensorsSha256: '' };
  #pauseRequested = false;
  #stopRequested = false;
  #resume: (() => void) | null = null;
  #data: { url: string; train: MnistSplit; test: MnistSplit } | null = null;
  #last: { config: TrainConfig; state: TrainState; run: Record<string, string> } | null = null;
  #steps: [number, number][] = [];
  #stepAccuracy: [number, number][] = [];
  #batches = 0;

  constructor(readonly gpu: Gpu, readonly pad: Pad) {
    $<HTMLSelectElement>('model').addEventListener('change', () => {
      input('model-file').hidden = $<HTMLSelectElement>('model').value !== 'file';
      applyRecipe();
    });
    applyRecipe();
    $('train').addEventListener('click', () => void this.start());
    $('pause').addEventListener('click', () => this.#togglePause());
    $('stop').addEventListener('click', () => this.#stop());
    $('download').addEventListener('click', () => this.#download(false));
    $('download-optimizer').addEventListener('click', () => this.#download(true));
    this.#buttons();
  }

  #set(state: TrainingApi['state'], message: string): void {
    this.api.state = state;
    this.api.message = message;
    const line = $('train-status');
    line.textContent = message;
    line.className = state === 'error' ? 'error' : '';
    this.#buttons();
  }

  #buttons(): void {
    const s = this.api.state;
    const running = s === 'loading' || s === 'compiling' || s === 'training' || s === 'paused';
    $<HTMLButtonElement>('train').disabled = running;
    $<HTMLButtonElement>('pause').disabled = !(s === 'training' || s === 'paused');
    $('pause').textContent = s === 'paused' ? 'Resume' : 'Pause';
    $<HTMLButtonElement>('stop').disabled = !running;
    const saved = this.#last !== null && (s === 'paused' || s === 'stopped' || s === 'done');
    $<HTMLButtonElement>('download').disabled = !saved;
    $<HTMLButtonElement>('download-optimizer').disabled = !saved;
  }

  #togglePause(): void {
    if (this.api.state === 'paused') {
      this.#resume?.();
    } else {
      this.#pauseRequested = true;
      this.#set('training', 'Pausing at the next step…');
      this.api.state = 'training';
    }
  }

  #stop(): void {
    this.#stopRequested = true;
    this.#resume?.();
  }

  async #loadData(url: string): Promise<{ train: MnistSplit; test: MnistSplit }> {
    if (this.#data?.url === url) return this.#data;
    const progress = (text: string) => this.#set('loading', `${text[0].toUpperCase()}${text.slice(1)} from ${url}…`);
    const trainSplit = await fetchMnistSplit(url, 'train', progress);
    const testSplit = await fetchMnistSplit(url, 'test', progress);
    this.#data = { url, train: trainSplit, test: testSplit };
    return this.#data;
  }

  async start(): Promise<void> {
    this.#pauseRequested = this.#stopRequested = false;
    this.api.epochs = [];
    this.api.imagesPerSecond = NaN;
    this.api.tensorsSha256 = '';
    this.#last = null;
    this.#steps = [];
    this.#stepAccuracy = [];
    this.#drawCharts();
    $('speed').textContent = '';
    try {
      this.#set('loading', 'Reading the settings…');
      const { config, limit, mnistUrl } = await configFromForm();
      const [channels, rows, cols] = config.model.input;
      if (channels !== 1 || rows !== 28 || cols !== 28 || config.model.classes !== 10) {
        throw new Error(
          `${config.model.name} takes [${config.model.input}] with ${config.model.classes} classes; MNIST is [1, 28, 28] with 10.`,
        );
      }
      const data = await this.#loadData(mnistUrl);
      const trainSplit = limit === undefined ? data.train : firstImages(data.train, limit);
      // What `train` records about the data, so `train --resume` accepts the run and `eval` describes it.
      const run: Record<string, string> = {
        dataset: MNIST.name,
        limit: String(limit ?? 'all'),
        train_images: String(trainSplit.count),
        train_sha256: createHash('sha256').update(trainSplit.images).update(trainSplit.labels).digest('hex'),
        device_class: this.gpu.deviceClass,
      };
      const layout = new ParameterLayout(parameterSpecs(config.model));
      let state = initialState(initParameters(layout, config.seed));
      await this.pad.setModel({
        spec: config.model,
        params: state.params,
        page: pageInputOf(config.model, { folder: false }, MNIST.classes),
      });
      await this.#run(config, trainSplit, data.test, state, run, (s) => (state = s));
    } catch (err) {
      const message = err instanceof MnistFetchError ? err.message : `Training failed: ${(err as Error).message}`;
      this.#set('error', message);
    }
  }

  async #run(
    config: TrainConfig,
    trainSplit: MnistSplit,
    testSplit: MnistSplit,
    initial: TrainState,
    run: Record<string, string>,
    keep: (state: TrainState) => void,
  ): Promise<void> {
    const batches = Math.ceil(trainSplit.count / config.batchSize);
    this.#batches = batches;
    let state = initial;
    let seen = 0;
    let seconds = 0;
    const describe = () => `${config.model.name}, epoch ${state.epoch + 1} of ${config.epochs}`;
    for (;;) {
      this.#set('compiling', `Compiling ${config.model.name}'s kernels for ${this.gpu.adapterName}…`);
      const result = await train(this.gpu, config, trainSplit, state, {
        testSplit,
        // The weights come to the page every few steps, for the pad to follow them.
        checkpointEvery: 10,
        onCompiled: () => this.#set('training', `Training ${describe()}…`),
        shouldStop: () => this.#pauseRequested || this.#stopRequested,
        onCheckpoint: (s) => this.pad.setParameters(s.params),
        onProgress: (p) => {
          const step = p.epoch * batches + p.batchesDone;
          this.#steps.push([step, p.loss]);
          this.#stepAccuracy.push([step, p.accuracy]);
          if (Number.isFinite(p.imagesPerSecond)) $('speed').textContent = `${Math.round(p.imagesPerSecond)} images/s`;
          $('progress').textContent = `epoch ${p.epoch + 1}: ${p.batchesDone} of ${p.batches} batches, loss ${
            p.loss.toFixed(4)
          }, accuracy ${(100 * p.accuracy).toFixed(2)} %`;
          this.#drawCharts();
        },
        onEpoch: (report: EpochReport, s) => {
          state = s;
          seen += Math.round(report.imagesPerSecond * report.seconds);
          seconds += report.seconds;
          this.api.imagesPerSecond = seen / seconds;
          this.api.epochs.push({
            epoch: report.epoch,
            trainLoss: report.trainLoss,
            trainAccuracy: report.trainAccuracy,
            testLoss: report.test!.meanLoss,
            testAccuracy: report.test!.accuracy,
            imagesPerSecond: report.imagesPerSecond,
          });
          this.pad.setParameters(s.params);
          this.#keep(config, s, run);
          this.#drawCharts();
          $('speed').textContent = `${Math.round(this.api.imagesPerSecond)} images/s`;
          this.#set(
            'training',
            `Epoch ${report.epoch}: test accuracy ${
              (100 * report.test!.accuracy).toFixed(2)
            } %. Training ${describe()}…`,
          );
        },
      });
      state = result.state;
      keep(state);
      this.#keep(config, state, run);
      this.pad.setParameters(state.params);
      if (!result.stopped) {
        const last = this.api.epochs.at(-1);
        this.#set(
          'done',
          `Done: ${config.epochs} epochs, test accuracy ${last ? (100 * last.testAccuracy).toFixed(2) : '?'} %.`,
        );
        return;
      }
      if (this.#stopRequested) {
        this.#set(
          'stopped',
          `Stopped at ${describe()}, step ${state.step}; download the checkpoint to continue with train --resume.`,
        );
        return;
      }
      this.#pauseRequested = false;
      this.#set('paused', `Paused at ${describe()}, step ${state.step}.`);
      await new Promise<void>((resolve) => (this.#resume = resolve));
      this.#resume = null;
      if (this.#stopRequested) {
        this.#set(
          'stopped',
          `Stopped at ${describe()}, step ${state.step}; download the checkpoint to continue with train --resume.`,
        );
        return;
      }
    }
  }

  #keep(config: TrainConfig, state: TrainState, run: Record<string, string>): void {
    this.#last = { config, state: { ...state }, run };
    this.api.tensorsSha256 = encodeCheckpoint('page.safetensors', { config, state, withOptimizer: false, run }).metadata
      .tensors_sha256;
  }

  #download(optimizer: boolean): void {
    if (!this.#last) return;
    const { config, state, run } = this.#last;
    const name = `${config.model.name}-page.safetensors`;
    const files = encodeCheckpoint(name, { config, state, withOptimizer: true, run });
    if (optimizer) download(files.optimizer!.bytes, files.optimizer!.name);
    else download(files.weights, name);
  }

  #drawCharts(): void {
    const epochs = this.api.epochs;
    const perEpoch = (key: 'trainLoss' | 'testLoss' | 'trainAccuracy' | 'testAccuracy') =>
      epochs.map((e) => [e.epoch, e[key]] as const);
    const loss: Series[] = [
      { name: 'train loss (epoch so far)', color: '#2f6fb0', points: this.#steps.map(([s, l]) => [s, l] as const) },
    ];
    const accuracy: Series[] = [
      { name: 'train accuracy (epoch so far)', color: '#2f6fb0', points: this.#stepAccuracy },
    ];
    const batches = this.#batches;
    if (epochs.length) {
      loss.push({
        name: 'test loss',
        color: '#d9730d',
        markers: true,
        points: perEpoch('testLoss').map(([e, y]) => [e * batches, y]),
      });
      accuracy.push({
        name: 'test accuracy',
        color: '#d9730d',
        markers: true,
        points: perEpoch('testAccuracy').map(([e, y]) => [e * batches, y]),
      });
    }
    $('loss-chart').innerHTML = sceneToSvg(lineChart({
      name: 'page-loss',
      title: 'Loss',
      xLabel: 'step',
      yLabel: 'loss',
      series: loss,
      width: 420,
      height: 260,
    }));
    $('accuracy-chart').innerHTML = sceneToSvg(lineChart({
      name: 'page-accuracy',
      title: 'Accuracy',
      xLabel: 'step',
      yLabel: 'accuracy',
      series: accuracy,
      width: 420,
      height: 260,
      yFormat: (y) => `${(100 * y).toFixed(0)}%`,
    }));
  }
}
