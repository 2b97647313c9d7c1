// Compiling is not training or evaluation: before anything is timed, every pipeline a run will use
// is created and dispatched once. Drivers that compile lazily (lavapipe JITs a pipeline at its first
// dispatch) do their work here, so rates, ETAs and Node's wait pacing never count a compile.
import type { Gpu } from '../gpu/device.ts';
import { compiledKernelCount, submitDispatches } from '../gpu/kernel.ts';
import type { Network } from '../nn/network.ts';

export interface CompileReport {
  /** Pipelines created for this run (0 when every one was already in this device's cache). */
  kernels: number;
  seconds: number;
}

/**
 * The batch sizes a pass over `count` images in batches of `batchSize` runs: the full batch and the
 * ragged last one, each a plan (and, where a kernel is specialised on the batch, pipelines) of its own.
 */
export function batchSizesOf(count: number, batchSize: number): number[] {
  const sizes = new Set<number>();
  if (count >= batchSize) sizes.add(batchSize);
  if (count % batchSize) sizes.add(count % batchSize);
  return [...sizes];
}

/**
 * Builds the plans of `network` for `batchSizes` and runs each once on whatever the network's buffers
 * hold, then waits for the GPU. A training network's parameters and Adam state change: the caller
 * uploads the real ones afterwards (setParameters).
 */
export async function warmUp(gpu: Gpu, network: Network, batchSizes: readonly number[]): Promise<void> {
  for (const batch of batchSizes) {
    const plan = await network.plan(batch);
    submitDispatches(
      gpu,
      network.options.training ? plan.trainingStep : plan.evaluationStep,
      `warm-up (batch ${batch})`,
    );
  }
  await gpu.device.queue.onSubmittedWorkDone();
}

/** Times `work` and counts the pipelines it created on this device. */
export async function timeCompile(gpu: Gpu, work: () => Promise<void>): Promise<CompileReport> {
  const before = compiledKernelCount(gpu);
  const started = performance.now();
  await work();
  return { kernels: compiledKernelCount(gpu) - before, seconds: (performance.now() - started) / 1000 };
}

export function formatCompile({ kernels, seconds }: CompileReport): string {
  return kernels === 0
    ? `kernels ready (cached) in ${seconds.toFixed(1)} s`
    : `compiled ${kernels} kernel${kernels === 1 ? '' : 's'} in ${seconds.toFixed(1)} s`;
}
