// All parameters of a model live in one flat f32 buffer (and so do their gradients and Adam's two
// moments), so the optimizer is a single dispatch. Each tensor starts on a 256-byte boundary, the
// WebGPU minimum for binding a range of a storage buffer; the padding stays zero forever (zero
// gradient -> zero Adam update).
import { Rng } from '../util/random.ts';
import { type ParameterSpec, shapeSize } from './spec.ts';

/** 256 bytes of f32. */
const ALIGN_ELEMENTS = 64;

export interface ParameterSlot extends ParameterSpec {
  /** Offset into the flat buffer, in elements. */
  offset: number;
  count: number;
}

export class ParameterLayout {
  readonly slots: ParameterSlot[];
  /** Elements in the flat buffer, padding included (a multiple of 64). */
  readonly totalElements: number;
  /** Real parameters, padding excluded. */
  readonly parameterCount: number;
  /** Elements the optimizer updates: the trainable tensors come first, buffers (running statistics) after. */
  readonly trainableElements: number;

  constructor(specs: readonly ParameterSpec[]) {
    let offset = 0;
    let trainable = 0;
    this.slots = [...specs.filter((s) => !s.buffer), ...specs.filter((s) => s.buffer)].map((spec) => {
      const count = shapeSize(spec.shape);
      const slot = { ...spec, offset, count };
      offset += Math.ceil(count / ALIGN_ELEMENTS) * ALIGN_ELEMENTS;
      if (!spec.buffer) trainable = offset;
      return slot;
    });
    this.totalElements = offset;
    this.trainableElements = trainable;
    this.parameterCount = this.slots.reduce((sum, slot) => sum + slot.count, 0);
  }

  slot(name: string): ParameterSlot {
    const slot = this.slots.find((s) => s.name === name);
    if (!slot) throw new Error(`No parameter named "${name}"`);
    return slot;
  }

  /** The range of a flat GPU buffer holding one tensor. */
  binding(buffer: GPUBuffer, name: string): GPUBufferBinding {
    const slot = this.slot(name);
    return { buffer, offset: slot.offset * 4, size: slot.count * 4 };
  }

  /** Copies each tensor out of a flat host array. */
  split(flat: Float32Array): Map<string, Float32Array> {
    return new Map(this.slots.map((s) => [s.name, flat.slice(s.offset, s.offset + s.count)]));
  }

  /** Builds a flat host array from named tensors, checking that every one is present and sized right. */
  join(tensors: ReadonlyMap<string, Float32Array>, source: string): Float32Array {
    const flat = new Float32Array(this.totalElements);
    for (const slot of this.slots) {
      const tensor = tensors.get(slot.name);
      if (!tensor) throw new Error(`${source}: missing tensor "${slot.name}"`);
      if (tensor.length !== slot.count) {
        throw new Error(`${source}: tensor "${slot.name}" has ${tensor.length} elements, expected ${slot.count}`);
      }
      flat.set(tensor, slot.offset);
    }
    return flat;
  }
}

/**
 * PyTorch's default initialisation for Conv2d and Linear: weights kaiming_uniform_(a=√5), which is
 * U(±1/√fan_in), and biases U(±1/√fan_in). Drawn in slot order from one seeded stream; batch norm's
 * ones and zeros draw nothing.
 */
export function initParameters(layout: ParameterLayout, seed: number): Float32Array {
  const rng = new Rng(seed);
  const flat = new Float32Array(layout.totalElements);
  for (const slot of layout.slots) {
    if (slot.init === 'ones' || slot.init === 'zeros') {
      flat.fill(slot.init === 'ones' ? 1 : 0, slot.offset, slot.offset + slot.count);
      continue;
    }
    const bound = 1 / Math.sqrt(slot.fanIn);
    for (let i = 0; i < slot.count; i++) flat[slot.offset + i] = rng.uniform(-bound, bound);
  }
  return flat;
}

/** The first tensor (layout order) of `flat` holding NaN or Infinity, or undefined. */
export function firstNonFinite(layout: ParameterLayout, flat: Float32Array): string | undefined {
  for (const slot of layout.slots) {
    const values = flat.subarray(slot.offset, slot.offset + slot.count);
    for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return slot.name;
  }
  return undefined;
}
