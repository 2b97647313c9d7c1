// Reader for IDX files (the MNIST container format), raw or gzipped. Every way a file can be wrong
// ends in one DataError that names the file, says what is wrong and what to do; nothing else escapes.
import { readFileSync, type Stats, statSync } from 'node:fs';
import { describeKind, isKernelFile } from '../io/files.ts';
import { gunzipSync } from 'node:zlib';

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

const REPLACE = 'Delete it and run again to re-download it, or replace it with a good copy';

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

/**
 * Decompresses `fileBytes` if they are gzip data. A name ending in `.gz` must hold gzip data and
 * any other name must not, so that an HTML error page or a half-written file is never taken for data.
 */
export function decompressIdx(fileBytes: Uint8Array, path: string): Uint8Array {
  const gzipped = isGzip(fileBytes);
  if (path.endsWith('.gz')) {
    if (!gzipped) throw new DataError(path, 'is not gzip data although its name ends in .gz', REPLACE);
    try {
      const out = gunzipSync(fileBytes);
      return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
    } catch (err) {
      const reason = (err as Error).message;
      const problem = /unexpected end/i.test(reason)
        ? `is a truncated gzip file (${reason}); the download was probably interrupted`
        : `is a corrupt gzip file (${reason})`;
      throw new DataError(path, problem, REPLACE);
    }
  }
  if (gzipped) {
    throw new DataError(
      path,
      'holds gzip data but its name does not end in .gz',
      'Rename it to end in .gz or decompress it',
    );
  }
  return fileBytes;
}

/** Reads a whole file, turning a missing file, a directory or an unreadable file into a DataError. */
export function readDataFile(path: string): Uint8Array {
  let stats: Stats;
  try {
    stats = statSync(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new DataError(path, 'does not exist', 'Put the file there or point to the folder that has it');
    }
    throw new DataError(path, `cannot be read (${(err as Error).message})`, 'Check the path and its permissions');
  }
  if (stats.isDirectory()) {
    throw new DataError(path, 'is a directory, not a file', 'Remove or rename the directory and run again');
  }
  // A FIFO would block the read forever, /dev/zero never end it.
  if (!stats.isFile() || isKernelFile(path)) {
    throw new DataError(
      path,
      `is ${stats.isFile() ? 'a file of the kernel' : describeKind(stats)}, not a data file`,
      'Point to the real file',
    );
  }
  try {
    const bytes = readFileSync(path);
    return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } catch (err) {
    throw new DataError(path, `cannot be read (${(err as Error).message})`, 'Check the file and its permissions');
  }
}

/** Reads and parses an IDX file, gzipped when its name ends in `.gz`. */
export function readIdxFile(path: string): IdxArray {
  return parseIdx(decompressIdx(readDataFile(path), path), path);
}
