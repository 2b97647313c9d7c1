// Human progress output on stderr: a redrawn bar on a terminal, a line every few seconds otherwise.
// With --json the commands print machine-readable lines on stdout instead (see emitJson).
import process from 'node:process';

export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '--:--';
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const pad = (n: number) => String(n).padStart(2, '0');
  return h > 0 ? `${h}:${pad(m)}:${pad(s % 60)}` : `${m}:${pad(s % 60)}`;
}

export const percent = (x: number, digits = 2): string => `${(100 * x).toFixed(digits)}%`;

export function bar(fraction: number, width = 24): string {
  const filled = Math.min(width, Math.max(0, Math.round(fraction * width)));
  return `[${'='.repeat(filled)}${filled < width ? '>' : ''}${' '.repeat(Math.max(0, width - filled - 1))}]`;
}

export class ProgressLine {
  private readonly tty = Boolean(process.stderr.isTTY);
  private lastPrint = 0;
  private dirty = false;

  constructor(private readonly intervalMs = 5000) {}

  update(text: string, force = false): void {
    if (closedStreams.has('stderr')) return;
    const now = Date.now();
    if (this.tty) {
      if (!force && now - this.lastPrint < 100) return;
      process.stderr.write(`\r\x1b[2K${text}`);
      this.dirty = true;
    } else {
      if (!force && now - this.lastPrint < this.intervalMs) return;
      process.stderr.write(`${text}\n`);
    }
    this.lastPrint = now;
  }

  /** Ends the redrawn line (terminal) so the next output starts on a fresh line. */
  done(): void {
    if (this.tty && this.dirty && !closedStreams.has('stderr')) process.stderr.write('\n');
    this.dirty = false;
  }
}

export function emitJson(record: Record<string, unknown>): void {
  if (closedStreams.has('stdout')) return;
  process.stdout.write(`${JSON.stringify(record)}\n`);
}

// A reader that goes away (`train --json | head -1`, a closed terminal) makes writes fail with
// EPIPE, an 'error' event that would otherwise end the process uncaught. The streams are then
// marked closed and never written again; what happens next is the command's choice (train stops
// as on SIGTERM), by default the process exits with 141 (128 + SIGPIPE) as a shell tool would.
export const BROKEN_PIPE_EXIT = 141;
const closedStreams = new Set<'stdout' | 'stderr'>();
let brokenPipeHandler: ((stream: 'stdout' | 'stderr') => void) | undefined;

/** Replaces the default reaction (exit 141) to a closed stdout or stderr. */
export function onBrokenPipe(handler: (stream: 'stdout' | 'stderr') => void): void {
  brokenPipeHandler = handler;
}

export function installBrokenPipeGuard(): void {
  for (const name of ['stdout', 'stderr'] as const) {
    process[name].on('error', () => {
      if (closedStreams.has(name)) return;
      closedStreams.add(name);
      if (brokenPipeHandler) brokenPipeHandler(name);
      else process.exit(BROKEN_PIPE_EXIT);
    });
  }
}

/** console.error unless stderr is closed. */
export function logError(text: string): void {
  if (!closedStreams.has('stderr')) console.error(text);
}
