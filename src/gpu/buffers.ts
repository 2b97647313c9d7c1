// Buffer creation, upload and readback. Every buffer gets a label so that WebGPU errors name it.
import { explainGpuFailure, type Gpu } from './device.ts';

/** Counts `bytes` in gpu.memory until `resource` is destroyed (once, however often destroy is called). */
function track<T extends GPUBuffer | GPUTexture>(gpu: Gpu, resource: T, bytes: number): T {
  const ledger = gpu.memory;
  ledger.liveBytes += bytes;
  ledger.liveBuffers++;
  ledger.peakBytes = Math.max(ledger.peakBytes, ledger.liveBytes);
  const destroy = resource.destroy.bind(resource);
  let destroyed = false;
  resource.destroy = () => {
    if (!destroyed) {
      destroyed = true;
      ledger.liveBytes -= bytes;
      ledger.liveBuffers--;
    }
    destroy();
  };
  return resource;
}

/**
 * device.createBuffer, counted in gpu.memory until the buffer is destroyed (so a leak shows as growth,
 * e.g. in bench/soak.ts). Every buffer of the project is made here.
 */
export function createBuffer(gpu: Gpu, descriptor: GPUBufferDescriptor): GPUBuffer {
  const buffer = gpu.device.createBuffer(descriptor);
  return track(gpu, buffer, buffer.size);
}

/** Textures the kernels read (textureLoad) and write (storage), which can be copied in and out (tests). */
export const TEXTURE_USAGE = 0x4 /* TEXTURE_BINDING */ | 0x8 /* STORAGE_BINDING */ | 0x1 /* COPY_SRC */ |
  0x2; /* COPY_DST */

/** An rgba32float 2-D texture (16 bytes a texel), counted in gpu.memory like a buffer. */
export function createRgba32fTexture(
  gpu: Gpu,
  label: string,
  width: number,
  height: number,
  usage: GPUTextureUsageFlags,
): GPUTexture {
  const max = gpu.limits.maxTextureDimension2D;
  if (width > max || height > max) {
    throw new RangeError(
      `Texture "${label}" needs ${width}x${height} texels but this adapter allows at most ${max} a side`,
    );
  }
  const texture = gpu.device.createTexture({ label, size: [width, height], format: 'rgba32float', usage });
  return track(gpu, texture, 16 * width * height);
}

/** Storage buffer usable by kernels, writable from the host and readable back. */
export const STORAGE_USAGE = 0x80 /* STORAGE */ | 0x4 /* COPY_SRC */ | 0x8; /* COPY_DST */

export function createStorageBuffer(gpu: Gpu, label: string, byteLength: number): GPUBuffer {
  // WebGPU rejects zero-sized bindings and writes need 4-byte multiples.
  const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
  const max = gpu.limits.maxStorageBufferBindingSize;
  if (size > max) {
    throw new RangeError(
      `Buffer "${label}" needs ${size} bytes but this adapter allows at most ${max} per storage binding; ` +
        'use a smaller batch size.',
    );
  }
  return createBuffer(gpu, { label, size, usage: STORAGE_USAGE });
}

export function createUniformBuffer(gpu: Gpu, label: string, byteLength: number): GPUBuffer {
  const size = Math.max(16, Math.ceil(byteLength / 16) * 16);
  return createBuffer(gpu, { label, size, usage: 0x40 /* UNIFORM */ | 0x8 /* COPY_DST */ });
}

/** queue.writeBuffer needs a 4-byte multiple; pad odd-sized byte arrays with zeros. */
export function writeBuffer(gpu: Gpu, buffer: GPUBuffer, data: ArrayBufferView, offset = 0): void {
  let bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  if (bytes.byteLength % 4 !== 0) {
    const padded = new Uint8Array(Math.ceil(bytes.byteLength / 4) * 4);
    padded.set(bytes);
    bytes = padded;
  }
  gpu.device.queue.writeBuffer(buffer, offset, bytes);
}

/** Copies `byteLength` bytes of `source` to the host. Waits for all work submitted before it. */
export async function readBuffer(
  gpu: Gpu,
  source: GPUBuffer,
  byteLength = source.size,
  offset = 0,
): Promise<ArrayBuffer> {
  const size = Math.ceil(byteLength / 4) * 4;
  const staging = createBuffer(gpu, {
    label: `readback of ${source.label}`,
    size,
    usage: 0x1 /* MAP_READ */ | 0x8, /* COPY_DST */
  });
  const encoder = gpu.device.createCommandEncoder({ label: `readback of ${source.label}` });
  encoder.copyBufferToBuffer(source, offset, staging, 0, size);
  gpu.device.queue.submit([encoder.finish()]);
  try {
    await staging.mapAsync(0x1 /* READ */);
  } catch (err) {
    staging.destroy();
    throw await explainGpuFailure(gpu, err, `reading back "${source.label}"`);
  }
  const copy = staging.getMappedRange().slice(0, byteLength);
  staging.unmap();
  staging.destroy();
  return copy;
}

export async function readF32(gpu: Gpu, source: GPUBuffer, count: number, offset = 0): Promise<Float32Array> {
  return new Float32Array(await readBuffer(gpu, source, count * 4, offset));
}

export async function readU32(gpu: Gpu, source: GPUBuffer, count: number, offset = 0): Promise<Uint32Array> {
  return new Uint32Array(await readBuffer(gpu, source, count * 4, offset));
}
