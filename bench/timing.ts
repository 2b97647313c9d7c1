// Timing helpers shared by the benchmarks: repeated submission of a dispatch list, wall-clock and
// shader-thread CPU time per submission, and random input buffers.
import { readdirSync, readFileSync } from 'node:fs';
import process from 'node:process';
import type { Gpu } from '../src/gpu/device.ts';
import { WaitPacer } from '../src/gpu/wait.ts';
import { createStorageBuffer } from '../src/gpu/buffers.ts';
import { type Dispatch, submitDispatches } from '../src/gpu/kernel.ts';
import type { Rng } from '../src/util/random.ts';

/** Submissions queued before waiting: fewer host round trips, whose polling competes for the CPU. */
const QUEUED = 4;

/** CPU milliseconds (user + system) of the threads of this process that `pick` accepts, from /proc. */
function threadsCpuMs(pick: (tid: number) => boolean): number | undefined {
  try {
    let ticks = 0;
    for (const tid of readdirSync('/proc/self/task')) {
      if (!pick(Number(tid))) continue;
      const stat = readFileSync(`/proc/self/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      ticks += Number(fields[11]) + Number(fields[12]); // utime + stime
    }
    return ticks * 10; // USER_HZ is 100 on Linux
  } catch {
    return undefined;
  }
}

/**
 * CPU milliseconds used so far by the threads of this process other than the main (JavaScript)
 * thread: on lavapipe, the threads that run the shaders. Undefined where /proc is unavailable.
 */
export const workerCpuMs = (): number | undefined => threadsCpuMs((tid) => tid !== process.pid);

/** CPU milliseconds used so far by the main thread: JavaScript, and the WebGPU calls made from it. */
export const mainThreadCpuMs = (): number | undefined => threadsCpuMs((tid) => tid === process.pid);

export interface Timing {
  /** Wall-clock milliseconds per submission. */
  wallMs: number;
  /** Shader-thread CPU milliseconds per submission (robust when other processes share the CPU). */
  cpuMs: number | undefined;
}

/** Submits `dispatches` (after two warm-ups) at least `minRuns` times and for at least `minSeconds`, and averages. */
export async function timeDispatches(
  gpu: Gpu,
  dispatches: readonly Dispatch[],
  minRuns = 8,
  minSeconds = 1,
): Promise<Timing> {
  // Two warm-ups: the first run of a new pipeline includes compiling it (lavapipe may compile at first
  // use), which must not set the pace below.
  submitDispatches(gpu, dispatches);
  await gpu.device.queue.onSubmittedWorkDone();
  let queued = performance.now();
  submitDispatches(gpu, dispatches);
  await gpu.device.queue.onSubmittedWorkDone();
  // A polling wait would take a core from the kernels being timed: each wait first sleeps through most
  // of the previous one's length (at first, a share of the warm-up's).
  const pacer = new WaitPacer(gpu, `timing/${dispatches.map((d) => d.kernel.label).join()}`, {
    share: 0.9,
    smoothing: 1,
    overshoot: 1,
  });
  pacer.learn(0.6 * (performance.now() - queued));
  const cpuStart = workerCpuMs();
  const start = performance.now();
  let runs = 0;
  while (runs < minRuns || performance.now() - start < minSeconds * 1000) {
    queued = performance.now();
    for (let i = 0; i < QUEUED; i++) submitDispatches(gpu, dispatches);
    await pacer.wait(queued, QUEUED, () => gpu.device.queue.onSubmittedWorkDone());
    runs += QUEUED;
  }
  const wallMs = (performance.now() - start) / runs;
  const cpuEnd = workerCpuMs();
  return { wallMs, cpuMs: cpuStart === undefined || cpuEnd === undefined ? undefined : (cpuEnd - cpuStart) / runs };
}

/** A storage buffer of `count` uniform random floats in [-1, 1). */
export function randomBuffer(gpu: Gpu, label: string, count: number, rng: Rng): GPUBuffer {
  const buffer = createStorageBuffer(gpu, label, count * 4);
  gpu.device.queue.writeBuffer(buffer, 0, rng.f32(count));
  return buffer;
}
