// A test-only PNG writer that can emit every color type, bit depth, filter and Adam7 interlacing, so
// the decoder is checked on variants the production encoder (8-bit gray only) never writes. It
// shares only the chunk framing (pngChunk/crc32) with src/io/png.ts; the tests pin that framing with
// hand-written bytes separately.
import { deflateSync } from 'node:zlib';
import { PNG_SIGNATURE, pngChunk } from '../../src/io/png.ts';
import type { Rng } from '../../src/util/random.ts';

export const CHANNELS: Record<number, number> = { 0: 1, 2: 3, 3: 1, 4: 2, 6: 4 };
export const DEPTHS: Record<number, number[]> = {
  0: [1, 2, 4, 8, 16],
  2: [8, 16],
  3: [1, 2, 4, 8],
  4: [8, 16],
  6: [8, 16],
};

export interface PngSpec {
  width: number;
  height: number;
  colorType: number;
  bitDepth: number;
  interlaced?: boolean;
  /** width * height * channels samples, each in [0, 2^bitDepth). */
  samples: ArrayLike<number>;
  palette?: Uint8Array;
  transparency?: Uint8Array;
  /** Row filters, used in turn row after row (default: all five). */
  filters?: number[];
  /** Split the zlib stream over this many IDAT chunks (default 1). */
  idatChunks?: number;
  /** Extra chunks written just before the first IDAT. */
  extraChunks?: Uint8Array[];
}

const ADAM7 = [[0, 0, 8, 8], [4, 0, 8, 8], [0, 4, 4, 8], [2, 0, 4, 4], [0, 2, 2, 4], [1, 0, 2, 2], [0, 1, 1, 2]];

function paeth(a: number, b: number, c: number): number {
  const p = a + b - c;
  const [pa, pb, pc] = [Math.abs(p - a), Math.abs(p - b), Math.abs(p - c)];
  return pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
}

/** Packs one row of samples big-endian / MSB-first at the given bit depth. */
function packRow(samples: number[], bitDepth: number): Uint8Array {
  const out = new Uint8Array(Math.ceil((samples.length * bitDepth) / 8));
  samples.forEach((s, i) => {
    if (bitDepth === 16) {
      out[2 * i] = s >> 8;
      out[2 * i + 1] = s & 0xff;
    } else {
      const bit = i * bitDepth;
      out[bit >> 3] |= s << (8 - bitDepth - (bit & 7));
    }
  });
  return out;
}

/** The filtered scanlines (filter byte + row) the IDAT stream holds, before compression. */
export function scanlines(spec: PngSpec): Uint8Array {
  const channels = CHANNELS[spec.colorType];
  const bpp = Math.max(1, (channels * spec.bitDepth) >> 3);
  const filters = spec.filters ?? [0, 1, 2, 3, 4];
  const passes = spec.interlaced ? ADAM7 : [[0, 0, 1, 1]];
  const out: number[] = [];
  let rowIndex = 0;
  for (const [x0, y0, dx, dy] of passes) {
    const xs: number[] = [];
    for (let x = x0; x < spec.width; x += dx) xs.push(x);
    if (xs.length === 0) continue;
    let previous: Uint8Array | undefined;
    for (let y = y0; y < spec.height; y += dy) {
      const samples = xs.flatMap((x) =>
        Array.from({ length: channels }, (_, c) => spec.samples[(y * spec.width + x) * channels + c])
      );
      const row = packRow(samples, spec.bitDepth);
      const above = previous ?? new Uint8Array(row.length);
      const filter = filters[rowIndex++ % filters.length];
      out.push(filter);
      for (let i = 0; i < row.length; i++) {
        const a = i >= bpp ? row[i - bpp] : 0;
        const b = above[i];
        const c = i >= bpp ? above[i - bpp] : 0;
        const predictor = [0, a, b, (a + b) >> 1, paeth(a, b, c)][filter];
        out.push((row[i] - predictor) & 0xff);
      }
      previous = row;
    }
  }
  return Uint8Array.from(out);
}

export function ihdr(
  width: number,
  height: number,
  bitDepth: number,
  colorType: number,
  interlace = 0,
  compression = 0,
  filter = 0,
): Uint8Array {
  const data = new Uint8Array(13);
  const view = new DataView(data.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  data.set([bitDepth, colorType, compression, filter, interlace], 8);
  return pngChunk('IHDR', data);
}

export function concatBytes(...parts: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** Assembles a PNG from chunks: signature + IHDR + chunks + IEND. */
export function assemble(header: Uint8Array, ...chunks: Uint8Array[]): Uint8Array {
  return concatBytes(PNG_SIGNATURE, header, ...chunks, pngChunk('IEND', new Uint8Array(0)));
}

export function buildPng(spec: PngSpec): Uint8Array {
  const z = deflateSync(scanlines(spec));
  const parts = Math.max(1, spec.idatChunks ?? 1);
  const idats: Uint8Array[] = [];
  for (let i = 0; i < parts; i++) {
    idats.push(
      pngChunk('IDAT', z.subarray(Math.floor((i * z.length) / parts), Math.floor(((i + 1) * z.length) / parts))),
    );
  }
  return assemble(
    ihdr(spec.width, spec.height, spec.bitDepth, spec.colorType, spec.interlaced ? 1 : 0),
    ...(spec.palette ? [pngChunk('PLTE', spec.palette)] : []),
    ...(spec.transparency ? [pngChunk('tRNS', spec.transparency)] : []),
    ...(spec.extraChunks ?? []),
    ...idats,
  );
}

/** Random samples for a spec; palette images get a random palette and indices inside it. */
export function randomSpec(
  rng: Rng,
  colorType: number,
  bitDepth: number,
  width: number,
  height: number,
  interlaced: boolean,
): PngSpec {
  const channels = CHANNELS[colorType];
  const paletteSize = colorType === 3 ? 1 + rng.int(1 << bitDepth) : 0;
  const limit = colorType === 3 ? paletteSize : 2 ** bitDepth;
  const samples = Array.from({ length: width * height * channels }, () => rng.int(limit));
  const palette = colorType === 3 ? Uint8Array.from({ length: paletteSize * 3 }, () => rng.int(256)) : undefined;
  return { width, height, colorType, bitDepth, interlaced, samples, palette };
}

/**
 * The gray value a spec's pixel should decode to, written straight from the definitions in exact
 * rational arithmetic (BigInt): sample / (2^depth - 1), luminance 0.299 R + 0.587 G + 0.114 B,
 * alpha composited over white, times 255, rounded half up.
 */
export function expectedGray(spec: PngSpec): Uint8Array {
  const channels = CHANNELS[spec.colorType];
  const max = 2n ** BigInt(spec.bitDepth) - 1n;
  const t = spec.transparency;
  const key = (i: number) => t![2 * i] * 256 + t![2 * i + 1];
  const lum = (r: number, g: number, b: number) => 299n * BigInt(r) + 587n * BigInt(g) + 114n * BigInt(b);
  const out = new Uint8Array(spec.width * spec.height);
  for (let p = 0; p < out.length; p++) {
    const s = (c: number) => spec.samples[p * channels + c];
    // gray = lumNum / (1000 * grayMax), alpha = alphaNum / alphaMax
    let lumNum: bigint;
    let grayMax = max;
    let alphaNum = 1n;
    let alphaMax = 1n;
    switch (spec.colorType) {
      case 0:
        lumNum = 1000n * BigInt(s(0));
        if (t && s(0) === key(0)) alphaNum = 0n;
        break;
      case 2:
        lumNum = lum(s(0), s(1), s(2));
        if (t && s(0) === key(0) && s(1) === key(1) && s(2) === key(2)) alphaNum = 0n;
        break;
      case 3: {
        const pal = spec.palette!;
        const i = s(0);
        lumNum = lum(pal[3 * i], pal[3 * i + 1], pal[3 * i + 2]);
        grayMax = 255n;
        if (t && i < t.length) [alphaNum, alphaMax] = [BigInt(t[i]), 255n];
        break;
      }
      case 4:
        lumNum = 1000n * BigInt(s(0));
        [alphaNum, alphaMax] = [BigInt(s(1)), max];
        break;
      default:
        lumNum = lum(s(0), s(1), s(2));
        [alphaNum, alphaMax] = [BigInt(s(3)), max];
    }
    // 255 * (gray * alpha + 1 - alpha) = num / den
    const den = 1000n * grayMax * alphaMax;
    const num = 255n * (lumNum * alphaNum + 1000n * grayMax * (alphaMax - alphaNum));
    out[p] = Number((2n * num + den) / (2n * den));
  }
  return out;
}
