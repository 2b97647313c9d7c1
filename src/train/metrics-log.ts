// `train --log FILE`: a header record, a record every N steps and one per epoch, as JSON lines
// (.jsonl) or CSV (.csv). Each record is appended whole and synced, so a killed run leaves a readable
// file up to its last complete record; --resume drops the records past the checkpoint's step first, so
// no step is logged twice.
import { ensureDir } from '../io/files.ts';
import { closeSync, existsSync, fsyncSync, openSync, readFileSync, renameSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';
import type { BatchProgress, EpochReport } from './trainer.ts';

export type LogFormat = 'jsonl' | 'csv';

/** First record of a run, and of each resumption (then with resumed_from_step). */
export interface HeaderRecord {
  type: 'header';
  engine: string;
  version: string;
  commit: string | null;
  runtime: string;
  runtime_version: string;
  adapter: string;
  model: string;
  parameters: number;
  dataset: { name?: string; dir: string; train_images: number; test_images: number | null; limit: number | null };
  settings: Record<string, unknown>;
  seed: number;
  started: string;
  resumed_from_step: number | null;
}

/** Means over the steps since the previous step record (the window), not since the epoch began. */
export interface StepRecord {
  type: 'step';
  step: number;
  epoch: number;
  batch: number;
  loss: number;
  accuracy: number;
  images_per_second: number;
  time: string;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  step: number;
  train_loss: number;
  train_accuracy: number;
  test_loss: number | null;
  test_accuracy: number | null;
  seconds: number;
  images_per_second: number;
  time: string;
}

export type LogRecord = HeaderRecord | StepRecord | EpochRecord;

/** CSV columns of step and epoch records (the first line); a header record is a `# {json}` comment line. */
export const CSV_COLUMNS = [
  'type',
  'step',
  'epoch',
  'batch',
  'loss',
  'accuracy',
  'train_loss',
  'train_accuracy',
  'test_loss',
  'test_accuracy',
  'seconds',
  'images_per_second',
  'time',
] as const;

export function logFormat(path: string): LogFormat {
  return path.toLowerCase().endsWith('.csv') ? 'csv' : 'jsonl';
}

export class MetricsLogError extends Error {
  override name = 'MetricsLogError';
}

function formatRecord(record: LogRecord, format: LogFormat): string {
  if (format === 'jsonl') return JSON.stringify(record) + '\n';
  if (record.type === 'header') return `# ${JSON.stringify(record)}\n`;
  const values = record as unknown as Record<string, unknown>;
  return CSV_COLUMNS.map((c) => (values[c] === undefined || values[c] === null ? '' : String(values[c]))).join(',') +
    '\n';
}

/** Parses a log written by MetricsLog (either format). A last line cut short by a crash is skipped. */
export function parseMetricsLog(text: string, path = '<log>'): LogRecord[] {
  // What follows the last newline is a record cut short (or nothing).
  const complete = text.split('\n').slice(0, -1);
  const records: LogRecord[] = [];
  const csv = logFormat(path) === 'csv';
  complete.forEach((line, i) => {
    if (line.trim() === '') return;
    const where = `${path}:${i + 1}`;
    if (csv) {
      if (line.startsWith('# ')) records.push(parseJson(line.slice(2), where) as HeaderRecord);
      else if (line.startsWith('type,')) return;
      else {
        const cells = line.split(',');
        if (cells.length !== CSV_COLUMNS.length) {
          throw new MetricsLogError(`${where}: expected ${CSV_COLUMNS.length} CSV columns, found ${cells.length}`);
        }
        const record: Record<string, unknown> = {};
        CSV_COLUMNS.forEach((c, k) => {
          const cell = cells[k];
          record[c] = c === 'type' || c === 'time' ? cell : cell === '' ? null : Number(cell);
        });
        records.push(record as unknown as LogRecord);
      }
    } else {
      records.push(parseJson(line, where) as LogRecord);
    }
  });
  return records;
}

function parseJson(text: string, where: string): unknown {
  try {
    return JSON.parse(text);
  } catch (err) {
    throw new MetricsLogError(
      `${where}: not a log record (${(err as Error).message}); was this file written by train --log?`,
    );
  }
}

export interface MetricsLogOptions {
  path: string;
  every: number;
  /** Steps per epoch: turns the epoch-local batch count of progress reports into a global step. */
  batchesPerEpoch: number;
  /** Where the run starts: a fresh run writes a new file; a resumed one keeps the records up to here. */
  resume: { step: number; epoch: number; epochLossSum: number; epochCorrect: number; epochSeen: number } | null;
}

export class MetricsLog {
  readonly format: LogFormat;
  private fd: number;
  private lastLogged: number;
  // The window since the previous step record, from the epoch's running totals.
  private baseSeen: number;
  private baseLossSum: number;
  private baseCorrect: number;
  private baseTime = performance.now();
  private epoch: number;

  constructor(private readonly options: MetricsLogOptions) {
    const { path, resume } = options;
    this.format = logFormat(path);
    ensureDir(dirname(path)); // not mkdirSync({ recursive }): it spins forever under /proc on Node
    this.lastLogged = resume?.step ?? 0;
    this.epoch = resume?.epoch ?? 0;
    this.baseSeen = resume?.epochSeen ?? 0;
    this.baseLossSum = resume?.epochLossSum ?? 0;
    this.baseCorrect = resume?.epochCorrect ?? 0;
    let keep = '';
    if (resume && existsSync(path)) keep = this.recordsUpTo(readFileSync(path, 'utf8'), resume.step, resume.epoch);
    else if (this.format === 'csv') keep = CSV_COLUMNS.join(',') + '\n';
    // The kept part goes to a new file renamed over the old one: the log is never half rewritten.
    const temp = `${path}.tmp`;
    const fd = openSync(temp, 'w');
    try {
      writeSync(fd, keep);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(temp, path);
    this.fd = openSync(path, 'a');
  }

  /** The log's text without records past `step` (or epoch records past `epoch`) and without a cut-off last line. */
  private recordsUpTo(text: string, step: number, epoch: number): string {
    const complete = text.slice(0, text.lastIndexOf('\n') + 1);
    const records = parseMetricsLog(complete, this.options.path);
    const kept = records.filter((r) => r.type === 'header' || (r.type === 'step' ? r.step <= step : r.epoch <= epoch));
    const head = this.format === 'csv' ? CSV_COLUMNS.join(',') + '\n' : '';
    return head + kept.map((r) => formatRecord(r, this.format)).join('');
  }

  private append(record: LogRecord): void {
    // One write per record, synced: a crash leaves whole records and at most one cut-off last line.
    writeSync(this.fd, formatRecord(record, this.format));
    fsyncSync(this.fd);
  }

  header(record: Omit<HeaderRecord, 'type' | 'resumed_from_step' | 'started'>): void {
    this.append({
      type: 'header',
      ...record,
      started: new Date().toISOString(),
      resumed_from_step: this.options.resume ? this.options.resume.step : null,
    });
  }

  /** Training starts now (kernels compiled): the first window's images/s counts from here. */
  restartClock(): void {
    this.baseTime = performance.now();
  }

  /** Called with every progress report; writes a record at the first report at or past each multiple of `every`. */
  progress(p: BatchProgress): void {
    if (p.epoch !== this.epoch) this.startEpoch(p.epoch);
    const step = p.epoch * this.options.batchesPerEpoch + p.batchesDone;
    if (Math.floor(step / this.options.every) <= Math.floor(this.lastLogged / this.options.every)) return;
    const lossSum = p.loss * p.seen;
    const correct = Math.round(p.accuracy * p.seen);
    const images = p.seen - this.baseSeen;
    if (images <= 0) return;
    const now = performance.now();
    this.append({
      type: 'step',
      step,
      epoch: p.epoch + 1,
      batch: p.batchesDone,
      loss: (lossSum - this.baseLossSum) / images,
      accuracy: (correct - this.baseCorrect) / images,
      images_per_second: images / Math.max((now - this.baseTime) / 1000, 1e-9),
      time: new Date().toISOString(),
    });
    this.lastLogged = step;
    this.baseSeen = p.seen;
    this.baseLossSum = lossSum;
    this.baseCorrect = correct;
    this.baseTime = now;
  }

  epochDone(report: EpochReport): void {
    this.append({
      type: 'epoch',
      epoch: report.epoch,
      step: report.step,
      train_loss: report.trainLoss,
      train_accuracy: report.trainAccuracy,
      test_loss: report.test?.meanLoss ?? null,
      test_accuracy: report.test?.accuracy ?? null,
      seconds: report.seconds,
      images_per_second: report.imagesPerSecond,
      time: new Date().toISOString(),
    });
    this.startEpoch(report.epoch);
  }

  private startEpoch(epoch: number): void {
    this.epoch = epoch;
    this.baseSeen = 0;
    this.baseLossSum = 0;
    this.baseCorrect = 0;
    this.baseTime = performance.now();
  }

  close(): void {
    if (this.fd < 0) return;
    closeSync(this.fd);
    this.fd = -1;
  }
}
