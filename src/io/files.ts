// File-system helpers every command that writes uses: parent directories created without Node's
// recursive mkdir (which spins forever on ENOENT under /proc), files replaced atomically, and errors
// that always carry the path.
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readdirSync,
  readFileSync,
  realpathSync,
  renameSync,
  type Stats,
  statSync,
  unlinkSync,
  writeSync,
} from 'node:fs';
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import process from 'node:process';

/** A file-system operation that failed; the message names the path and the system's reason. */
export class FileError extends Error {
  override name = 'FileError';
  constructor(readonly path: string, message: string, readonly code?: string) {
    super(message);
  }
}

const REASONS: Record<string, string> = {
  ENOENT: 'does not exist',
  ENOTDIR: 'has a file where a directory is expected',
  EISDIR: 'is a directory',
  EACCES: 'permission denied',
  EPERM: 'operation not permitted',
  EROFS: 'read-only file system',
  ENOSPC: 'no space left on device',
  EDQUOT: 'disk quota exceeded',
  ELOOP: 'is a symbolic link loop (too many levels of symbolic links)',
  ENAMETOOLONG: 'name too long',
  EEXIST: 'already exists',
  EIO: 'input/output error',
};

export function errorCode(err: unknown): string | undefined {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' ? code : undefined;
}

/** "no space left on device (ENOSPC)", or the error's own message for codes without a plain wording. */
export function describeFsError(err: unknown): string {
  const code = errorCode(err);
  if (code && REASONS[code]) return `${REASONS[code]} (${code})`;
  return (err as Error)?.message ?? String(err);
}

/** What a path is, for messages: "a directory", "a character device", ... */
export function describeKind(stats: Stats): string {
  if (stats.isDirectory()) return 'a directory';
  if (stats.isCharacterDevice()) return 'a character device';
  if (stats.isBlockDevice()) return 'a block device';
  if (stats.isFIFO()) return 'a named pipe';
  if (stats.isSocket()) return 'a socket';
  if (stats.isFile()) return 'a file';
  return 'not a regular file';
}

/** stat() that says what went wrong with the path, or undefined when nothing is there. */
export function statOrUndefined(path: string): Stats | undefined {
  try {
    return statSync(path);
  } catch (err) {
    // ENOTDIR: a file where a parent directory should be; nothing is at `path` either.
    if (errorCode(err) === 'ENOENT' || errorCode(err) === 'ENOTDIR') return undefined;
    throw new FileError(path, `${path}: ${describeFsError(err)}`, errorCode(err));
  }
}

/**
 * Creates `dir` and any missing parents, one level at a time. Every failure names the directory
 * that could not be created and why; a file in the way is reported as such.
 */
export function ensureDir(dir: string): void {
  const missing: string[] = [];
  let current = resolve(dir);
  for (;;) {
    let stats: Stats | undefined;
    try {
      stats = statSync(current);
    } catch (err) {
      // ENOTDIR: a file further up; the walk finds it and says so.
      if (errorCode(err) !== 'ENOENT' && errorCode(err) !== 'ENOTDIR') {
        throw new FileError(
          current,
          `cannot create directory ${dir}: ${current}: ${describeFsError(err)}`,
          errorCode(err),
        );
      }
    }
    if (stats) {
      if (!stats.isDirectory()) {
        throw new FileError(current, `cannot create directory ${dir}: ${current} is ${describeKind(stats)}`, 'ENOTDIR');
      }
      break;
    }
    const parent = dirname(current);
    if (parent === current) break;
    missing.push(current);
    current = parent;
  }
  for (const path of missing.reverse()) {
    try {
      mkdirSync(path);
    } catch (err) {
      if (errorCode(err) === 'EEXIST' && statOrUndefined(path)?.isDirectory()) continue;
      // mkdir's ENOENT means the parent exists but takes no new entries (/proc, /sys).
      const reason = errorCode(err) === 'ENOENT'
        ? `${dirname(path)} does not accept new directories (ENOENT)`
        : describeFsError(err);
      throw new FileError(path, `cannot create directory ${path}: ${reason}`, errorCode(err));
    }
  }
}

/** A temporary name beside `path`: hidden, unique to this process and write, ending in .tmp. */
function tempPath(path: string): string {
  const random = `${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}`;
  return join(dirname(path), `.${basename(path)}.${process.pid}.${random}.tmp`);
}

/** Whether process `pid` is gone (another user's live process counts as alive). */
function processGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch (err) {
    return errorCode(err) === 'ESRCH';
  }
}

/**
 * Removes the temporary files that killed writers of `path` left beside it (their process is gone),
 * so a killed write's temp file lasts only until the next write to the same place.
 */
export function removeDeadWritersTempFiles(path: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dirname(path));
  } catch {
    return [];
  }
  const prefix = `.${basename(path)}.`;
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith(prefix)) continue;
    const match = /^(\d+)\.[0-9a-z]+\.tmp$/.exec(name.slice(prefix.length));
    if (!match || Number(match[1]) === process.pid || !processGone(Number(match[1]))) continue;
    try {
      unlinkSync(join(dirname(path), name));
      removed.push(join(dirname(path), name));
    } catch {
      // Gone already, or not ours to remove.
    }
  }
  return removed;
}

/** Paths of the kernel's pseudo file systems: their "files" block, never end, or change under a reader. */
export function isKernelFile(path: string): boolean {
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    real = resolve(path);
  }
  return /^\/(proc|sys)(\/|$)/.test(real);
}

/**
 * The rename of an atomic write replaces whatever is at `path`: refuse anything but a regular file,
 * so /dev/stdout, /dev/null or a FIFO stays what it is.
 */
function assertReplaceable(path: string): void {
  const stats = statOrUndefined(path);
  if (stats && !stats.isFile()) {
    throw new FileError(
      path,
      `cannot write ${path}: it is ${describeKind(stats)}, not a file, and is never replaced`,
      stats.isDirectory() ? 'EISDIR' : 'EINVAL',
    );
  }
}

/** Whether `name` is a temporary file that writeFileAtomic left for a file whose name matches `base`. */
export function isTempFileOf(name: string, base: RegExp): boolean {
  const match = /^\.(.+)\.\d+\.[0-9a-z]+\.tmp$/.exec(name);
  return match !== null && new RegExp(`^(?:${base.source})$`).test(match[1]);
}

/**
 * Removes the temporary files that killed writes of files named like `base` (a pattern for the
 * base name) left in `dir`. Callers must be the only writer there (see train/lock.ts). Returns them.
 */
export function removeStaleTempFiles(dir: string, base: RegExp): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return [];
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!isTempFileOf(name, base)) continue;
    try {
      unlinkSync(join(dir, name));
      removed.push(join(dir, name));
    } catch {
      // Gone already, or not ours to remove: either way nothing to do.
    }
  }
  return removed;
}

function writeError(path: string, err: unknown): FileError {
  if (err instanceof FileError) return err;
  return new FileError(path, `cannot write ${path}: ${describeFsError(err)}`, errorCode(err));
}

/**
 * Writes `bytes` to `path` so that `path` holds either its old content or all of the new one, never a
 * partial file: create the parent directories, write a temporary file in the same directory, fsync
 * it, rename it over `path`, then fsync the directory (where the platform allows) so the rename
 * itself survives a crash. Errors are FileErrors naming `path`.
 */
export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  let temp: string | undefined;
  try {
    ensureDir(dir);
    assertReplaceable(path);
    removeDeadWritersTempFiles(path);
    temp = tempPath(path);
    const handle = await open(temp, 'wx');
    try {
      let written = 0;
      while (written < bytes.length) {
        const { bytesWritten } = await handle.write(bytes, written, bytes.length - written);
        written += bytesWritten;
      }
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    if (temp) await unlink(temp).catch(() => {});
    throw writeError(path, err);
  }
  await syncDirectory(dir);
}

/** The synchronous twin of writeFileAtomic, for commands with nothing else to do meanwhile. */
export function writeFileAtomicSync(path: string, bytes: Uint8Array): void {
  const dir = dirname(path);
  let temp: string | undefined;
  try {
    ensureDir(dir);
    assertReplaceable(path);
    removeDeadWritersTempFiles(path);
    temp = tempPath(path);
    const fd = openSync(temp, 'wx');
    try {
      for (let offset = 0; offset < bytes.length;) offset += writeSync(fd, bytes, offset, bytes.length - offset);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
  } catch (err) {
    if (temp) {
      try {
        unlinkSync(temp);
      } catch {
        // Never created, or already renamed.
      }
    }
    throw writeError(path, err);
  }
  syncDirectorySync(dir);
}

/** Best effort: some platforms (Windows) and runtimes cannot open or fsync a directory. */
export async function syncDirectory(dir: string): Promise<void> {
  let handle;
  try {
    handle = await open(dir, 'r');
    await handle.sync();
  } catch {
    // The data itself is already synced; only the directory entry's durability is at stake.
  } finally {
    await handle?.close().catch(() => {});
  }
}

function syncDirectorySync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, 'r');
    fsyncSync(fd);
  } catch {
    // As syncDirectory.
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** The largest file read whole unless a reader says otherwise: far above any checkpoint, log or dataset here. */
export const MAX_READ_BYTES = 1 << 30;

/**
 * Reads a regular file whole. Refuses directories, devices, pipes (reading /dev/zero never ends, a FIFO
 * blocks), /proc and /sys files, and files over `maxBytes`, and says which: `what` names the file's
 * role in messages ("Checkpoint", "Optimizer state").
 */
export function readRegularFile(path: string, what: string, missingAdvice = '', maxBytes = MAX_READ_BYTES): Uint8Array {
  let stats: Stats | undefined;
  try {
    stats = statSync(path);
  } catch (err) {
    const code = errorCode(err);
    if (code === 'ENOENT') {
      throw new FileError(path, `${what} ${path} does not exist.${missingAdvice ? ` ${missingAdvice}` : ''}`, code);
    }
    throw new FileError(path, `${what} ${path} cannot be read: ${describeFsError(err)}`, code);
  }
  if (!stats.isFile()) {
    throw new FileError(
      path,
      `${what} ${path} is ${describeKind(stats)}, not a file`,
      stats.isDirectory() ? 'EISDIR' : undefined,
    );
  }
  if (isKernelFile(path)) {
    throw new FileError(path, `${what} ${path} is a file of the kernel (/proc, /sys), not a file on disk`, 'EINVAL');
  }
  if (stats.size > maxBytes) {
    throw new FileError(
      path,
      `${what} ${path} is ${stats.size} bytes, more than the ${maxBytes} bytes it may have`,
      'EFBIG',
    );
  }
  try {
    return readFileSync(path);
  } catch (err) {
    throw new FileError(path, `${what} ${path} cannot be read: ${describeFsError(err)}`, errorCode(err));
  }
}
