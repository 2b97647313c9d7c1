// Opens `train --log FILE` and writes its header record: what ran, where, on what, with which settings.
import { type MnistSplit, resolveDataDir } from '../data/mnist.ts';
import type { Gpu } from '../gpu/device.ts';
import { batchCount } from '../data/batches.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { parameterSpecs } from '../nn/spec.ts';
import { MetricsLog } from '../train/metrics-log.ts';
import type { TrainConfig, TrainState } from '../train/trainer.ts';
import { engineVersion, gitCommit, runtimeVersion } from './run-info.ts';

export interface TrainLogContext {
  every: number;
  gpu: Gpu;
  config: TrainConfig;
  state: TrainState;
  resumed: boolean;
  train: MnistSplit;
  test: MnistSplit | undefined;
  limit: number | undefined;
  dataDir: string | undefined;
  checkpoint: string;
}

export function openMetricsLog(path: string, c: TrainLogContext): MetricsLog {
  const log = new MetricsLog({
    path,
    every: c.every,
    batchesPerEpoch: batchCount(c.train.count, c.config.batchSize),
    resume: c.resumed ? c.state : null,
  });
  const { runtime, version } = runtimeVersion();
  log.header({
    engine: 'webgpu-digits',
    version: engineVersion(),
    commit: gitCommit(),
    runtime,
    runtime_version: version,
    adapter: c.gpu.adapterName,
    device_class: c.gpu.deviceClass,
    detected_device_class: c.gpu.detectedDeviceClass,
    model: c.config.model.name,
    parameters: new ParameterLayout(parameterSpecs(c.config.model)).parameterCount,
    dataset: {
      name: c.train.dataset ?? 'mnist',
      dir: resolveDataDir(c.dataDir, c.train.dataset),
      train_images: c.train.count,
      test_images: c.test?.count ?? null,
      limit: c.limit ?? null,
    },
    settings: {
      epochs: c.config.epochs,
      batch_size: c.config.batchSize,
      lr: c.config.adam.lr,
      adam: c.config.adam,
      shuffle: c.config.shuffle,
      seed: c.config.seed,
      log_every: c.every,
      checkpoint: c.checkpoint,
    },
    seed: c.config.seed,
  });
  return log;
}
