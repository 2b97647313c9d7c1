// Reads each training step's [loss sum, correct count] back to the host without stalling the GPU:
// every step copies its 8-byte stats into a slot of a ring buffer inside its own command buffer, and
// every `capacity` steps the ring is copied to a mappable buffer and mapped asynchronously. The host
// waits only for the previous flush, so at most two flushes' worth of steps are in flight.
import { explainGpuFailure, type Gpu } from '../gpu/device.ts';
import { createBuffer } from '../gpu/buffers.ts';

export interface StepStats {
  lossSum: number;
  correct: number;
}

export class StatsReader {
  private readonly ring: GPUBuffer;
  private readonly staging: GPUBuffer[];
  private slot = 0;
  private flushes = 0;
  private pending: Promise<StepStats[]> | null = null;

  constructor(private readonly gpu: Gpu, readonly capacity = 16) {
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
    encoder.copyBufferToBuffer(stats, 0, this.ring, this.slot * 8, 8);
    this.slot++;
  }

  /**
   * Starts reading the recorded steps and returns the stats of the PREVIOUS flush (empty on the first),
   * so the GPU keeps a flush of work queued while the host reports.
   */
  async flush(): Promise<StepStats[]> {
    const previous = this.pending ? await this.pending : [];
    this.pending = null;
    if (this.slot === 0) return previous;
    const count = this.slot;
    const staging = this.staging[this.flushes++ % 2];
    const encoder = this.gpu.device.createCommandEncoder({ label: 'stats readback' });
    encoder.copyBufferToBuffer(this.ring, 0, staging, 0, count * 8);
    this.gpu.device.queue.submit([encoder.finish()]);
    this.slot = 0;
    this.pending = staging.mapAsync(0x1 /* READ */, 0, count * 8).then(() => {
      const words = new Uint32Array(staging.getMappedRange(0, count * 8).slice(0));
      staging.unmap();
      const floats = new Float32Array(words.buffer);
      const out: StepStats[] = [];
      for (let i = 0; i < count; i++) out.push({ lossSum: floats[2 * i], correct: words[2 * i + 1] });
      return out;
    }, async (err) => {
      throw await explainGpuFailure(this.gpu, err, 'reading back training stats');
    });
    return previous;
  }

  /** Reads everything still outstanding. */
  async drain(): Promise<StepStats[]> {
    const previous = await this.flush();
    const last = this.pending ? await this.pending : [];
    this.pending = null;
    return [...previous, ...last];
  }

  destroy(): void {
    this.ring.destroy();
    for (const buffer of this.staging) buffer.destroy();
  }
}
