// The texture layouts the texture kernels read, and the kernels that pack buffers into them
// (shaders/pack_texture.wgsl, shaders/pack_channels_last.wgsl); src/reference/layout.ts is their CPU
// reference. Rows of 4-float texels let a kernel load four operands per texel fetch, which on
// lavapipe is what makes the texture products about twice as fast as the buffer ones.
import type { Gpu } from '../gpu/device.ts';
import { createRgba32fTexture, TEXTURE_USAGE } from '../gpu/buffers.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, maxPool2dOutputSize, texelsPerRow } from '../util/shapes.ts';
import { checkIntegers, grid } from './checks.ts';
import { normalizationConstants, type PixelNormalization } from './normalize.ts';

export { texelsPerRow };

const PACK_WORKGROUP = 64;

/** A texture that holds up to `rows` rows of up to `k` floats, packed for the texture kernels. */
export interface PackedMatrix {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  readonly rows: number;
  readonly k: number;
  /** Rows per column of pages: `rows` unless the matrix is taller than a texture may be (paged). */
  readonly pageRows: number;
}

/** Whether `rows` x `k` fits one texture under this texture-size limit (plain data: the planner calls it). */
export const packFits = (limits: { maxTextureDimension2D: number }, rows: number, k: number): boolean =>
  Math.max(rows, texelsPerRow(k)) <= limits.maxTextureDimension2D;

/**
 * A texture for up to `rows` rows of up to `k` floats. With `paged`, rows beyond the adapter's texture
 * height go to further columns of pages (conv2d's input; the product reads unpaged ones only). The caller
 * destroys it (`.texture.destroy()`).
 */
export function createPackedMatrix(
  gpu: Gpu,
  label: string,
  rows: number,
  k: number,
  options: { paged?: boolean } = {},
): PackedMatrix {
  const pageRows = options.paged ? Math.min(rows, gpu.limits.maxTextureDimension2D) : rows;
  const width = texelsPerRow(k) * Math.ceil(rows / pageRows);
  const texture = createRgba32fTexture(gpu, label, width, pageRows, TEXTURE_USAGE);
  return { texture, view: texture.createView({ label }), rows, k, pageRows };
}

/** Throws unless `rows` rows of `k` fit `dst`. */
export function checkFits(what: string, rows: number, k: number, dst: PackedMatrix): void {
  if (rows > dst.rows || k > dst.k) {
    throw new RangeError(
      `${what}: ${rows} rows of ${k} do not fit "${dst.texture.label}" (${dst.rows} rows of ${dst.k})`,
    );
  }
}

/**
 * Packs the matrix M [rows, k] into `dst`: `source` holds M row-major, or with `transpose` its
 * transpose [k, rows] (row-major), so that the texture's rows are the source's columns. With
 * `normalizePixels`, `source` holds uint8 pixels [rows, k] four to a word, and M is what
 * shaders/normalize.wgsl makes of them, bit for bit. One dispatch.
 */
export async function packMatrix(
  gpu: Gpu,
  shape: { rows: number; k: number; transpose?: boolean; normalizePixels?: PixelNormalization },
  source: BufferArg,
  dst: PackedMatrix,
): Promise<Dispatch> {
  const { rows, k } = shape;
  checkIntegers('packMatrix', { rows, k });
  checkFits('packMatrix', rows, k, dst);
  const k4 = texelsPerRow(k);
  const kernel = await getKernel(gpu, {
    shader: 'pack_texture',
    bindings: ['read', 'rgba32float_write'],
    constants: {
      ROWS: rows,
      K: k,
      K4: k4,
      TRANSPOSE: shape.transpose ? 1 : 0,
      PAGE: dst.pageRows,
      WG: PACK_WORKGROUP,
      ...(shape.normalizePixels ? { PIXELS: 1, ...normalizationConstants(shape.normalizePixels) } : {}),
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [source, dst.view]),
    workgroups: grid('packMatrix', ceilDiv(k4 * rows, PACK_WORKGROUP)),
  };
}

/** NCHW planes packed channels-last: row r of the texture holds item r, texel (y * width + x) * C4 + g. */
export interface ChannelsLastTexture {
  readonly texture: GPUTexture;
  readonly view: GPUTextureView;
  readonly items: number;
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** A texture for `items` NCHW items of channels x height x width, packed channels-last. The caller destroys it. */
export function createChannelsLastTexture(
  gpu: Gpu,
  label: string,
  items: number,
  channels: number,
  height: number,
  width: number,
): ChannelsLastTexture {
  const texture = createRgba32fTexture(gpu, label, height * width * texelsPerRow(channels), items, TEXTURE_USAGE);
  return { texture, view: texture.createView({ label }), items, channels, height, width };
}

/** Throws unless `t` holds at least `items` items of channels x height x width. */
export function checkChannelsLast(
  what: string,
  t: ChannelsLastTexture,
  items: number,
  channels: number,
  height: number,
  width: number,
): void {
  if (items > t.items || t.channels !== channels || t.height !== height || t.width !== width) {
    throw new RangeError(
      `${what}: "${t.texture.label}" holds ${t.items} of ${t.channels}x${t.height}x${t.width}, ` +
        `not ${items} of ${channels}x${height}x${width}`,
    );
  }
}

/**
 * Packs `items` NCHW items of `src` into `dst`, channels-last; each position the max over a pool x pool
 * window at `stride` (default pool 1: a plain repack). One dispatch.
 */
export async function packChannelsLast(
  gpu: Gpu,
  shape: { items: number; channels: number; height: number; width: number; pool?: number; stride?: number },
  src: BufferArg,
  dst: ChannelsLastTexture,
): Promise<Dispatch> {
  const { items, channels, height, width } = shape;
  const pool = shape.pool ?? 1;
  const stride = shape.stride ?? pool;
  checkIntegers('packChannelsLast', { items, channels, height, width, pool, stride }, 1, 2 ** 31);
  if (pool > height || pool > width) {
    throw new RangeError(`packChannelsLast: a ${pool}x${pool} window does not fit ${height}x${width}`);
  }
  const { outH, outW } = maxPool2dOutputSize({ batch: items, channels, height, width, kernel: pool, stride });
  if (items > dst.items || channels !== dst.channels || outH !== dst.height || outW !== dst.width) {
    throw new RangeError(
      `packChannelsLast: ${items} items of ${channels}x${outH}x${outW} do not fit "${dst.texture.label}" ` +
        `(${dst.items} of ${dst.channels}x${dst.height}x${dst.width})`,
    );
  }
  const c4 = texelsPerRow(channels);
  const kernel = await getKernel(gpu, {
    shader: 'pack_channels_last',
    bindings: ['read', 'rgba32float_write'],
    constants: {
      R: items,
      C: channels,
      H: height,
      W: width,
      OH: outH,
      OW: outW,
      C4: c4,
      POOL: pool,
      STRIDE: stride,
      WG: PACK_WORKGROUP,
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [src, dst.view]),
    workgroups: grid('packChannelsLast', ceilDiv(items * c4 * outH * outW, PACK_WORKGROUP)),
  };
}
