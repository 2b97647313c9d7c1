// Pictures to a model's input: channel conversion (gray <-> RGB) and resizing to its height and
// width, area averaging when shrinking (every source pixel counts, no aliasing) and bilinear
// interpolation when enlarging (half-pixel centres, as PIL and torch's align_corners=False).
// All in float64 with one rounding at the end, so Node, Deno and the tests agree to the bit.

/** A decoded picture: 8-bit samples, interleaved (row-major, `channels` bytes per pixel). */
export interface RasterImage {
  width: number;
  height: number;
  /** 1 (gray) or 3 (RGB). */
  channels: 1 | 3;
  pixels: Uint8Array;
}

/** `image` with `channels` samples per pixel: gray is copied into R, G and B; RGB becomes luminance 0.299 R + 0.587 G + 0.114 B. */
export function convertChannels(image: RasterImage, channels: 1 | 3): RasterImage {
  if (image.channels === channels) return image;
  const count = image.width * image.height;
  const out = new Uint8Array(count * channels);
  const src = image.pixels;
  if (channels === 3) {
    for (let i = 0; i < count; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = src[i];
  } else {
    // Integer weights with round-half-up, the luminance the PNG decoder uses.
    for (let i = 0; i < count; i++) {
      out[i] = Math.floor((299 * src[3 * i] + 587 * src[3 * i + 1] + 114 * src[3 * i + 2] + 500) / 1000);
    }
  }
  return { width: image.width, height: image.height, channels, pixels: out };
}

/** One output sample's sources along an axis: source indices and their weights (summing to 1). */
interface Taps {
  first: Int32Array;
  count: Int32Array;
  weights: Float64Array[];
}

/** The 1-D filter from `from` samples to `to`: area weights when shrinking, linear when enlarging. */
export function axisTaps(from: number, to: number): Taps {
  const first = new Int32Array(to);
  const count = new Int32Array(to);
  const weights: Float64Array[] = [];
  const scale = from / to;
  for (let j = 0; j < to; j++) {
    if (from === to) {
      first[j] = j;
      count[j] = 1;
      weights.push(Float64Array.of(1));
    } else if (from > to) {
      // Output sample j covers [j * scale, (j + 1) * scale) of the source; each source sample weighs its overlap.
      const start = j * scale;
      const end = (j + 1) * scale;
      const lo = Math.floor(start);
      const hi = Math.min(from, Math.ceil(end));
      const w = new Float64Array(hi - lo);
      for (let i = lo; i < hi; i++) w[i - lo] = (Math.min(end, i + 1) - Math.max(start, i)) / scale;
      first[j] = lo;
      count[j] = hi - lo;
      weights.push(w);
    } else {
      const x = Math.min(Math.max((j + 0.5) * scale - 0.5, 0), from - 1);
      const lo = Math.floor(x);
      const f = x - lo;
      first[j] = lo;
      if (lo + 1 < from && f > 0) {
        count[j] = 2;
        weights.push(Float64Array.of(1 - f, f));
      } else {
        count[j] = 1;
        weights.push(Float64Array.of(1));
      }
    }
  }
  return { first, count, weights };
}

/**
 * `image` resized to `width` x `height` (each axis by its own rule: area when shrinking, bilinear when
 * enlarging), as planar bytes [channels, height, width]: the layout the network's input takes.
 */
export function resizeToPlanar(image: RasterImage, width: number, height: number): Uint8Array {
  const { channels, pixels } = image;
  const across = axisTaps(image.width, width);
  const down = axisTaps(image.height, height);
  // Rows first: [source rows, width] per channel, then columns.
  const rows = new Float64Array(image.height * width);
  const out = new Uint8Array(channels * height * width);
  for (let c = 0; c < channels; c++) {
    for (let y = 0; y < image.height; y++) {
      const base = y * image.width;
      for (let x = 0; x < width; x++) {
        const w = across.weights[x];
        const f = across.first[x];
        let sum = 0;
        for (let k = 0; k < across.count[x]; k++) sum += w[k] * pixels[(base + f + k) * channels + c];
        rows[y * width + x] = sum;
      }
    }
    for (let y = 0; y < height; y++) {
      const w = down.weights[y];
      const f = down.first[y];
      for (let x = 0; x < width; x++) {
        let sum = 0;
        for (let k = 0; k < down.count[y]; k++) sum += w[k] * rows[(f + k) * width + x];
        out[(c * height + y) * width + x] = Math.min(255, Math.max(0, Math.round(sum)));
      }
    }
  }
  return out;
}
