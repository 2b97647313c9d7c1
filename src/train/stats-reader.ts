// Reads each training step's [loss sum, correct count] back to the host without stalling the GPU:
// every step copies its 8-byte stats into a slot of a ring buffer inside its own command buffer, and
// every `capacity` steps the ring is copied to a mappable buffer, which is read at the next flush. The
// host waits only for the previous flush, so at most two flushes' worth of steps are in flight.
import { explainGpuFailure, type Gpu } from '../gpu/device.ts';
import { createBuffer } from '../gpu/buffers.ts';
import { WaitPacer } from '../gpu/wait.ts';

export interface StepStats {
  lossSum: number;
  correct: number;
}

/**
 * Sleeping too long costs nothing while the next flush's steps keep the GPU busy, so nearly all of a
 * wait is slept; a smoothed pace, nudged down gently after an overshoot (bench/RESULTS.md has the A/B).
 */
const PACE = { share: 0.98, smoothing: 0.3, overshoot: 0.95 };

export class StatsReader {
  private readonly ring: GPUBuffer;
  private readonly staging: GPUBuffer[];
  private slot = 0;
  private flushes = 0;
  /** A flush copied to staging but not yet read. */
  private pending: { staging: GPUBuffer; count: number } | null = null;
  /** When the last read completed. */
  private lastReadAt = 0;
  /** When the first step after a pause (start, drain) was recorded: the GPU was idle until then. */
  private resumedAt = 0;
  /** The GPU's pace per step, kept per device under `paceKey` (model and batch size) for the next reader. */
  private readonly pacer: WaitPacer;

  constructor(private readonly gpu: Gpu, readonly capacity = 16, paceKey = '') {
    this.pacer = new WaitPacer(gpu, `steps/${paceKey}`, PACE);
    const usage = 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */
    this.ring = createBuffer(gpu, { label: 'stats.ring', size: capacity * 8, usage });
    this.staging = [0, 1].map((i) =>
      createBuffer(gpu, { label: `stats.staging${i}`, size: capacity * 8, usage: 0x1 /* MAP_READ */ | 0x8 })
    );
  }

  /**
   * Where waits poll (Dawn under Node) and this device has no pace yet for these steps, runs `count`
   * steps through `submit` (scratch work, before the run's own) and learns their pace, so the run's
   * first readback already sleeps instead of polling a core away from the GPU.
   */
  async calibrate(count: number, submit: () => void): Promise<void> {
    if (!this.pacer.paces || this.pacer.msPerUnit !== undefined) return;
    const since = performance.now();
    for (let i = 0; i < count; i++) submit();
    await this.pacer.wait(since, count, () => this.gpu.device.queue.onSubmittedWorkDone());
  }

  get full(): boolean {
    return this.slot === this.capacity;
  }

  /** Records the copy of this step's stats; call once per step, inside the step's encoder. */
  record(encoder: GPUCommandEncoder, stats: GPUBuffer): void {
    if (this.full) throw new Error('StatsReader: flush() before recording more steps');
    if (this.lastReadAt === 0 && this.resumedAt === 0) this.resumedAt = performance.now();
    encoder.copyBufferToBuffer(stats, 0, this.ring, this.slot * 8, 8);
    this.slot++;
  }

  /**
   * Queues the copy of the recorded steps and returns the stats of the PREVIOUS flush (empty on the
   * first), so the GPU keeps a flush of work queued while the host reads and reports.
   */
  async flush(): Promise<StepStats[]> {
    const previous = this.pending ? await this.read(this.pending) : [];
    this.pending = null;
    if (this.slot === 0) return previous;
    const staging = this.staging[this.flushes++ % 2];
    const encoder = this.gpu.device.createCommandEncoder({ label: 'stats readback' });
    encoder.copyBufferToBuffer(this.ring, 0, staging, 0, this.slot * 8);
    this.gpu.device.queue.submit([encoder.finish()]);
    this.pending = { staging, count: this.slot };
    this.slot = 0;
    return previous;
  }

  /**
   * Reads everything still outstanding. The caller then pauses the GPU's stream of steps (evaluation,
   * checkpoint), so the pace is not measured across that pause.
   */
  async drain(): Promise<StepStats[]> {
    const previous = await this.flush();
    const last = this.pending ? await this.read(this.pending) : [];
    this.pending = null;
    this.lastReadAt = 0;
    this.resumedAt = 0;
    return [...previous, ...last];
  }

  destroy(): void {
    this.ring.destroy();
    for (const buffer of this.staging) buffer.destroy();
  }

  private async read({ staging, count }: { staging: GPUBuffer; count: number }): Promise<StepStats[]> {
    // The GPU has been on these steps since the last read (or since it resumed).
    await this.pacer.wait(this.lastReadAt || this.resumedAt, count, async () => {
      try {
        await staging.mapAsync(0x1, /* READ */ 0, count * 8);
      } catch (err) {
        throw await explainGpuFailure(this.gpu, err, 'reading back training stats');
      }
    });
    this.lastReadAt = performance.now();
    const words = new Uint32Array(staging.getMappedRange(0, count * 8).slice(0));
    staging.unmap();
    const floats = new Float32Array(words.buffer);
    const out: StepStats[] = [];
    for (let i = 0; i < count; i++) out.push({ lossSum: floats[2 * i], correct: words[2 * i + 1] });
    return out;
  }
}
