// The GPU-class kernels' speed on a CPU driver (bench/run.ts): a sanity figure, not a GPU figure.
// lavapipe runs the workgroup-tiled kernels far below its own kernels' speed, but a change that makes
// one of them pathologically slow (a spill, a lost unroll) shows here before it reaches a GPU. Opens
// its own device with deviceClass 'discrete-gpu' and measures what bench/run.ts measures for the
// adapter's class: a training window, evaluation of the test set, and the step's slowest ops.
import type { MnistSplit } from '../src/data/mnist.ts';
import { openGpu, type OpenGpuOptions } from '../src/gpu/device.ts';
import { ADAM_DEFAULTS } from '../src/kernels/adam.ts';
import { Network } from '../src/nn/network.ts';
import { initParameters, ParameterLayout } from '../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../src/nn/spec.ts';
import { evaluate } from '../src/train/evaluate.ts';
import { profileTrainingStep } from '../src/train/profile.ts';
import { initialState, train, type TrainConfig } from '../src/train/trainer.ts';

export interface GpuClassFigures {
  device_class: 'discrete-gpu';
  train_images_per_second: number;
  train_step_ms: number;
  train_measured_seconds: number;
  eval_images_per_second: number;
  kernel_ms_per_step: number;
  /** The three slowest ops of a training step (timestamp queries where the adapter has them). */
  slowest_ops: { name: string; milliseconds: number }[];
}

/** Trains `digit` for `seconds` (after 10 warm-up steps) and evaluates the test set once, with the GPU-class kernels. */
export async function measureGpuClass(
  device: Pick<OpenGpuOptions, 'adapter' | 'powerPreference'>,
  trainSplit: MnistSplit,
  testSplit: MnistSplit,
  options: { seconds: number; batchSize: number },
): Promise<GpuClassFigures> {
  const gpu = await openGpu({ ...device, deviceClass: 'discrete-gpu', timestamps: true });
  try {
    const { batchSize } = options;
    const config: TrainConfig = { model: DIGIT, epochs: 1, batchSize, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };
    const layout = new ParameterLayout(parameterSpecs(DIGIT));
    let steps = 0;
    let state = (await train(gpu, config, trainSplit, initialState(initParameters(layout, 1)), {
      shouldStop: () => ++steps >= 10,
    })).state;
    steps = 0;
    const started = performance.now();
    const deadline = started + options.seconds * 1000;
    state = (await train(gpu, config, trainSplit, state, {
      shouldStop: () => (++steps, performance.now() >= deadline),
    })).state;
    const trainSeconds = (performance.now() - started) / 1000;

    const evalNet = await Network.create(gpu, DIGIT, { maxBatch: 1000, training: false });
    let evalRate: number;
    try {
      evalNet.setParameters(state.params);
      await evaluate(gpu, evalNet, testSplit); // warm-up: compiles and stages
      evalRate = (await evaluate(gpu, evalNet, testSplit)).imagesPerSecond;
    } finally {
      evalNet.destroy();
    }
    const profile = await profileTrainingStep(gpu, config, trainSplit, initialState(initParameters(layout, 1)), 3);
    return {
      device_class: 'discrete-gpu',
      train_images_per_second: (steps * batchSize) / trainSeconds,
      train_step_ms: (1000 * trainSeconds) / steps,
      train_measured_seconds: trainSeconds,
      eval_images_per_second: evalRate,
      kernel_ms_per_step: profile.totalMilliseconds,
      slowest_ops: [...profile.ops].sort((a, b) => b.milliseconds - a.milliseconds).slice(0, 3)
        .map(({ name, milliseconds }) => ({ name, milliseconds })),
    };
  } finally {
    await gpu.close();
  }
}
