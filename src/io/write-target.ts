// Where a command may write: checked before any work, so a bad --out fails in a second, not after an
// hour of training or tuning. A target must be a regular file or absent (a device, FIFO, socket or
// directory is refused by name: the atomic rename would replace /dev/stdout itself), an existing
// file is replaced only when the caller allows it (--overwrite), a command never writes over its own
// input, and a path a running training run holds (<checkpoint>.lock) is left to that run.
import { statSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { describeKind, FileError, isKernelFile, statOrUndefined } from './files.ts';
import { liveLockHolder } from '../train/lock.ts';

/** A target a command must not write; the message names the path, why, and what to do. */
export class WriteTargetError extends FileError {
  override name = 'WriteTargetError';
}

export interface WriteTarget {
  /** The flag or role that named the path, for messages: "--out", "--log", "the tune cache". */
  what: string;
  /** Replace an existing regular file (--overwrite given, or a file the project owns such as the tune cache). */
  overwrite?: boolean;
  /** The flag that allows replacing, for the message (default: --overwrite). */
  overwriteFlag?: string;
  /** What the command reads, as [path, role]; the target must be none of them. */
  inputs?: readonly (readonly [string | undefined, string])[];
}

/** Whether `a` and `b` name the same file: the same inode when both exist, else the same absolute path. */
export function sameFile(a: string, b: string): boolean {
  if (resolve(a) === resolve(b)) return true;
  try {
    const [sa, sb] = [statSync(a), statSync(b)];
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** The checkpoint whose lock covers `path`: the checkpoint itself, or the one an optimizer file belongs to. */
function guardedCheckpoints(path: string): string[] {
  const paths = [path];
  const optimizer = /^(.+)\.adam(?:\.[0-9a-f]{16})?\.safetensors$/.exec(basename(path));
  if (optimizer) paths.push(join(dirname(path), `${optimizer[1]}.safetensors`));
  return paths;
}

/** Throws WriteTargetError unless `path` may be written as `target` says. Touches nothing. */
export function checkWriteTarget(path: string, target: WriteTarget): void {
  const { what } = target;
  const refuse = (why: string, code?: string): never => {
    throw new WriteTargetError(path, `${what} ${path} ${why}`, code);
  };
  const stats = statOrUndefined(path);
  if (stats && !stats.isFile()) {
    refuse(
      `is ${describeKind(stats)}; give the path of a file to write (it is never replaced)`,
      stats.isDirectory() ? 'EISDIR' : 'EINVAL',
    );
  }
  if (stats && isKernelFile(path)) {
    refuse('is a file of the kernel (/proc, /sys, /dev); give the path of a file on disk');
  }
  for (const [input, role] of target.inputs ?? []) {
    if (input !== undefined && sameFile(path, input)) refuse(`is ${role}, which this command reads; give another path`);
  }
  for (const checkpoint of guardedCheckpoints(path)) {
    const holder = liveLockHolder(checkpoint);
    if (holder) {
      refuse(
        `is in use by a training run (PID ${holder.pid}, started ${holder.started}: ${holder.command}); ` +
          `wait for it to finish or give another path`,
        'EBUSY',
      );
    }
  }
  if (stats && !target.overwrite) {
    refuse(`exists; pass ${target.overwriteFlag ?? '--overwrite'} to replace it, or give another path`, 'EEXIST');
  }
}
