// The IDX format itself (the MNIST container), parsed from and encoded to bytes, with the error every
// reader of a dataset file throws. No file system here: the browser page parses what it fetched with it.

/** A dataset file that is missing, unreadable, corrupt or not what was expected. */
export class DataError extends Error {
  override name = 'DataError';

  constructor(
    readonly path: string,
    readonly problem: string,
    readonly advice: string,
  ) {
    super(`${path}: ${problem}. ${advice}`);
  }
}

/** An IDX array of unsigned bytes: `dims` in row-major order, `data.length` their product. */
export interface IdxArray {
  /** The header's magic number: 0x0800 + number of dimensions (2051 images, 2049 labels). */
  magic: number;
  dims: number[];
  data: Uint8Array;
}

/** IDX type code of unsigned bytes, the only element type MNIST-style datasets use. */
const UBYTE = 0x08;
/** More dimensions than any dataset uses; guards against reading a header out of random bytes. */
const MAX_DIMS = 8;
const GZIP_MAGIC = [0x1f, 0x8b];

export const REPLACE = 'Delete it and run again to re-download it, or replace it with a good copy';

export function isGzip(bytes: Uint8Array): boolean {
  return bytes.length >= 2 && bytes[0] === GZIP_MAGIC[0] && bytes[1] === GZIP_MAGIC[1];
}

/**
 * Parses an uncompressed IDX file. The payload must be exactly the size the header declares: a
 * short file is truncated, a long one is not the file it claims to be. `data` is a view into `bytes`.
 */
export function parseIdx(bytes: Uint8Array, path: string): IdxArray {
  if (bytes.length < 4) {
    throw new DataError(path, `is ${bytes.length} bytes long, too short for an IDX header`, REPLACE);
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const magic = view.getUint32(0);
  const type = bytes[2];
  const ndims = bytes[3];
  if (bytes[0] !== 0 || bytes[1] !== 0 || type !== UBYTE || ndims < 1 || ndims > MAX_DIMS) {
    throw new DataError(
      path,
      `is not an IDX file of unsigned bytes (magic number ${magic} = 0x${magic.toString(16).padStart(8, '0')}, ` +
        `expected 0x0000080N with 1 <= N <= ${MAX_DIMS}, e.g. 2051 for images or 2049 for labels)`,
      REPLACE,
    );
  }
  const headerBytes = 4 + 4 * ndims;
  if (bytes.length < headerBytes) {
    throw new DataError(
      path,
      `is truncated: its header declares ${ndims} dimensions (${headerBytes} header bytes) but the file has ${bytes.length} bytes`,
      REPLACE,
    );
  }
  const dims: number[] = [];
  let payload = 1;
  for (let i = 0; i < ndims; i++) {
    const dim = view.getInt32(4 + 4 * i);
    if (dim < 0) throw new DataError(path, `has a negative size ${dim} in dimension ${i} of its header`, REPLACE);
    dims.push(dim);
    payload *= dim; // exact in float64 as long as it stays below 2^53; compared against a real length below
  }
  const actual = bytes.length - headerBytes;
  if (payload !== actual) {
    // The magic names what the header claims to be: a changed magic misreads the dimensions.
    const what = `its header (magic ${magic} = 0x${magic.toString(16).padStart(8, '0')}, ${ndims} dimension${
      ndims === 1 ? '' : 's'
    }) declares ${dims.join('x')} = ${payload} bytes of data`;
    const problem = actual < payload
      ? `is truncated: ${what} but only ${actual} follow the header`
      : `is longer than ${what}: ${actual} bytes follow the header`;
    throw new DataError(path, problem, REPLACE);
  }
  return { magic, dims, data: bytes.subarray(headerBytes) };
}

/** Encodes an array of unsigned bytes as an IDX file (the inverse of parseIdx). */
export function encodeIdx(dims: readonly number[], data: Uint8Array): Uint8Array {
  if (dims.length < 1 || dims.length > MAX_DIMS) {
    throw new RangeError(`IDX arrays have 1 to ${MAX_DIMS} dimensions, got ${dims.length}`);
  }
  const size = dims.reduce((a, b) => a * b, 1);
  if (size !== data.length) throw new RangeError(`dims ${dims.join('x')} hold ${size} bytes, data has ${data.length}`);
  const bytes = new Uint8Array(4 + 4 * dims.length + data.length);
  const view = new DataView(bytes.buffer);
  view.setUint32(0, (UBYTE << 8) | dims.length);
  dims.forEach((dim, i) => view.setUint32(4 + 4 * i, dim));
  bytes.set(data, 4 + 4 * dims.length);
  return bytes;
}
