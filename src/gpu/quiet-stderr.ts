// Dawn prints notices that no user can act on straight to file descriptor 2 from C++ while it
// discovers adapters (on lavapipe: "Warning: maxDynamicUniformBuffersPerPipelineLayout artificially
// reduced from 1000000 to 16 ..."), with no option or callback to turn them off. So while Dawn does
// that, descriptor 2 points at /dev/null, then back at the original stream. `--verbose` skips this.
import { closeSync, fstatSync, openSync, readFileSync } from 'node:fs';
import process from 'node:process';

/**
 * Runs `work` with descriptor 2 muted, where that is safe: Linux, and stderr a terminal, a pipe or a
 * file opened for appending, which can be reopened through /proc without changing where later output
 * lands. Other files are left alone: a reopened description would not share stdout's offset.
 */
export async function withStderrMuted<T>(work: () => Promise<T>): Promise<T> {
  const saved = process.platform === 'linux' ? reopenStderr() : null;
  if (saved === null) return await work();
  // Node keeps descriptors 0-2 open, so each open below takes the one just closed: 2.
  closeSync(2);
  const devNull = openSync('/dev/null', 'w');
  try {
    return await work();
  } finally {
    closeSync(devNull);
    openSync(`/proc/self/fd/${saved.fd}`, saved.mode);
    closeSync(saved.fd);
  }
}

/** A second descriptor for what stderr is now, or null where muting it is not safe. */
function reopenStderr(): { fd: number; mode: 'w' | 'a' } | null {
  try {
    const stat = fstatSync(2);
    // A file opened for appending (`2>>log`) takes every write at its end, whichever description writes.
    const mode = stat.isFIFO() || stat.isCharacterDevice() ? 'w' : stat.isFile() && appending(2) ? 'a' : null;
    return mode && { fd: openSync('/proc/self/fd/2', mode), mode };
  } catch {
    return null;
  }
}

const O_APPEND = 0o2000;

function appending(fd: number): boolean {
  const flags = /^flags:\s+([0-7]+)$/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
  return flags !== null && (parseInt(flags[1], 8) & O_APPEND) !== 0;
}
