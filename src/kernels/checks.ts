// The checks every kernel module makes before dispatching, and the stand-in bindings for slots a
// specialization never reads. A kernel reading past a binding reads clamped or zero values instead of
// failing, so sizes are checked here, naming the tensor, before a wrong result can be computed.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture, createStorageBuffer, TEXTURE_USAGE } from '../gpu/buffers.ts';
import { type BufferArg, workgroupGrid } from '../gpu/kernel.ts';

/** Bytes a buffer binding covers. */
export function bindingBytes(arg: BufferArg): number {
  return 'buffer' in arg ? (arg.size ?? arg.buffer.size - (arg.offset ?? 0)) : arg.size;
}

/** Throws unless `arg` holds at least `elements` 32-bit words; `kernel` and `what` name them in the message. */
export function checkSize(kernel: string, what: string, arg: BufferArg, elements: number): void {
  const bytes = bindingBytes(arg);
  if (bytes < elements * 4) {
    throw new RangeError(
      `${kernel}: ${what} needs ${elements} words (${elements * 4} bytes), its binding has ${bytes}`,
    );
  }
}

/** Throws unless every value is an integer in min..max. */
export function checkIntegers(
  kernel: string,
  values: Record<string, number>,
  min = 1,
  max = Number.MAX_SAFE_INTEGER,
): void {
  for (const [name, value] of Object.entries(values)) {
    if (!Number.isInteger(value) || value < min || value > max) {
      const range = max === Number.MAX_SAFE_INTEGER
        ? (min === 1 ? 'a positive integer' : `an integer >= ${min}`)
        : `an integer in ${min}..${max}`;
      throw new RangeError(`${kernel}: ${name} must be ${range}, got ${value}`);
    }
  }
}

/** Throws unless `value` is a workgroup size this adapter runs. */
export function checkWorkgroup(gpu: Gpu, kernel: string, what: string, value: number): void {
  checkIntegers(
    kernel,
    { [what]: value },
    1,
    Math.min(gpu.limits.maxComputeInvocationsPerWorkgroup, gpu.limits.maxComputeWorkgroupSizeX),
  );
}

/**
 * `groups` workgroups over x and y (workgroupGrid); the kernels rely on a z count of 1 and compute
 * `wid.x + wid.y * nwg.x`.
 */
export function grid(kernel: string, groups: number): [number, number] {
  if (groups > 65535 * 65535) {
    throw new RangeError(`${kernel}: ${groups} workgroups is more than one dispatch allows; use a smaller batch`);
  }
  return workgroupGrid(groups);
}

// Stand-ins, one set per device. A binding a specialization never reads still needs a resource, and
// WebGPU forbids one buffer in a writable slot and any other slot of the same dispatch.
const placeholders = new WeakMap<GPUDevice, { buffers: GPUBuffer[]; texture?: GPUTextureView }>();

function placeholdersOf(gpu: Gpu) {
  let set = placeholders.get(gpu.device);
  if (!set) placeholders.set(gpu.device, set = { buffers: [] });
  return set;
}

/** The `index`th placeholder storage buffer (16 bytes): distinct indices for distinct slots of one dispatch. */
export function placeholderBuffer(gpu: Gpu, index = 0): GPUBuffer {
  const { buffers } = placeholdersOf(gpu);
  while (buffers.length <= index) buffers.push(createStorageBuffer(gpu, `unused binding ${buffers.length}`, 16));
  return buffers[index];
}

/** A 1x1 rgba32float storage texture for a texture slot a specialization never writes. */
export function placeholderTexture(gpu: Gpu): GPUTextureView {
  const set = placeholdersOf(gpu);
  const label = 'unused texture binding';
  return set.texture ??= createRgba32fTexture(gpu, label, 1, 1, TEXTURE_USAGE).createView({ label });
}
