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
    if (this.tty && this.dirty) process.stderr.write('\n');
    this.dirty = false;
  }
}

export function emitJson(record: Record<string, unknown>): void {
  process.stdout.write(`${JSON.stringify(record)}\n`);
}
