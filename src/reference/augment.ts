// CPU reference of shaders/augment_affine.wgsl: the same per-image draw, the transform in float64.
import { philox4x32, philoxUnit } from './philox.ts';

export interface AugmentShape {
  batch: number;
  channels: number;
  height: number;
  width: number;
}

export interface AugmentOptions {
  /** Largest rotation in degrees, either way. */
  rotation: number;
  /** Scale range. */
  minScale: number;
  maxScale: number;
  /** Largest shift in pixels, either way, per axis. */
  shift: number;
}

export const AUGMENT_SALT = 0xa5a5a5a5;

/** The transform drawn for one image at (seed, step). */
export function augmentDraw(options: AugmentOptions, seed: number, step: number, image: number) {
  const r = philox4x32([image, step, AUGMENT_SALT, 0], [seed, 0]);
  return {
    angle: (2 * philoxUnit(r[0]) - 1) * Math.fround(options.rotation * Math.PI / 180),
    scale: options.minScale + (options.maxScale - options.minScale) * philoxUnit(r[1]),
    shiftX: (2 * philoxUnit(r[2]) - 1) * options.shift,
    shiftY: (2 * philoxUnit(r[3]) - 1) * options.shift,
  };
}

/** Augmented pixels as values 0-255 (not normalized), one transform per image. */
export function augmentReference(
  shape: AugmentShape,
  options: AugmentOptions,
  pixels: Uint8Array,
  seed: number,
  step: number,
): Float64Array {
  const { batch, channels, height: H, width: W } = shape;
  const out = new Float64Array(batch * channels * H * W);
  const cx = (W - 1) / 2;
  const cy = (H - 1) / 2;
  for (let n = 0; n < batch; n++) {
    const { angle, scale, shiftX, shiftY } = augmentDraw(options, seed, step, n);
    const cos = Math.cos(angle);
    const sin = Math.sin(angle);
    for (let c = 0; c < channels; c++) {
      const plane = n * channels + c;
      const at = (y: number, x: number) => (y < 0 || x < 0 || y >= H || x >= W ? 0 : pixels[plane * H * W + y * W + x]);
      for (let y = 0; y < H; y++) {
        for (let x = 0; x < W; x++) {
          const dx = (x - cx - shiftX) / scale;
          const dy = (y - cy - shiftY) / scale;
          const qx = cos * dx + sin * dy + cx;
          const qy = -sin * dx + cos * dy + cy;
          const x0 = Math.floor(qx);
          const y0 = Math.floor(qy);
          const fx = qx - x0;
          const fy = qy - y0;
          const top = at(y0, x0) * (1 - fx) + at(y0, x0 + 1) * fx;
          const bottom = at(y0 + 1, x0) * (1 - fx) + at(y0 + 1, x0 + 1) * fx;
          out[plane * H * W + y * W + x] = top * (1 - fy) + bottom * fy;
        }
      }
    }
  }
  return out;
}
