// Where a training step's GPU time goes: each op's (layer's kernel group's) time, achieved GFLOP/s
// and GB/s, from timestamp queries where the adapter has them.
import type { Gpu } from '../gpu/device.ts';
import { profileDispatches } from '../gpu/profiler.ts';
import { Network, type Op } from '../nn/network.ts';
import type { MnistSplit } from '../data/mnist.ts';
import type { TrainConfig, TrainState } from './trainer.ts';

export interface OpProfile {
  name: string;
  milliseconds: number;
  flops: number;
  gflops: number;
  gbytesPerSecond: number;
  kernels: string[];
}

export interface StepProfile {
  method: string;
  ops: OpProfile[];
  totalMilliseconds: number;
  /** Arithmetic of all ops (multiply-add = 2). */
  totalFlops: number;
}

export async function profileOps(
  gpu: Gpu,
  ops: readonly Op[],
  repeats = 5,
  beforeEach?: () => void,
): Promise<StepProfile> {
  const dispatches = ops.flatMap((op) => op.dispatches);
  const { method, timings } = await profileDispatches(gpu, dispatches, repeats, beforeEach);
  let index = 0;
  const rows = ops.map((op) => {
    let ms = 0;
    for (let i = 0; i < op.dispatches.length; i++) ms += timings[index++].milliseconds;
    const seconds = Math.max(ms, 1e-6) / 1000;
    return {
      name: op.name,
      milliseconds: ms,
      flops: op.flops,
      gflops: op.flops / seconds / 1e9,
      gbytesPerSecond: op.bytes / seconds / 1e9,
      kernels: op.dispatches.map((d) => d.kernel.label),
    };
  });
  rows.sort((a, b) => b.milliseconds - a.milliseconds);
  return {
    method,
    ops: rows,
    totalMilliseconds: rows.reduce((sum, r) => sum + r.milliseconds, 0),
    totalFlops: rows.reduce((sum, r) => sum + r.flops, 0),
  };
}

export function formatProfile(profile: StepProfile): string {
  const width = Math.max(30, ...profile.ops.map((op) => op.name.length));
  const lines = [
    `per-op GPU time (${profile.method}), sorted:`,
    `  ${'op'.padEnd(width)} ${'ms'.padStart(8)} ${'share'.padStart(7)} ${'GFLOP/s'.padStart(9)} ${'GB/s'.padStart(8)}`,
  ];
  for (const op of profile.ops) {
    lines.push(
      `  ${op.name.padEnd(width)} ${op.milliseconds.toFixed(3).padStart(8)} ${
        (100 * op.milliseconds / profile.totalMilliseconds)
          .toFixed(1).padStart(6)
      }% ${op.gflops.toFixed(2).padStart(9)} ${op.gbytesPerSecond.toFixed(2).padStart(8)}`,
    );
  }
  lines.push(`  ${'total'.padEnd(width)} ${profile.totalMilliseconds.toFixed(3).padStart(8)}`);
  return lines.join('\n');
}

/** Profiles one training step of `config` on the first batch of `split`, on a network of its own. */
export async function profileTrainingStep(
  gpu: Gpu,
  config: TrainConfig,
  split: MnistSplit,
  state: TrainState,
  repeats = 5,
): Promise<StepProfile> {
  const network = await Network.create(gpu, config.model, {
    maxBatch: Math.min(config.batchSize, split.count),
    training: true,
    adam: config.adam,
  });
  try {
    const batch = Math.min(config.batchSize, split.count);
    const size = split.rows * split.cols;
    network.setParameters(state.params);
    network.writeBatch(split.images.subarray(0, batch * size), Uint32Array.from(split.labels.subarray(0, batch)));
    const plan = await network.plan(batch);
    return await profileOps(gpu, [...plan.forward, ...plan.loss, ...plan.backward, ...plan.optimizer], repeats);
  } finally {
    network.destroy();
  }
}
