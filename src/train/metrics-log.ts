// `train --log FILE`: a header record, a record every N steps and one per epoch, as JSON lines
// (.jsonl) or CSV (.csv). Each record is appended whole and synced, so a killed run leaves a readable
// file up to its last complete record; --resume drops the records past the checkpoint's step first, so
// no step is logged twice.
import { ensureDir, readRegularFile, statOrUndefined, writeFileAtomicSync } from '../io/files.ts';
import { closeSync, fsyncSync, openSync, readSync, writeSync } from 'node:fs';
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
  /** The class of device the plans were made for (src/gpu/profile.ts), and the adapter's own. */
  device_class: string;
  detected_device_class: string;
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
  /** null where the value was NaN or Infinity (JSON has no such numbers). */
  loss: number | null;
  accuracy: number | null;
  images_per_second: number | null;
  time: string;
}

export interface EpochRecord {
  type: 'epoch';
  epoch: number;
  step: number;
  /** As in StepRecord, null where not finite; test_* also when there was no test pass. */
  train_loss: number | null;
  train_accuracy: number | null;
  test_loss: number | null;
  test_accuracy: number | null;
  seconds: number | null;
  images_per_second: number | null;
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

/** The largest log read whole: a run of 130,000 logged steps is about 30 MB. */
export const MAX_LOG_BYTES = 512 * 1024 * 1024;

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
      if (line.startsWith('# ')) records.push(checkRecord(parseJson(line.slice(2), where), where));
      else if (line.startsWith('type,')) return;
      else {
        const cells = line.split(',');
        if (cells.length !== CSV_COLUMNS.length) {
          throw new MetricsLogError(`${where}: expected ${CSV_COLUMNS.length} CSV columns, found ${cells.length}`);
        }
        const record: Record<string, unknown> = {};
        CSV_COLUMNS.forEach((c, k) => {
          const cell = cells[k];
          if (c === 'type' || c === 'time') record[c] = cell;
          // NaN and Infinity are what JSON lines write as null.
          else if (cell === '' || /^[-+]?(NaN|Infinity)$/.test(cell)) record[c] = null;
          else if (/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(cell)) record[c] = Number(cell);
          else throw new MetricsLogError(`${where}: column ${c} is ${JSON.stringify(cell)}, not a number`);
        });
        records.push(checkRecord(record, where));
      }
    } else {
      records.push(checkRecord(parseJson(line, where), where));
    }
  });
  return records;
}

type FieldType = 'string' | 'string?' | 'count' | 'count?' | 'number' | 'number?' | 'fraction?' | 'object';
const RECORD_FIELDS: Record<LogRecord['type'], Record<string, FieldType>> = {
  header: {
    engine: 'string',
    version: 'string',
    commit: 'string?',
    runtime: 'string',
    runtime_version: 'string',
    adapter: 'string',
    model: 'string',
    parameters: 'count',
    dataset: 'object',
    settings: 'object',
    seed: 'count',
    started: 'string',
    resumed_from_step: 'count?',
  },
  step: {
    step: 'count',
    epoch: 'count',
    batch: 'count',
    loss: 'number?',
    accuracy: 'fraction?',
    images_per_second: 'number?',
    time: 'string',
  },
  epoch: {
    epoch: 'count',
    step: 'count',
    train_loss: 'number?',
    train_accuracy: 'fraction?',
    test_loss: 'number?',
    test_accuracy: 'fraction?',
    seconds: 'number?',
    images_per_second: 'number?',
    time: 'string',
  },
};
const DATASET_FIELDS: Record<string, FieldType> = {
  dir: 'string',
  train_images: 'count',
  test_images: 'count?',
  limit: 'count?',
};

function fieldProblem(value: unknown, type: FieldType): string | undefined {
  if (value === null && type.endsWith('?')) return undefined;
  switch (type.replace('?', '')) {
    case 'string':
      return typeof value === 'string' ? undefined : 'a string';
    case 'count':
      return Number.isSafeInteger(value) && (value as number) >= 0 ? undefined : 'an integer >= 0';
    case 'number':
      return typeof value === 'number' && Number.isFinite(value) ? undefined : 'a number';
    case 'fraction':
      return typeof value === 'number' && value >= 0 && value <= 1 ? undefined : 'a number in [0, 1]';
    default:
      return typeof value === 'object' && value !== null && !Array.isArray(value) ? undefined : 'an object';
  }
}

/**
 * Checks one parsed line against the record it claims to be, so `report` and --resume meet only
 * well-formed records: a hand-edited or foreign file fails here with its line, not deep in a chart.
 */
export function checkRecord(value: unknown, where: string): LogRecord {
  const fail = (message: string): never => {
    throw new MetricsLogError(`${where}: ${message}; was this file written by train --log?`);
  };
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(`expected a log record object, got ${JSON.stringify(value)}`);
  }
  const record = value as Record<string, unknown>;
  const type = record.type;
  if (type !== 'header' && type !== 'step' && type !== 'epoch') {
    return fail(`"type" is ${JSON.stringify(type)}, expected "header", "step" or "epoch"`);
  }
  const check = (fields: Record<string, FieldType>, object: Record<string, unknown>, prefix: string) => {
    for (const [key, fieldType] of Object.entries(fields)) {
      const present = Object.hasOwn(object, key);
      if (!present && fieldType.endsWith('?')) continue;
      const problem = fieldProblem(present ? object[key] : undefined, fieldType);
      if (problem) {
        fail(`${type} record's "${prefix}${key}" is ${JSON.stringify(object[key]) ?? 'missing'}, expected ${problem}`);
      }
    }
  };
  check(RECORD_FIELDS[type], record, '');
  if (type === 'header') {
    check(DATASET_FIELDS, record.dataset as Record<string, unknown>, 'dataset.');
    const name = (record.dataset as Record<string, unknown>).name;
    if (name !== undefined && typeof name !== 'string') {
      fail(`header record's "dataset.name" is ${JSON.stringify(name)}, expected a string`);
    }
  }
  return record as unknown as LogRecord;
}

/** Whether `path` starts with a header record of train --log (a log a new run may replace). */
export function isMetricsLog(path: string): boolean {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const head = new Uint8Array(64 * 1024);
    const text = new TextDecoder().decode(head.subarray(0, readSync(fd, head, 0, head.length, 0)));
    const lines = text.split('\n');
    const first = lines.find((l) => l.trim() !== '' && !l.startsWith('type,'));
    if (!first) return text.trim() === '' || text.startsWith('type,');
    const json = first.startsWith('# ') ? first.slice(2) : first;
    return checkRecord(JSON.parse(json), path).type === 'header';
  } catch {
    return false;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
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
    if (resume && statOrUndefined(path)) {
      const text = new TextDecoder().decode(readRegularFile(path, 'Log', '', MAX_LOG_BYTES));
      keep = this.recordsUpTo(text, resume.step, resume.epoch);
    } else if (this.format === 'csv') keep = CSV_COLUMNS.join(',') + '\n';
    // The kept part goes to a new file renamed over the old one: the log is never half rewritten (and
    // a device, FIFO or directory at `path` is refused, not replaced).
    writeFileAtomicSync(path, new TextEncoder().encode(keep));
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
