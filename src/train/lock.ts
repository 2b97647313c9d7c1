// An exclusive lock on a checkpoint path, so that two runs never write the same --out: a file
// `<checkpoint>.lock` holding the owner's PID, host, process start time and command line. It is
// created whole by link(2) (atomic, fails if the lock exists), removed when the run ends, and taken
// over when its owner is gone: same host, and no process with that PID and start time is alive
// (SIGKILL leaves a lock behind; this is how the next run gets past it).
import { linkSync, readFileSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';
import { describeFsError, ensureDir, errorCode, FileError } from '../io/files.ts';

export interface LockOwner {
  pid: number;
  host: string;
  /** The process's start time in clock ticks since boot (Linux /proc), to tell a reused PID apart. */
  pidStart?: string;
  started: string;
  command: string;
}

export class LockError extends Error {
  override name = 'LockError';
}

/** Field 22 of /proc/PID/stat (start time), or undefined where there is no /proc. */
function processStart(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) is in parentheses and may hold spaces: count fields after the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

/** Whether the lock's owner may still be running. */
function ownerAlive(owner: LockOwner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    if (errorCode(err) === 'ESRCH') return false;
    // EPERM: a process of another user has that PID; it is alive.
  }
  const start = processStart(owner.pid);
  return !(owner.pidStart && start && start !== owner.pidStart);
}

function readOwner(lockPath: string): LockOwner | undefined {
  try {
    // A FIFO put where the lock belongs would block the read forever.
    if (!statSync(lockPath).isFile()) return undefined;
    const owner = JSON.parse(readFileSync(lockPath, 'utf8'));
    return Number.isInteger(owner?.pid) && typeof owner?.host === 'string' ? owner : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Who holds the lock on `checkpointPath`, when another live run (or one on another host) does: commands
 * that write there refuse while it runs. A stale lock (its owner gone) holds nothing.
 */
export function liveLockHolder(checkpointPath: string): LockOwner | undefined {
  const holder = readOwner(CheckpointLock.lockPath(checkpointPath));
  if (!holder || (holder.host === hostname() && holder.pid === process.pid)) return undefined;
  return holder.host !== hostname() || ownerAlive(holder) ? holder : undefined;
}

export class CheckpointLock {
  private released = false;
  private readonly onExit = () => this.release();

  private constructor(readonly path: string, readonly owner: LockOwner) {
    // Also on process.exit() (a second Ctrl-C), which skips finally blocks.
    process.on('exit', this.onExit);
  }

  static lockPath(checkpointPath: string): string {
    return `${checkpointPath}.lock`;
  }

  /**
   * Takes the lock on `checkpointPath` (creating its directory), taking over a stale one. Throws
   * LockError when a live run holds it, FileError when the directory cannot be written.
   */
  static acquire(checkpointPath: string): CheckpointLock {
    const lockPath = CheckpointLock.lockPath(checkpointPath);
    const dir = dirname(lockPath);
    ensureDir(dir);
    const owner: LockOwner = {
      pid: process.pid,
      host: hostname(),
      pidStart: processStart(process.pid),
      started: new Date().toISOString(),
      command: process.argv.slice(2).join(' '),
    };
    const temp = join(dir, `.${basename(lockPath)}.${process.pid}.${Math.random().toString(36).slice(2, 8)}.tmp`);
    try {
      writeFileSync(temp, `${JSON.stringify(owner)}\n`, { flag: 'wx' });
    } catch (err) {
      throw new FileError(
        dir,
        `cannot write in ${dir} (needed for ${checkpointPath}): ${describeFsError(err)}`,
        errorCode(err),
      );
    }
    try {
      for (let attempt = 0; attempt < 3; attempt++) {
        try {
          linkSync(temp, lockPath);
          return new CheckpointLock(lockPath, owner);
        } catch (err) {
          if (errorCode(err) !== 'EEXIST') {
            throw new FileError(
              lockPath,
              `cannot create the lock ${lockPath}: ${describeFsError(err)}`,
              errorCode(err),
            );
          }
        }
        const holder = readOwner(lockPath);
        if (!holder) {
          throw new LockError(
            `${checkpointPath} is locked by ${lockPath}, which does not say who holds it. If no training ` +
              `run is writing ${checkpointPath}, delete ${lockPath} and run again.`,
          );
        }
        if (holder.host !== owner.host || ownerAlive(holder)) {
          const where = holder.host === owner.host ? `PID ${holder.pid}` : `PID ${holder.pid} on host ${holder.host}`;
          throw new LockError(
            `${checkpointPath} is being written by another training run (${where}, started ${holder.started}: ` +
              `${holder.command}). Wait for it to finish or pass another --out. If that run is gone, delete ${lockPath}.`,
          );
        }
        // Its owner died without removing it (SIGKILL, power loss): take it over.
        try {
          unlinkSync(lockPath);
        } catch (err) {
          if (errorCode(err) !== 'ENOENT') {
            throw new FileError(lockPath, `cannot remove the stale lock ${lockPath}: ${describeFsError(err)}`);
          }
        }
      }
      throw new LockError(`could not take the lock ${lockPath}: other runs keep taking it`);
    } finally {
      try {
        unlinkSync(temp);
      } catch {
        // Nothing to clean.
      }
    }
  }

  /** Removes the lock if it is still ours. Idempotent. */
  release(): void {
    if (this.released) return;
    this.released = true;
    process.off('exit', this.onExit);
    const holder = readOwner(this.path);
    if (holder && holder.pid === this.owner.pid && holder.started === this.owner.started) {
      try {
        unlinkSync(this.path);
      } catch {
        // Already gone.
      }
    }
  }
}
