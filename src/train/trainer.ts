// The training loop: shuffled batches from the host loader, one command buffer per step (forward,
// loss, backward, Adam), stats read back asynchronously, a test-set evaluation and a checkpoint
// after every epoch. Everything that defines the result (seed, order, step) is in TrainState, so a
// run resumed from a checkpoint continues bit-identically.
import type { Gpu } from '../gpu/device.ts';
import { readF32, writeBuffer } from '../gpu/buffers.ts';
import { recordDispatches, submitDispatches } from '../gpu/kernel.ts';
import { batchCount, BatchIterator, epochOrder } from '../data/batches.ts';
import type { MnistSplit } from '../data/mnist.ts';
import { type AdamOptions, adamUniforms } from '../kernels/adam.ts';
import { Network } from '../nn/network.ts';
import { firstNonFinite } from '../nn/parameters.ts';
import type { ModelSpec } from '../nn/spec.ts';
import type { AugmentOptions } from '../kernels/augment.ts';
import { learningRate, type Schedule } from './schedule.ts';
import { evaluate, type EvaluationResult } from './evaluate.ts';
import { StatsReader, type StepStats } from './stats-reader.ts';
import { batchSizesOf, type CompileReport, timeCompile, warmUp } from './warm-up.ts';

export interface TrainConfig {
  model: ModelSpec;
  epochs: number;
  batchSize: number;
  seed: number;
  shuffle: boolean;
  adam: AdamOptions;
  /** Learning-rate schedule (default constant). */
  schedule?: Schedule;
  /** Cross-entropy label smoothing (default 0). */
  labelSmoothing?: number;
  /** Random affine augmentation of every training batch (default off). */
  augment?: AugmentOptions;
}

/** What a run was trained with beyond Adam's settings, as recorded in checkpoints ({} for a plain run). */
export function trainingOptions(config: TrainConfig): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  if (config.schedule && config.schedule.name !== 'constant') {
    out.schedule = config.schedule;
    // cosine and one-cycle spread over the whole run: its length is part of every step's rate.
    if (config.schedule.name !== 'step') out.epochs = config.epochs;
  }
  if (config.labelSmoothing) out.label_smoothing = config.labelSmoothing;
  if (config.augment) out.augment = config.augment;
  return out;
}

/** Where a run stands. Saved in checkpoints; `params`, `adamM`, `adamV` are flat (layout order). */
export interface TrainState {
  /** Epochs completed. */
  epoch: number;
  /** Next batch to run inside epoch `epoch` (0 at an epoch boundary). */
  batchInEpoch: number;
  /** Optimizer steps taken so far (Adam's t). */
  step: number;
  /** Running totals of the current epoch, so a resumed epoch reports the same numbers. */
  epochLossSum: number;
  epochCorrect: number;
  epochSeen: number;
  params: Float32Array;
  adamM: Float32Array;
  adamV: Float32Array;
}

export interface BatchProgress {
  epoch: number;
  /** Batches of this epoch whose stats have been read back. */
  batchesDone: number;
  batches: number;
  seen: number;
  loss: number;
  accuracy: number;
  /** Images per second since the epoch's first readback; NaN at that first readback (not measured yet). */
  imagesPerSecond: number;
  /** NaN while imagesPerSecond is. */
  etaSeconds: number;
}

export interface EpochReport {
  epoch: number;
  step: number;
  trainLoss: number;
  trainAccuracy: number;
  test: EvaluationResult | null;
  seconds: number;
  imagesPerSecond: number;
}

export interface TrainHooks {
  /** Called once the run's kernels are compiled and warmed, before the first step is timed. */
  onCompiled?(report: CompileReport): void;
  onProgress?(progress: BatchProgress): void;
  onEpoch?(report: EpochReport, state: TrainState): Promise<void> | void;
  /** Polled after every step; true stops the run at the next step boundary (state is then mid-epoch). */
  shouldStop?(): boolean;
  /** Every this many steps, bring the state to the host and call onCheckpoint (bounds what a crash loses). */
  checkpointEvery?: number;
  onCheckpoint?(state: TrainState): Promise<void> | void;
  /** Evaluated after every epoch when given. */
  testSplit?: MnistSplit;
  evalBatchSize?: number;
}

export class NonFiniteLossError extends Error {
  override name = 'NonFiniteLossError';
}

export interface TrainResult {
  state: TrainState;
  stopped: boolean;
  reports: EpochReport[];
}

export async function train(
  gpu: Gpu,
  config: TrainConfig,
  train: MnistSplit,
  initial: TrainState,
  hooks: TrainHooks = {},
): Promise<TrainResult> {
  let network: Network | undefined;
  let evalNetwork: Network | null = null;
  let compile: CompileReport;
  try {
    compile = await timeCompile(gpu, async () => {
      // A batch size above the image count still makes one batch of all of them: size buffers for that.
      network = await Network.create(gpu, config.model, {
        maxBatch: Math.min(config.batchSize, train.count),
        training: true,
        adam: config.adam,
        augment: config.augment,
        labelSmoothing: config.labelSmoothing,
        normalization: train.normalization,
      });
      await warmUp(gpu, network, batchSizesOf(train.count, config.batchSize));
      if (hooks.testSplit) {
        const evalBatch = hooks.evalBatchSize ?? 1000;
        evalNetwork = await Network.create(gpu, config.model, {
          maxBatch: evalBatch,
          training: false,
          normalization: train.normalization,
        });
        evalNetwork.setParameters(initial.params); // runs (and so warms) the weight packing
        await warmUp(gpu, evalNetwork, batchSizesOf(hooks.testSplit.count, evalBatch));
      }
    });
  } catch (err) {
    network?.destroy();
    (evalNetwork as Network | null)?.destroy();
    throw err;
  }
  hooks.onCompiled?.(compile);
  return await runEpochs(gpu, config, train, initial, hooks, network!, evalNetwork);
}

async function runEpochs(
  gpu: Gpu,
  config: TrainConfig,
  train: MnistSplit,
  initial: TrainState,
  hooks: TrainHooks,
  network: Network,
  evalNetwork: Network | null,
): Promise<TrainResult> {
  const reader = new StatsReader(gpu, 16, `${config.model.name}/${config.batchSize}`);
  const state: TrainState = { ...initial };
  const reports: EpochReport[] = [];
  const batches = batchCount(train.count, config.batchSize);

  try {
    const calibration = (await network.plan(Math.min(config.batchSize, train.count))).trainingStep;
    await reader.calibrate(4, () => submitDispatches(gpu, calibration, 'pace calibration'));
    // The warm-up (and calibration) stepped on scratch values: the run starts from its own.
    network.setParameters(state.params, { m: state.adamM, v: state.adamV });
    while (state.epoch < config.epochs) {
      const epochStarted = performance.now();
      const epochStartSeen = state.epochSeen;
      const order = epochOrder(train.count, config.seed, state.epoch, config.shuffle);
      const inFlight: StepMeta[] = [];
      let batchesDone = state.batchInEpoch;

      // The rate counts from the epoch's first readback: before it, the GPU was filling its queue, and
      // stats arrive a readback late, so a rate from the epoch's start would undercount (up to 2x).
      let firstRead: { at: number; seen: number } | null = null;
      const account = async (stats: StepStats[]) => {
        for (const s of stats) {
          const meta = inFlight.shift()!;
          if (!Number.isFinite(s.lossSum)) throw await nonFiniteError(gpu, network, s.lossSum, state.epoch, meta);
          state.epochLossSum += s.lossSum;
          state.epochCorrect += s.correct;
          state.epochSeen += meta.size;
          batchesDone = meta.batch + 1;
        }
        if (stats.length && hooks.onProgress) {
          const now = performance.now();
          firstRead ??= { at: now, seen: state.epochSeen };
          const rate = now > firstRead.at ? (state.epochSeen - firstRead.seen) / ((now - firstRead.at) / 1000) : NaN;
          hooks.onProgress({
            epoch: state.epoch,
            batchesDone,
            batches,
            seen: state.epochSeen,
            loss: state.epochLossSum / state.epochSeen,
            accuracy: state.epochCorrect / state.epochSeen,
            imagesPerSecond: rate,
            etaSeconds: (train.count - state.epochSeen) / rate,
          });
        }
      };

      let stopped = false;
      for (const batch of new BatchIterator(train, order, config.batchSize, { startBatch: state.batchInEpoch })) {
        const plan = await network.plan(batch.size);
        state.step++;
        network.writeBatch(batch.pixels, batch.labels);
        const lr = learningRate(config.schedule ?? { name: 'constant' }, config.adam.lr, {
          step: state.step,
          epoch: state.epoch,
          totalSteps: config.epochs * batches,
        });
        writeBuffer(gpu, network.adamUniforms!, new Uint8Array(adamUniforms({ ...config.adam, lr }, state.step)));
        network.setStep(config.seed, state.step);
        const encoder = gpu.device.createCommandEncoder({ label: `step ${state.step}` });
        const pass = encoder.beginComputePass({ label: `step ${state.step}` });
        recordDispatches(pass, plan.trainingStep);
        pass.end();
        reader.record(encoder, network.stats);
        gpu.device.queue.submit([encoder.finish()]);
        inFlight.push({ batch: batch.index, size: batch.size, step: state.step });
        state.batchInEpoch = batch.index + 1;
        if (reader.full) await account(await reader.flush());
        if (hooks.checkpointEvery && state.step % hooks.checkpointEvery === 0 && state.batchInEpoch < batches) {
          await account(await reader.drain());
          await readState(gpu, network, state);
          await hooks.onCheckpoint?.(state);
        }
        if (hooks.shouldStop?.()) {
          stopped = true;
          break;
        }
      }
      await account(await reader.drain());
      await readState(gpu, network, state);
      if (stopped) return { state, stopped: true, reports };

      const trainSeconds = (performance.now() - epochStarted) / 1000;
      let test: EvaluationResult | null = null;
      if (evalNetwork && hooks.testSplit) {
        evalNetwork.setParameters(state.params);
        test = await evaluate(gpu, evalNetwork, hooks.testSplit);
      }
      const report: EpochReport = {
        epoch: state.epoch + 1,
        step: state.step,
        trainLoss: state.epochLossSum / state.epochSeen,
        trainAccuracy: state.epochCorrect / state.epochSeen,
        test,
        seconds: trainSeconds,
        imagesPerSecond: (state.epochSeen - epochStartSeen) / trainSeconds,
      };
      state.epoch++;
      state.batchInEpoch = 0;
      state.epochLossSum = 0;
      state.epochCorrect = 0;
      state.epochSeen = 0;
      reports.push(report);
      await hooks.onEpoch?.(report, state);
      if (hooks.shouldStop?.()) return { state, stopped: state.epoch < config.epochs, reports };
    }
    return { state, stopped: false, reports };
  } finally {
    reader.destroy();
    network.destroy();
    evalNetwork?.destroy();
  }
}

interface StepMeta {
  batch: number;
  size: number;
  step: number;
}

/** Names the step and the first parameter tensor (layer) whose values or gradients are not finite. */
async function nonFiniteError(
  gpu: Gpu,
  network: Network,
  loss: number,
  epoch: number,
  meta: StepMeta,
): Promise<NonFiniteLossError> {
  const n = network.layout.totalElements;
  const params = await readF32(gpu, network.params, n);
  const grads = await readF32(gpu, network.grads!, n);
  const badParameter = firstNonFinite(network.layout, params);
  const badGradient = firstNonFinite(network.layout, grads);
  const where = badParameter ? `parameter ${badParameter}` : badGradient ? `gradient of ${badGradient}` : 'the logits';
  return new NonFiniteLossError(
    `The loss became ${loss} at step ${meta.step} (epoch ${epoch + 1}, batch ${
      meta.batch + 1
    }); first non-finite values in ` +
      `${where}. Training stopped and the last checkpoint was kept. Try a smaller --lr.`,
  );
}

async function readState(gpu: Gpu, network: Network, state: TrainState): Promise<void> {
  const n = network.layout.totalElements;
  state.params = await readF32(gpu, network.params, n);
  state.adamM = await readF32(gpu, network.adamM!, n);
  state.adamV = await readF32(gpu, network.adamV!, n);
}

/** The state of a fresh run. */
export function initialState(params: Float32Array): TrainState {
  return {
    epoch: 0,
    batchInEpoch: 0,
    step: 0,
    epochLossSum: 0,
    epochCorrect: 0,
    epochSeen: 0,
    params,
    adamM: new Float32Array(params.length),
    adamV: new Float32Array(params.length),
  };
}
