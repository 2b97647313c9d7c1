// One GPU device shared by all suites of a test run, plus helpers to move arrays in and out of it.
import { type Gpu, openGpu } from '../../src/gpu/device.ts';
import { createStorageBuffer, readF32, readU32, writeBuffer } from '../../src/gpu/buffers.ts';

let shared: Promise<Gpu> | undefined;

export function sharedGpu(): Promise<Gpu> {
  shared ??= openGpu();
  return shared;
}

export async function closeSharedGpu(): Promise<void> {
  if (shared) await (await shared).close();
  shared = undefined;
}

/** A quiet NaN with a recognisable payload: any element a kernel forgets to write stays NaN. */
export const POISON_BITS = 0x7fc0dead;

/** Storage buffer of `count` 32-bit words, every one set to the poison pattern. */
export function poisonedBuffer(gpu: Gpu, label: string, count: number): GPUBuffer {
  const buffer = createStorageBuffer(gpu, label, count * 4);
  writeBuffer(gpu, buffer, new Uint32Array(Math.ceil(buffer.size / 4)).fill(POISON_BITS));
  return buffer;
}

export function f32Buffer(gpu: Gpu, label: string, data: ArrayLike<number>): GPUBuffer {
  const array = data instanceof Float32Array ? data : Float32Array.from(data);
  const buffer = createStorageBuffer(gpu, label, array.byteLength);
  writeBuffer(gpu, buffer, array);
  return buffer;
}

export function u32Buffer(gpu: Gpu, label: string, data: ArrayLike<number>): GPUBuffer {
  const array = data instanceof Uint32Array ? data : Uint32Array.from(data);
  const buffer = createStorageBuffer(gpu, label, array.byteLength);
  writeBuffer(gpu, buffer, array);
  return buffer;
}

export { readF32, readU32 };

/** The texels of an rgba32float texture, row after row (width * height * 4 floats). */
export async function readTexture(gpu: Gpu, texture: GPUTexture): Promise<Float32Array> {
  const { width, height } = texture;
  const rowBytes = Math.ceil((16 * width) / 256) * 256; // copies need rows aligned to 256 bytes
  const staging = createStorageBuffer(gpu, `readback of ${texture.label}`, rowBytes * height);
  const encoder = gpu.device.createCommandEncoder();
  encoder.copyTextureToBuffer({ texture }, { buffer: staging, bytesPerRow: rowBytes }, [width, height]);
  gpu.device.queue.submit([encoder.finish()]);
  const padded = await readF32(gpu, staging, (rowBytes / 4) * height);
  staging.destroy();
  const out = new Float32Array(width * height * 4);
  for (let y = 0; y < height; y++) {
    out.set(padded.subarray((y * rowBytes) / 4, (y * rowBytes) / 4 + 4 * width), y * 4 * width);
  }
  return out;
}

/** Fills an rgba32float texture with the poison pattern, so texels a kernel does not write stay NaN. */
export function poisonTexture(gpu: Gpu, texture: GPUTexture): void {
  const { width, height } = texture;
  gpu.device.queue.writeTexture({ texture }, new Uint32Array(width * height * 4).fill(POISON_BITS), {
    bytesPerRow: 16 * width,
  }, [width, height]);
}
