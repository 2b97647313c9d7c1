// Waiting for the GPU without taking a core from it. Where awaiting a GPU promise keeps the main
// thread polling (Dawn under Node: Gpu.waitingPolls), a long wait first sleeps through most of the time
// the work should take, judged by the pace measured on earlier waits of the same kind, and polls only
// for the rest. Every paced wait in the engine (stats readback, evaluation, the profiler, the
// benchmarks' timing) goes through a WaitPacer, so nothing outside src/gpu/ knows the runtime.
import type { Gpu } from './device.ts';

/**
 * The GPU's speed while the main thread polls, relative to its speed while it sleeps: on a CPU driver
 * polling takes one core from the driver's threads, and this engine's machines have two.
 */
const POLLED_SPEED = 0.5;

export interface PaceOptions {
  /** Share of the expected time slept through before waiting; the rest is polled. */
  share: number;
  /** Weight of a new measurement against the pace so far (1: the last one alone). */
  smoothing: number;
  /** After a sleep that outlasted the work, the pace is scaled by this (the overshoot is unknown). */
  overshoot: number;
}

const paces = new WeakMap<GPUDevice, Map<string, number>>();

/** Resolves at `performance.now()` = `time` (at once if that has passed), without polling the GPU. */
function sleepUntil(time: number): Promise<void> {
  const ms = time - performance.now();
  return ms < 1 ? Promise.resolve() : new Promise((resolve) => setTimeout(resolve, ms));
}

/**
 * A pace (milliseconds of GPU time per unit of work) for one kind of wait on one device, remembered
 * under `key` (model, batch size, what is waited for), so the next run's first wait starts paced.
 */
export class WaitPacer {
  private readonly remembered: Map<string, number>;

  constructor(private readonly gpu: Gpu, private readonly key: string, private readonly options: PaceOptions) {
    let map = paces.get(gpu.device);
    if (!map) paces.set(gpu.device, map = new Map());
    this.remembered = map;
  }

  /** Milliseconds per unit, or undefined before anything was measured on this device for this key. */
  get msPerUnit(): number | undefined {
    return this.remembered.get(this.key);
  }

  /** Whether waits on this device keep the main thread busy (and so are worth pacing). */
  get paces(): boolean {
    return this.gpu.waitingPolls;
  }

  /** Sets the pace from a measurement made elsewhere (e.g. timestamp queries). */
  learn(msPerUnit: number): void {
    if (msPerUnit > 0) this.remembered.set(this.key, msPerUnit);
  }

  /** Where waits poll and the pace is known: sleeps until `share` of `units` of work after `since`. Returns whether it slept. */
  async sleep(since: number, units: number): Promise<boolean> {
    const pace = this.msPerUnit;
    if (!this.paces || pace === undefined || since <= 0) return false;
    await sleepUntil(since + this.options.share * units * pace);
    return true;
  }

  /**
   * Sleeps (see sleep), then awaits `settle` (a map or onSubmittedWorkDone) for `units` of work queued
   * since `since`, and learns from how long it took: if it waited, the work finished just now (its polled
   * part counted at POLLED_SPEED); if it was ready at once, the sleep overshot, so aim shorter next time.
   */
  async wait<T>(since: number, units: number, settle: () => Promise<T>): Promise<T> {
    const slept = await this.sleep(since, units);
    const started = performance.now();
    const result = await settle();
    const done = performance.now();
    if (since <= 0) return result;
    const polled = done - started;
    const pace = this.msPerUnit;
    if (polled > 1 || !slept) {
      const measured = (started - since + (this.paces ? POLLED_SPEED : 1) * polled) / units;
      // An outlier (the host busy elsewhere) may at most double a smoothed estimate.
      const next = pace === undefined || this.options.smoothing >= 1
        ? measured
        : (1 - this.options.smoothing) * pace + this.options.smoothing * Math.min(measured, 2 * pace);
      this.learn(next);
    } else if (pace !== undefined) {
      this.learn(this.options.overshoot * pace);
    }
    return result;
  }
}
