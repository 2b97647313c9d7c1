// Turns a user's picture of one digit into a 28x28 MNIST-style input, following how MNIST itself was
// made (LeCun et al.): the digit's bounding box is scaled to fit 20x20 with its aspect ratio kept,
// anti-aliased, and placed in a 28x28 canvas so that its center of mass lies at the center.
import type { GrayImage } from './png.ts';

export const MNIST_SIZE = 28;
/** MNIST digits fill a 20x20 box; the rest of the 28x28 canvas is margin. */
export const DIGIT_BOX = 20;
/** Ink below this fraction of the contrast range does not count towards the bounding box. */
const INK_THRESHOLD = 0.3;
/** Pictures whose ink differs from the background by fewer gray levels hold no digit. */
const MIN_CONTRAST = 32;

/** A picture that cannot be turned into a digit (blank, or not a valid image). */
export class DigitImageError extends Error {
  override name = 'DigitImageError';
}

/**
 * Converts a grayscale picture of one digit (any size, dark-on-light or light-on-dark, a photo or a
 * drawing) to 784 bytes, a white (255) digit on black (0), the way MNIST digits look.
 *
 * Steps: take the background level from the median of the border pixels and invert if it is light;
 * stretch the contrast so the background is 0 and the strongest ink 1; crop to the bounding box of
 * ink above INK_THRESHOLD; resample the box (area averaging) so its longer side is 20 pixels and
 * stretch it so its brightest pixel is 255 again (thin strokes on a large picture average down); shift
 * it by whole pixels so the intensity-weighted center of mass, in pixel-index coordinates, lands as
 * near (14, 14) as the canvas allows without cutting off ink.
 */
export function toMnistDigit(image: GrayImage): Uint8Array {
  const { width, height, pixels } = image;
  if (
    !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || pixels.length !== width * height
  ) {
    throw new DigitImageError(`not a valid image: ${width}x${height} with ${pixels.length} pixels`);
  }
  const background = borderMedian(image);
  const invert = background > 127;
  const inkOf = (v: number) => (invert ? 255 - v : v);
  const base = inkOf(background);
  let peak = 0;
  for (let i = 0; i < pixels.length; i++) peak = Math.max(peak, inkOf(pixels[i]));
  if (peak - base < MIN_CONTRAST) {
    throw new DigitImageError(
      `the picture is blank: no ink stands out from the ${invert ? 'light' : 'dark'} background (${background}/255)`,
    );
  }
  const ink = new Float64Array(pixels.length);
  for (let i = 0; i < pixels.length; i++) ink[i] = Math.min(1, Math.max(0, (inkOf(pixels[i]) - base) / (peak - base)));

  const box = inkBoundingBox(ink, width, height);
  const scale = DIGIT_BOX / Math.max(box.width, box.height);
  const outWidth = Math.min(DIGIT_BOX, Math.max(1, Math.round(box.width * scale)));
  const outHeight = Math.min(DIGIT_BOX, Math.max(1, Math.round(box.height * scale)));
  const digit = resampleArea(ink, width, box, outWidth, outHeight);
  // Thin strokes on a big picture average down to faint gray; MNIST strokes peak at full white.
  let digitPeak = 0;
  for (const v of digit) digitPeak = Math.max(digitPeak, v);
  const bytes = Uint8Array.from(digit, (v) => Math.round((255 * v) / digitPeak));

  // Center of mass of the final byte values, so the whole-pixel shift leaves it within 0.5 of center.
  let mass = 0;
  let mx = 0;
  let my = 0;
  for (let y = 0; y < outHeight; y++) {
    for (let x = 0; x < outWidth; x++) {
      const v = bytes[y * outWidth + x];
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  const center = MNIST_SIZE / 2;
  const left = clamp(Math.round(center - mx / mass), 0, MNIST_SIZE - outWidth);
  const top = clamp(Math.round(center - my / mass), 0, MNIST_SIZE - outHeight);
  const out = new Uint8Array(MNIST_SIZE * MNIST_SIZE);
  for (let y = 0; y < outHeight; y++) {
    out.set(bytes.subarray(y * outWidth, (y + 1) * outWidth), (top + y) * MNIST_SIZE + left);
  }
  return out;
}

function clamp(v: number, low: number, high: number): number {
  return Math.min(high, Math.max(low, v));
}

/** Median of the outermost ring of pixels: the background, unless the ink covers half the border. */
function borderMedian({ width, height, pixels }: GrayImage): number {
  const counts = new Uint32Array(256);
  let total = 0;
  for (let y = 0; y < height; y++) {
    const edgeRow = y === 0 || y === height - 1;
    for (let x = 0; x < width; x += edgeRow || width === 1 ? 1 : width - 1) {
      counts[pixels[y * width + x]]++;
      total++;
    }
  }
  let seen = 0;
  for (let v = 0; v < 256; v++) {
    seen += counts[v];
    if (2 * seen >= total) return v;
  }
  return 255;
}

interface Box {
  left: number;
  top: number;
  width: number;
  height: number;
}

function inkBoundingBox(ink: Float64Array, width: number, height: number): Box {
  let left = width;
  let right = -1;
  let top = height;
  let bottom = -1;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      if (ink[y * width + x] < INK_THRESHOLD) continue;
      left = Math.min(left, x);
      right = Math.max(right, x);
      top = Math.min(top, y);
      bottom = Math.max(bottom, y);
    }
  }
  // The peak pixel has ink 1, so the box is never empty.
  return { left, top, width: right - left + 1, height: bottom - top + 1 };
}

/**
 * Box-filter resampling of `box` to outWidth x outHeight: each output pixel is the average of the
 * source area it covers, with partially covered pixels weighted by the covered fraction. Done as a
 * horizontal then a vertical pass, each a sparse weight matrix.
 */
function resampleArea(ink: Float64Array, width: number, box: Box, outWidth: number, outHeight: number): Float64Array {
  const wx = areaWeights(box.width, outWidth);
  const wy = areaWeights(box.height, outHeight);
  const rows = new Float64Array(box.height * outWidth);
  for (let y = 0; y < box.height; y++) {
    const src = (box.top + y) * width + box.left;
    for (let x = 0; x < outWidth; x++) {
      let sum = 0;
      for (const [i, w] of wx[x]) sum += w * ink[src + i];
      rows[y * outWidth + x] = sum;
    }
  }
  const out = new Float64Array(outWidth * outHeight);
  for (let y = 0; y < outHeight; y++) {
    for (const [i, w] of wy[y]) {
      for (let x = 0; x < outWidth; x++) out[y * outWidth + x] += w * rows[i * outWidth + x];
    }
  }
  return out;
}

/** For each of `outSize` output cells, the source indices it overlaps and their weights (summing to 1). */
function areaWeights(inSize: number, outSize: number): [number, number][][] {
  const step = inSize / outSize;
  const weights: [number, number][][] = [];
  for (let o = 0; o < outSize; o++) {
    const start = o * step;
    const end = (o + 1) * step;
    const cell: [number, number][] = [];
    for (let i = Math.floor(start); i < Math.min(inSize, Math.ceil(end)); i++) {
      const overlap = Math.min(end, i + 1) - Math.max(start, i);
      if (overlap > 0) cell.push([i, overlap / step]);
    }
    weights.push(cell);
  }
  return weights;
}

const RAMP = ' .:-=+*#%@';

/**
 * Renders 8-bit gray pixels as text, one character per pixel from the ramp ' .:-=+*#%@' (darkest
 * first), one line per row; light pixels print as dense characters, so a white-on-black MNIST
 * digit reads as ink on a dark terminal.
 */
export function terminalArt(pixels: Uint8Array, width: number, height: number): string {
  if (pixels.length < width * height) {
    throw new RangeError(`terminalArt: ${pixels.length} pixels for a ${width}x${height} image`);
  }
  const lines: string[] = [];
  for (let y = 0; y < height; y++) {
    let line = '';
    for (let x = 0; x < width; x++) {
      line += RAMP[Math.min(RAMP.length - 1, Math.floor((pixels[y * width + x] * RAMP.length) / 256))];
    }
    lines.push(line);
  }
  return lines.join('\n');
}
