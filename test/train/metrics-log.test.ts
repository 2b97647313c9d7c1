// train --log's writer: records every N steps from progress reports, epoch records, CSV and JSON
// lines, a cut-off last line, and --resume keeping only the records up to the checkpoint's step.
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { MetricsLog, parseMetricsLog, type StepRecord } from '../../src/train/metrics-log.ts';
import type { BatchProgress, EpochReport } from '../../src/train/trainer.ts';

const dir = mkdtempSync(join(tmpdir(), 'metrics-log-'));
const BATCHES = 10;
const HEADER = {
  engine: 'webgpu-digits',
  version: '0',
  commit: null,
  runtime: 'node',
  runtime_version: '0',
  adapter: 'a',
  device_class: 'cpu-driver',
  detected_device_class: 'cpu-driver',
  model: 'digit',
  parameters: 1,
  dataset: { dir: 'd', train_images: 640, test_images: null, limit: null },
  settings: {},
  seed: 1,
};

/** Progress as the trainer reports it: every `every` batches, loss of batch b = b / 100, 32 of 64 right. */
function simulate(log: MetricsLog, fromStep: number, toStep: number, every = 4): void {
  const sum = (e: number, upTo: number) => {
    let s = 0;
    for (let b = 0; b < upTo; b++) s += (e * BATCHES + b) / 100 * 64;
    return s;
  };
  for (let step = fromStep + 1; step <= toStep; step++) {
    const epoch = Math.floor((step - 1) / BATCHES);
    const batchesDone = step - epoch * BATCHES;
    if (batchesDone % every !== 0 && batchesDone !== BATCHES) continue;
    const seen = batchesDone * 64;
    const p: BatchProgress = {
      epoch,
      batchesDone,
      batches: BATCHES,
      seen,
      loss: sum(epoch, batchesDone) / seen,
      accuracy: 0.5,
      imagesPerSecond: 1,
      etaSeconds: 0,
    };
    log.progress(p);
    if (batchesDone === BATCHES) {
      const report: EpochReport = {
        epoch: epoch + 1,
        step,
        trainLoss: p.loss,
        trainAccuracy: 0.5,
        test: null,
        seconds: 1,
        imagesPerSecond: 1,
      };
      log.epochDone(report);
    }
  }
}

for (const ext of ['jsonl', 'csv']) {
  test(`${ext}: a header, a record at the first report at or past every N steps (window means), one per epoch`, () => {
    const path = join(dir, `fresh.${ext}`);
    const log = new MetricsLog({ path, every: 5, batchesPerEpoch: BATCHES, resume: null });
    log.header(HEADER);
    simulate(log, 0, 20);
    log.close();
    const records = parseMetricsLog(readFileSync(path, 'utf8'), path);
    assert.equal(records.map((r) => r.type === 'step' ? `s${r.step}` : r.type === 'epoch' ? `e${r.epoch}` : 'h'), [
      'h',
      's8',
      's10',
      'e1',
      's18',
      's20',
      'e2',
    ]);
    const s8 = records[1] as StepRecord;
    // Steps 1-8 of epoch 1 have losses 0.00 .. 0.07: mean 0.035; steps 9-10: 0.085.
    assert.ok(Math.abs(s8.loss! - 0.035) < 1e-12, String(s8.loss));
    assert.ok(Math.abs((records[2] as StepRecord).loss! - 0.085) < 1e-12);
    assert.is((records[4] as StepRecord).epoch, 2);
    assert.ok(Math.abs((records[4] as StepRecord).loss! - 0.135) < 1e-12, 'the window restarts with the epoch');
  });

  test(`${ext}: --resume drops records past the checkpoint's step and a cut-off line, then appends`, () => {
    const path = join(dir, `resumed.${ext}`);
    const log = new MetricsLog({ path, every: 4, batchesPerEpoch: BATCHES, resume: null });
    log.header(HEADER);
    simulate(log, 0, 16);
    log.close();
    appendFileSync(path, ext === 'csv' ? 'step,1' : '{"type":"st'); // killed mid-write
    assert.equal(parseMetricsLog(readFileSync(path, 'utf8'), path).map((r) => r.type === 'step' ? r.step : r.type), [
      'header',
      4,
      8,
      'epoch',
      14,
    ]);
    // The checkpoint was at step 12 (epoch 1 done, 2 batches into epoch 2): step 14's record goes.
    const resume = { step: 12, epoch: 1, epochSeen: 128, epochLossSum: (10 + 11) / 100 * 64, epochCorrect: 64 };
    const again = new MetricsLog({ path, every: 4, batchesPerEpoch: BATCHES, resume });
    again.header(HEADER);
    simulate(again, 12, 20);
    again.close();
    const records = parseMetricsLog(readFileSync(path, 'utf8'), path);
    assert.equal(records.map((r) => r.type === 'step' ? `s${r.step}` : r.type === 'epoch' ? `e${r.epoch}` : 'h'), [
      'h',
      's4',
      's8',
      'e1',
      'h',
      's18',
      's20',
      'e2',
    ]);
    const steps = records.filter((r): r is StepRecord => r.type === 'step').map((r) => r.step);
    assert.equal(steps, [...new Set(steps)].sort((a, b) => a - b), 'no step twice');
    // The window after resuming starts at the checkpoint: steps 13-18 have losses 0.12 .. 0.17.
    assert.ok(Math.abs((records[5] as StepRecord).loss! - 0.145) < 1e-12, String((records[5] as StepRecord).loss));
  });
}

test('parseMetricsLog says which line is not a record', () => {
  assert.throws(() => parseMetricsLog('\nnot json\n', 'x.jsonl'), /x\.jsonl:2: not a log record/);
  // A line that is JSON but not a whole record is named too.
  assert.throws(
    () => parseMetricsLog('{"type":"header"}\n', 'x.jsonl'),
    /x\.jsonl:1: header record's "engine" is missing, expected a string/,
  );
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
