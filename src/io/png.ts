// PNG (https://www.w3.org/TR/png/) reading into 8-bit grayscale or RGB, and writing 8-bit grayscale or RGB.
// The decoder reads every standard variant (color types 0, 2, 3, 4, 6; bit depths 1-16; Adam7) and
// trusts nothing: chunk CRCs, IHDR fields, palette indices and the decompressed size are all checked,
// and the image size is limited before anything is inflated. zlib itself comes from node:zlib.
import { deflateSync, inflateSync } from 'node:zlib';
import type { RasterImage } from './resize.ts';

export interface GrayImage {
  width: number;
  height: number;
  /** 8-bit luminance, row-major, width * height bytes. */
  pixels: Uint8Array;
}

export interface PngLimits {
  /** Images with more pixels are refused before decompression. */
  maxPixels: number;
}

export const DEFAULT_PNG_LIMITS: PngLimits = { maxPixels: 4096 * 4096 };

/** A file that is not a PNG this decoder can read; the message names the file and what is wrong. */
export class PngError extends Error {
  override name = 'PngError';
  constructor(readonly source: string, readonly problem: string) {
    super(`${source}: ${problem}`);
  }
}

export const PNG_SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);

// ---- CRC-32 (ISO 3309 / ITU-T V.42, the one PNG and zlib use), table-driven ----

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 of `bytes`; pass a previous result as `crc` to continue it over more bytes. */
export function crc32(bytes: Uint8Array, crc = 0): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < bytes.length; i++) c = CRC_TABLE[(c ^ bytes[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

// ---- Decoder ----

interface Header {
  width: number;
  height: number;
  bitDepth: number;
  colorType: number;
  interlaced: boolean;
}

/** Samples per pixel and the bit depths allowed, per color type. */
const COLOR_TYPES: Record<number, { channels: number; depths: number[]; name: string }> = {
  0: { channels: 1, depths: [1, 2, 4, 8, 16], name: 'grayscale' },
  2: { channels: 3, depths: [8, 16], name: 'RGB' },
  3: { channels: 1, depths: [1, 2, 4, 8], name: 'palette' },
  4: { channels: 2, depths: [8, 16], name: 'grayscale+alpha' },
  6: { channels: 4, depths: [8, 16], name: 'RGBA' },
};

/** Adam7 passes: first column, first row, column step, row step. */
const ADAM7 = [
  [0, 0, 8, 8],
  [4, 0, 8, 8],
  [0, 4, 4, 8],
  [2, 0, 4, 4],
  [0, 2, 2, 4],
  [1, 0, 2, 2],
  [0, 1, 1, 2],
] as const;

interface Pass {
  x0: number;
  y0: number;
  dx: number;
  dy: number;
  width: number;
  height: number;
}

function passesOf(header: Header): Pass[] {
  const { width, height } = header;
  if (!header.interlaced) return [{ x0: 0, y0: 0, dx: 1, dy: 1, width, height }];
  return ADAM7.map(([x0, y0, dx, dy]) => ({
    x0,
    y0,
    dx,
    dy,
    width: Math.ceil(Math.max(0, width - x0) / dx),
    height: Math.ceil(Math.max(0, height - y0) / dy),
  })).filter((p) => p.width > 0 && p.height > 0);
}

function rowBytes(width: number, bitsPerPixel: number): number {
  return Math.ceil((width * bitsPerPixel) / 8);
}

/**
 * Decodes a PNG to 8-bit grayscale: RGB becomes luminance 0.299 R + 0.587 G + 0.114 B, and any
 * transparency (alpha channel or tRNS) is composited over a white background. `source` (usually
 * the path) goes into error messages.
 */
export function decodePng(bytes: Uint8Array, source = '<buffer>', limits: PngLimits = DEFAULT_PNG_LIMITS): GrayImage {
  const { width, height, pixels } = decodeToChannels(bytes, source, limits, false);
  return { width, height, pixels };
}

/**
 * Decodes a PNG keeping its color: gray and gray+alpha files become 8-bit gray (channels 1), RGB,
 * RGBA and palette files 8-bit RGB (channels 3, interleaved). Transparency is composited over white,
 * as decodePng does, and 16-bit samples are rounded to 8 bits.
 */
export function decodePngColor(
  bytes: Uint8Array,
  source = '<buffer>',
  limits: PngLimits = DEFAULT_PNG_LIMITS,
): RasterImage {
  return decodeToChannels(bytes, source, limits, true);
}

function decodeToChannels(bytes: Uint8Array, source: string, limits: PngLimits, keepColor: boolean): RasterImage {
  const fail = (problem: string): never => {
    throw new PngError(source, problem);
  };
  if (bytes.length < 8 || PNG_SIGNATURE.some((b, i) => bytes[i] !== b)) {
    fail('not a PNG file (the 8-byte signature is missing)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);

  let header: Header | undefined;
  let palette: Uint8Array | undefined;
  let transparency: Uint8Array | undefined;
  const idat: Uint8Array[] = [];
  let sawIend = false;
  for (let at = 8; !sawIend;) {
    if (at + 12 > bytes.length) {
      fail(header ? 'file ends before the IEND chunk (truncated?)' : 'file ends before the IHDR chunk');
    }
    const length = view.getUint32(at);
    const typeBytes = bytes.subarray(at + 4, at + 8);
    const type = String.fromCharCode(...typeBytes);
    if (!/^[A-Za-z]{4}$/.test(type)) fail(`chunk at byte ${at} has an invalid type ${JSON.stringify(type)}`);
    if (length > 0x7fffffff || at + 12 + length > bytes.length) {
      fail(`${type} chunk at byte ${at} claims ${length} bytes, past the end of the file (truncated?)`);
    }
    const data = bytes.subarray(at + 8, at + 8 + length);
    const storedCrc = view.getUint32(at + 8 + length);
    if (crc32(data, crc32(typeBytes)) !== storedCrc) {
      fail(`${type} chunk at byte ${at} has a bad CRC (the file is damaged)`);
    }
    at += 12 + length;

    if (!header && type !== 'IHDR') fail(`the first chunk is ${type}, not IHDR`);
    switch (type) {
      case 'IHDR':
        if (header) fail('more than one IHDR chunk');
        header = parseHeader(data, fail, limits);
        break;
      case 'PLTE':
        if (palette) fail('more than one PLTE chunk');
        if (idat.length) fail('PLTE chunk after image data');
        if (length === 0 || length % 3 !== 0 || length > 256 * 3) {
          fail(`PLTE chunk is ${length} bytes, not 3 bytes per entry for 1-256 entries`);
        }
        palette = data;
        break;
      case 'tRNS':
        if (idat.length) fail('tRNS chunk after image data');
        transparency = data;
        break;
      case 'IDAT':
        idat.push(data);
        break;
      case 'IEND':
        sawIend = true;
        break;
      default:
        // Lower-case first letter: ancillary, safe to skip. Upper-case: critical, meaning unknown.
        if (type.charCodeAt(0) < 0x61) fail(`unknown critical chunk ${type}`);
    }
  }
  const h = header!;
  if (idat.length === 0) fail('no IDAT chunk: the file holds no image data');
  if (h.colorType === 3) {
    if (!palette) fail('palette image without a PLTE chunk');
    if (palette!.length / 3 > 1 << h.bitDepth) {
      fail(`PLTE has ${palette!.length / 3} entries, more than a ${h.bitDepth}-bit index can address`);
    }
  }
  const bitsPerPixel = COLOR_TYPES[h.colorType].channels * h.bitDepth;
  const passes = passesOf(h);
  const expected = passes.reduce((sum, p) => sum + p.height * (1 + rowBytes(p.width, bitsPerPixel)), 0);
  const raw = inflateExactly(concat(idat), expected, fail);
  const channels = keepColor && COLOR_TYPES[h.colorType].name !== 'grayscale' && h.colorType !== 4 ? 3 : 1;
  const toGray = channels === 1 ? grayConverter(h, palette, transparency, fail) : undefined;
  const toRgb = channels === 3 ? rgbConverter(h, palette, transparency, fail) : undefined;

  const pixels = new Uint8Array(h.width * h.height * channels);
  const bytesPerPixel = Math.max(1, bitsPerPixel >> 3);
  let offset = 0;
  for (const pass of passes) {
    const stride = rowBytes(pass.width, bitsPerPixel);
    let previous = new Uint8Array(stride);
    let current = new Uint8Array(stride);
    for (let y = 0; y < pass.height; y++) {
      const filter = raw[offset];
      current.set(raw.subarray(offset + 1, offset + 1 + stride));
      offset += 1 + stride;
      unfilterRow(filter, current, previous, bytesPerPixel, fail);
      const rowStart = (pass.y0 + y * pass.dy) * h.width + pass.x0;
      if (toGray) { for (let x = 0; x < pass.width; x++) pixels[rowStart + x * pass.dx] = toGray(current, x); }
      else for (let x = 0; x < pass.width; x++) toRgb!(current, x, pixels, 3 * (rowStart + x * pass.dx));
      [previous, current] = [current, previous];
    }
  }
  return { width: h.width, height: h.height, channels, pixels };
}

function parseHeader(data: Uint8Array, fail: (problem: string) => never, limits: PngLimits): Header {
  if (data.length !== 13) fail(`IHDR chunk is ${data.length} bytes, not 13`);
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const width = view.getUint32(0);
  const height = view.getUint32(4);
  const [bitDepth, colorType, compression, filter, interlace] = data.subarray(8);
  if (width === 0 || height === 0) fail(`image is ${width}x${height}: it has no pixels`);
  if (width > 0x7fffffff || height > 0x7fffffff) fail(`image size ${width}x${height} is out of range`);
  if (width * height > limits.maxPixels) {
    fail(`image is ${width}x${height} = ${width * height} pixels, more than the limit of ${limits.maxPixels}`);
  }
  const kind = COLOR_TYPES[colorType];
  if (!kind) fail(`unknown color type ${colorType}`);
  if (!kind.depths.includes(bitDepth)) {
    fail(
      `bit depth ${bitDepth} is not allowed for ${kind.name} (color type ${colorType}); allowed: ${
        kind.depths.join(', ')
      }`,
    );
  }
  if (compression !== 0) fail(`unknown compression method ${compression}`);
  if (filter !== 0) fail(`unknown filter method ${filter}`);
  if (interlace > 1) fail(`unknown interlace method ${interlace}`);
  return { width, height, bitDepth, colorType, interlaced: interlace === 1 };
}

function concat(parts: Uint8Array[]): Uint8Array {
  if (parts.length === 1) return parts[0];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Inflates the zlib stream, refusing to produce more than `expected` bytes (no zip bombs). */
function inflateExactly(compressed: Uint8Array, expected: number, fail: (problem: string) => never): Uint8Array {
  let raw: Uint8Array;
  try {
    raw = inflateSync(compressed, { maxOutputLength: expected + 1 });
  } catch (err) {
    const message = (err as Error).message ?? String(err);
    if (
      (err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE' ||
      /larger than|too large|maxOutputLength/i.test(message)
    ) {
      return fail(`image data decompresses to more than the ${expected} bytes the header implies`);
    }
    return fail(`image data is not a valid zlib stream (${message})`);
  }
  if (raw.length > expected) fail(`image data decompresses to more than the ${expected} bytes the header implies`);
  if (raw.length < expected) {
    fail(`image data decompresses to ${raw.length} bytes, fewer than the ${expected} the header implies (truncated?)`);
  }
  return raw;
}

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Reverses a row's filter in place; `previous` is the unfiltered row above (zeros for the first). */
function unfilterRow(
  filter: number,
  row: Uint8Array,
  previous: Uint8Array,
  bpp: number,
  fail: (problem: string) => never,
): void {
  const n = row.length;
  switch (filter) {
    case 0:
      return;
    case 1: // Sub
      for (let i = bpp; i < n; i++) row[i] = row[i] + row[i - bpp];
      return;
    case 2: // Up
      for (let i = 0; i < n; i++) row[i] = row[i] + previous[i];
      return;
    case 3: // Average
      for (let i = 0; i < n; i++) row[i] = row[i] + (((i >= bpp ? row[i - bpp] : 0) + previous[i]) >> 1);
      return;
    case 4: // Paeth
      for (let i = 0; i < n; i++) {
        row[i] = row[i] + (i >= bpp ? paeth(row[i - bpp], previous[i], previous[i - bpp]) : previous[i]);
      }
      return;
    default:
      fail(`unknown row filter type ${filter}`);
  }
}

/**
 * The 8-bit gray value of a pixel with weighted luminance sum `lum` = 299 R + 587 G + 114 B (so
 * 1000 * max for white) and alpha `alpha` of `alphaMax`, composited over white:
 *   255 * (L * A + (1 - A)),  L = lum / (1000 * max),  A = alpha / alphaMax
 * rounded half up. Done in integers (all below 2^53, so exact in doubles) so that every runtime and
 * every test reference agree to the last bit, with no float ties.
 */
function grayOverWhite(lum: number, max: number, alpha: number, alphaMax: number): number {
  const den = 1000 * max * alphaMax;
  const num = 255 * (lum * alpha + 1000 * max * (alphaMax - alpha));
  const twice = 2 * num + den;
  return (twice - (twice % (2 * den))) / (2 * den);
}

/** A function reading pixel x of an unfiltered row and returning its 8-bit gray value. */
function grayConverter(
  h: Header,
  palette: Uint8Array | undefined,
  transparency: Uint8Array | undefined,
  fail: (problem: string) => never,
): (row: Uint8Array, x: number) => number {
  const depth = h.bitDepth;
  const max = 2 ** depth - 1;
  // Sample i of a row at this bit depth (samples never straddle bytes).
  const sample = depth === 16
    ? (row: Uint8Array, i: number) => (row[2 * i] << 8) | row[2 * i + 1]
    : depth === 8
    ? (row: Uint8Array, i: number) => row[i]
    : (row: Uint8Array, i: number) => (row[(i * depth) >> 3] >> (8 - depth - ((i * depth) & 7))) & max;
  const tRNSKey = (i: number) => (transparency![2 * i] << 8) | transparency![2 * i + 1];
  const lum = (r: number, g: number, b: number) => 299 * r + 587 * g + 114 * b;

  switch (h.colorType) {
    case 0: {
      if (transparency && transparency.length !== 2) {
        fail(`tRNS chunk for grayscale is ${transparency.length} bytes, not 2`);
      }
      const key = transparency ? tRNSKey(0) : -1;
      return (row, x) => {
        const v = sample(row, x);
        return v === key ? 255 : grayOverWhite(1000 * v, max, 1, 1);
      };
    }
    case 2: {
      if (transparency && transparency.length !== 6) fail(`tRNS chunk for RGB is ${transparency.length} bytes, not 6`);
      const [kr, kg, kb] = transparency ? [tRNSKey(0), tRNSKey(1), tRNSKey(2)] : [-1, -1, -1];
      return (row, x) => {
        const r = sample(row, 3 * x);
        const g = sample(row, 3 * x + 1);
        const b = sample(row, 3 * x + 2);
        return r === kr && g === kg && b === kb ? 255 : grayOverWhite(lum(r, g, b), max, 1, 1);
      };
    }
    case 3: {
      const entries = palette!.length / 3;
      if (transparency && transparency.length > entries) {
        fail(`tRNS chunk has ${transparency.length} entries, more than the palette's ${entries}`);
      }
      const table = new Uint8Array(entries);
      for (let i = 0; i < entries; i++) {
        const alpha = transparency && i < transparency.length ? transparency[i] : 255;
        table[i] = grayOverWhite(lum(palette![3 * i], palette![3 * i + 1], palette![3 * i + 2]), 255, alpha, 255);
      }
      return (row, x) => {
        const index = sample(row, x);
        if (index >= entries) fail(`pixel index ${index} is past the ${entries}-entry palette`);
        return table[index];
      };
    }
    case 4:
      return (row, x) => grayOverWhite(1000 * sample(row, 2 * x), max, sample(row, 2 * x + 1), max);
    case 6:
      return (row, x) =>
        grayOverWhite(
          lum(sample(row, 4 * x), sample(row, 4 * x + 1), sample(row, 4 * x + 2)),
          max,
          sample(row, 4 * x + 3),
          max,
        );
    default:
      return fail(`unknown color type ${h.colorType}`);
  }
}

/** A function writing pixel x of an unfiltered row as 8-bit R, G, B at out[at..at+2] (color types 2, 3, 6). */
function rgbConverter(
  h: Header,
  palette: Uint8Array | undefined,
  transparency: Uint8Array | undefined,
  fail: (problem: string) => never,
): (row: Uint8Array, x: number, out: Uint8Array, at: number) => void {
  const max = 2 ** h.bitDepth - 1;
  const sample = h.bitDepth === 16
    ? (row: Uint8Array, i: number) => (row[2 * i] << 8) | row[2 * i + 1]
    : h.bitDepth === 8
    ? (row: Uint8Array, i: number) => row[i]
    : (row: Uint8Array, i: number) => (row[(i * h.bitDepth) >> 3] >> (8 - h.bitDepth - ((i * h.bitDepth) & 7))) & max;
  // One channel over white: 1000 * v is the "luminance" grayOverWhite takes for a single channel.
  const over = (v: number, vMax: number, alpha: number, alphaMax: number) =>
    grayOverWhite(1000 * v, vMax, alpha, alphaMax);
  switch (h.colorType) {
    case 2: {
      if (transparency && transparency.length !== 6) fail(`tRNS chunk for RGB is ${transparency.length} bytes, not 6`);
      const key = transparency
        ? [0, 1, 2].map((i) => (transparency[2 * i] << 8) | transparency[2 * i + 1])
        : [-1, -1, -1];
      return (row, x, out, at) => {
        const r = sample(row, 3 * x);
        const g = sample(row, 3 * x + 1);
        const b = sample(row, 3 * x + 2);
        const clear = r === key[0] && g === key[1] && b === key[2];
        out[at] = clear ? 255 : over(r, max, 1, 1);
        out[at + 1] = clear ? 255 : over(g, max, 1, 1);
        out[at + 2] = clear ? 255 : over(b, max, 1, 1);
      };
    }
    case 3: {
      const entries = palette!.length / 3;
      if (transparency && transparency.length > entries) {
        fail(`tRNS chunk has ${transparency.length} entries, more than the palette's ${entries}`);
      }
      const table = new Uint8Array(entries * 3);
      for (let i = 0; i < entries; i++) {
        const alpha = transparency && i < transparency.length ? transparency[i] : 255;
        for (let c = 0; c < 3; c++) table[3 * i + c] = over(palette![3 * i + c], 255, alpha, 255);
      }
      return (row, x, out, at) => {
        const index = sample(row, x);
        if (index >= entries) fail(`pixel index ${index} is past the ${entries}-entry palette`);
        out.set(table.subarray(3 * index, 3 * index + 3), at);
      };
    }
    case 6:
      return (row, x, out, at) => {
        const alpha = sample(row, 4 * x + 3);
        for (let c = 0; c < 3; c++) out[at + c] = over(sample(row, 4 * x + c), max, alpha, max);
      };
    default:
      return fail(`color type ${h.colorType} has no color`);
  }
}

// ---- Encoder ----

/** One chunk: length, type, data, CRC over type and data. */
export function pngChunk(type: string, data: Uint8Array): Uint8Array {
  if (!/^[A-Za-z]{4}$/.test(type)) throw new TypeError(`pngChunk: invalid chunk type ${JSON.stringify(type)}`);
  const out = new Uint8Array(12 + data.length);
  const view = new DataView(out.buffer);
  view.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  view.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

/**
 * Encodes an 8-bit grayscale PNG, non-interlaced. Each row takes whichever filter leaves the
 * smallest sum of absolute differences, the usual heuristic that helps deflate most.
 */
export function encodePngGray(image: GrayImage): Uint8Array {
  return encodePng({ ...image, channels: 1 }, 'encodePngGray');
}

/** Encodes an 8-bit gray (channels 1) or RGB (channels 3, interleaved) PNG, as encodePngGray does. */
export function encodePng(image: RasterImage, caller = 'encodePng'): Uint8Array {
  const { width, height, pixels, channels } = image;
  if (
    !Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1 || width > 0x7fffffff ||
    height > 0x7fffffff
  ) {
    throw new RangeError(`${caller}: image size ${width}x${height} is not a positive integer size`);
  }
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`${caller}: ${channels} channels; 1 (gray) or 3 (RGB) are written`);
  }
  if (pixels.length !== width * height * channels) {
    throw new RangeError(`${caller}: ${pixels.length} pixels for a ${width}x${height} image`);
  }
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  // bit depth 8, grayscale or RGB, deflate, adaptive filtering, no interlace
  ihdr.set([8, channels === 1 ? 0 : 2, 0, 0, 0], 8);
  const stride = width * channels;
  const raw = new Uint8Array(height * (stride + 1));
  const candidate = new Uint8Array(stride);
  const zeros = new Uint8Array(stride);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const above = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : zeros;
    let bestCost = Infinity;
    for (let filter = 0; filter <= 4; filter++) {
      filterRow(filter, row, above, candidate, channels);
      let cost = 0;
      for (let i = 0; i < stride; i++) cost += candidate[i] < 128 ? candidate[i] : 256 - candidate[i];
      if (cost < bestCost) {
        bestCost = cost;
        raw[y * (stride + 1)] = filter;
        raw.set(candidate, y * (stride + 1) + 1);
      }
    }
  }
  return concat([
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', new Uint8Array(0)),
  ]);
}

/** Applies filter `filter` to an 8-bit row of `bpp` bytes per pixel. */
function filterRow(filter: number, row: Uint8Array, above: Uint8Array, out: Uint8Array, bpp = 1): void {
  for (let i = 0; i < row.length; i++) {
    const a = i >= bpp ? row[i - bpp] : 0;
    const b = above[i];
    const c = i >= bpp ? above[i - bpp] : 0;
    const predictor = filter === 0
      ? 0
      : filter === 1
      ? a
      : filter === 2
      ? b
      : filter === 3
      ? (a + b) >> 1
      : paeth(a, b, c);
    out[i] = (row[i] - predictor) & 0xff;
  }
}
