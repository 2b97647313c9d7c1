// Reader for IDX files (the MNIST container format), raw or gzipped. Every way a file can be wrong
// ends in one DataError that names the file, says what is wrong and what to do; nothing else escapes.
import { readFileSync, type Stats, statSync } from 'node:fs';
import { describeKind, isKernelFile } from '../io/files.ts';
import { gunzipSync } from 'node:zlib';
import { DataError, type IdxArray, isGzip, parseIdx, REPLACE } from './idx-format.ts';

export { DataError, encodeIdx, type IdxArray, isGzip, parseIdx } from './idx-format.ts';

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
