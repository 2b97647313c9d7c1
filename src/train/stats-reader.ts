// Reads each training step's [loss sum, correct count] back to the host without stalling the GPU:
// every step copies its 8-byte stats into a slot of a ring buffer inside its own command buffer, and
// every `capacity` steps the ring is copied to a mappable buffer, which is read at the next flush. The
// host waits only for the previous flush, so at most two flushes' worth of steps are in flight.
import { devicePaces, explainGpuFailure, sleepUntil, type Gpu } from '../gpu/device.ts';
import { createBuffer } from '../gpu/buffers.ts';

export interface StepStats {
  lossSum: number;
  correct: number;
}

/**
 * Start mapping when this fraction of the expected GPU time has passed; the rest is polled. The
 * estimate settles on the true pace, so this is the share of a wait left to polling. Sleeping too long
 * costs nothing while the next flush's steps keep the GPU busy, and corrects the estimate downwards.
 * 0.98 rather than 0.95 (with the gentler correction below) cut the main thread's CPU per step from
 * 6.5-6.9 ms to 3.2-4.3 ms under Node at the same throughput (bench/run.ts, A/B in one session).
 */
const PACE = 0.98;


export class StatsReader {
  private readonly ring: GPUBuffer;
  private readonly staging: GPUBuffer[];
  private slot = 0;
  private flushes = 0;
  /** A flush copied to staging but not yet read. */
  private pending: { staging: GPUBuffer; count: number } | null = null;
  /** When the last read completed, and the GPU's pace seen between completed reads (ms per step). */
  private lastReadAt = 0;
  /** When the first step after a pause (start, drain) was recorded: the GPU was idle until then. */
  private resumedAt = 0;
  private msPerStep: number;

  private readonly paces: Map<string, number>;

  constructor(private readonly gpu: Gpu, readonly capacity = 16, private readonly paceKey = '') {
    // The last pace seen on this device for this kind of step (`paceKey`: model and batch size), so that
    // a new reader (the next run, the bench's measured window) starts paced.
    this.paces = devicePaces(gpu);
    this.msPerStep = this.paces.get(paceKey) ?? 0;
    const usage = 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */
    this.ring = createBuffer(gpu, { label: 'stats.ring', size: capacity * 8, usage });
    this.staging = [0, 1].map((i) =>
      createBuffer(gpu, { label: `stats.staging${i}`, size: capacity * 8, usage: 0x1 /* MAP_READ */ | 0x8 }));
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
    // Where waiting busy-polls (Dawn under Node), sleep through most of the time the GPU should still
    // need for these steps, judged by its pace so far, and only then map. The GPU does not idle while
    // the host sleeps a little too long: the next flush's steps are already queued behind these.
    const since = this.lastReadAt || this.resumedAt;
    const paced = this.gpu.waitingPolls && this.msPerStep > 0 && since > 0;
    if (paced) await sleepUntil(since + PACE * count * this.msPerStep);
    const mapStarted = performance.now();
    try {
      await staging.mapAsync(0x1 /* READ */, 0, count * 8);
    } catch (err) {
      throw await explainGpuFailure(this.gpu, err, 'reading back training stats');
    }
    const now = performance.now();
    if (now - mapStarted > 1 || !paced) {
      // The map waited for the GPU, so it finished these steps just now: a measure of its pace. An
      // outlier (the host busy elsewhere) may at most double the estimate.
      if (since > 0) {
        const pace = (now - since) / count;
        this.msPerStep = this.msPerStep > 0 ? 0.7 * this.msPerStep + 0.3 * Math.min(pace, 2 * this.msPerStep) : pace;
      }
    } else {
      // Ready at once: the sleep overshot by an unknown amount, so aim a little shorter next time. A
      // small step: a big one (x0.8 measured) makes the next wait poll a fifth of its length.
      this.msPerStep *= 0.95;
    }
    if (this.msPerStep > 0) this.paces.set(this.paceKey, this.msPerStep);
    this.lastReadAt = now;
    const words = new Uint32Array(staging.getMappedRange(0, count * 8).slice(0));
    staging.unmap();
    const floats = new Float32Array(words.buffer);
    const out: StepStats[] = [];
    for (let i = 0; i < count; i++) out.push({ lossSum: floats[2 * i], correct: words[2 * i + 1] });
    return out;
  }
}
