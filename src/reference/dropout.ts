// CPU reference of shaders/dropout_forward.wgsl and dropout_backward.wgsl.
import { philox4x32 } from './philox.ts';

export interface DropoutOptions {
  /** Probability of zeroing an element, in [0, 1). */
  p: number;
  seed: number;
  step: number;
  /** Tells the dropout layers of one model apart. */
  salt: number;
}

/** The kernel's keep threshold: element kept when its random word is below it. */
export function dropoutKeepThreshold(p: number): number {
  return Math.min(Math.round((1 - p) * 2 ** 32), 2 ** 32 - 1);
}

/** The f32 scale a kept element is multiplied by. */
export function dropoutScale(p: number): number {
  return Math.fround(1 / (1 - p));
}

/** Per element: the scale where kept, 0 where dropped. */
export function dropoutMaskReference(count: number, options: DropoutOptions): Float64Array {
  const threshold = dropoutKeepThreshold(options.p);
  const scale = dropoutScale(options.p);
  return Float64Array.from(
    { length: count },
    (_, i) => philox4x32([i, options.step, options.salt, 0], [options.seed, 0])[0] < threshold ? scale : 0,
  );
}

/** input * mask, elementwise (forward); the backward is gradOutput * mask, the same product. */
export function dropoutApplyReference(values: ArrayLike<number>, mask: ArrayLike<number>): Float64Array {
  return Float64Array.from(values, (v, i) => v * mask[i]);
}
