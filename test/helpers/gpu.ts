// One GPU device shared by all suites of a test run, plus helpers to move arrays in and out of it.
import { openGpu, type Gpu } from '../../src/gpu/device.ts';
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
