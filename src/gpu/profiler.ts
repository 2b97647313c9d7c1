// Per-kernel GPU time. With the `timestamp-query` feature each dispatch gets a compute pass of its
// own with timestamps at its start and end; without it, each kernel is timed on the host by
// submitting it alone and waiting (slower, and includes submission overhead, but still ranks kernels).
import type { Gpu } from './device.ts';
import { WaitPacer } from './wait.ts';
import { createBuffer, readBuffer } from './buffers.ts';
import type { Dispatch } from './kernel.ts';

export interface KernelTiming {
  /** Kernel label: shader name and its override constants. */
  label: string;
  /** Position in the recorded sequence. */
  index: number;
  milliseconds: number;
}

export interface ProfileResult {
  method: 'timestamp-query' | 'host-timing';
  timings: KernelTiming[];
}

/**
 * Runs `dispatches` `repeats` times and returns each dispatch's median time. The dispatches must be
 * safe to repeat (a training step is: it only moves the weights a little).
 */
export async function profileDispatches(
  gpu: Gpu,
  dispatches: readonly Dispatch[],
  repeats = 5,
  beforeEach?: () => void,
): Promise<ProfileResult> {
  const samples: number[][] = dispatches.map(() => []);
  const useTimestamps = gpu.features.has('timestamp-query');
  // A polling wait would take a core from the kernels being timed: sleep through most of the last repeat's GPU time.
  const pacer = new WaitPacer(gpu, `profile/${dispatches.map((d) => d.kernel.label).join()}`, {
    share: 0.9,
    smoothing: 1,
    overshoot: 1,
  });
  for (let r = 0; r < repeats; r++) {
    beforeEach?.();
    const times = useTimestamps ? await timeWithQueries(gpu, dispatches, pacer) : await timeOnHost(gpu, dispatches);
    times.forEach((t, i) => samples[i].push(t));
    if (useTimestamps) pacer.learn(times.reduce((sum, t) => sum + t, 0));
  }
  return {
    method: useTimestamps ? 'timestamp-query' : 'host-timing',
    timings: dispatches.map((d, index) => ({ label: d.kernel.label, index, milliseconds: median(samples[index]) })),
  };
}

async function timeWithQueries(gpu: Gpu, dispatches: readonly Dispatch[], pacer: WaitPacer): Promise<number[]> {
  const { device } = gpu;
  const count = dispatches.length * 2;
  const querySet = device.createQuerySet({ label: 'profiler', type: 'timestamp', count });
  const resolved = createBuffer(gpu, {
    label: 'profiler.resolved',
    size: count * 8,
    usage: 0x200 /* QUERY_RESOLVE */ | 0x4, /* COPY_SRC */
  });
  const encoder = device.createCommandEncoder({ label: 'profiled dispatches' });
  dispatches.forEach((d, i) => {
    const pass = encoder.beginComputePass({
      label: d.kernel.label,
      timestampWrites: { querySet, beginningOfPassWriteIndex: 2 * i, endOfPassWriteIndex: 2 * i + 1 },
    });
    pass.setPipeline(d.kernel.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1] ?? 1, d.workgroups[2] ?? 1);
    pass.end();
  });
  encoder.resolveQuerySet(querySet, 0, count, resolved, 0);
  device.queue.submit([encoder.finish()]);
  await pacer.sleep(performance.now(), 1);
  const ticks = new BigUint64Array(await readBuffer(gpu, resolved, count * 8));
  querySet.destroy();
  resolved.destroy();
  // Timestamps are in nanoseconds.
  return dispatches.map((_, i) => Number(ticks[2 * i + 1] - ticks[2 * i]) / 1e6);
}

async function timeOnHost(gpu: Gpu, dispatches: readonly Dispatch[]): Promise<number[]> {
  const out: number[] = [];
  for (const d of dispatches) {
    const encoder = gpu.device.createCommandEncoder({ label: d.kernel.label });
    const pass = encoder.beginComputePass({ label: d.kernel.label });
    pass.setPipeline(d.kernel.pipeline);
    pass.setBindGroup(0, d.bindGroup);
    pass.dispatchWorkgroups(d.workgroups[0], d.workgroups[1] ?? 1, d.workgroups[2] ?? 1);
    pass.end();
    const started = performance.now();
    gpu.device.queue.submit([encoder.finish()]);
    await gpu.device.queue.onSubmittedWorkDone();
    out.push(performance.now() - started);
  }
  return out;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}
