// `report` and `--resume` meet files a user may have edited or another program written: every log
// line is checked (a one-line error naming the line, never a JavaScript internal), everything that
// reaches the HTML is escaped, 130,000-point logs are drawn, and checkpoint metadata is checked by
// type and range. Property tests fuzz log files into report's parser and page, and metadata into the
// resume state.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseReportLog } from '../../src/cli/report.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { CheckpointError, type LoadedCheckpoint, stateFromCheckpoint } from '../../src/train/checkpoint.ts';
import { CSV_COLUMNS, MetricsLogError } from '../../src/train/metrics-log.ts';
import { type ReportData, reportHtml } from '../../src/viz/report.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { testSeed } from '../helpers/compare.ts';

const test = suite(`reliability: report and resume inputs (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'report-inputs-'));
const MARKUP = '<img src=x onerror=alert(document.domain)>';

const header = (over: Record<string, unknown> = {}) => ({
  type: 'header',
  engine: 'webgpu-digits',
  version: '0.1.0',
  commit: 'abcdef1234567890',
  runtime: 'node',
  runtime_version: '22.0.0',
  adapter: 'lavapipe',
  model: 'digit',
  parameters: 431080,
  dataset: { name: 'mnist', dir: '/data', train_images: 640, test_images: 10000, limit: 640 },
  settings: { epochs: 1, batch_size: 64, seed: 1 },
  seed: 1,
  started: '2026-01-01T00:00:00.000Z',
  resumed_from_step: null,
  ...over,
});
const step = (n: number, over: Record<string, unknown> = {}) => ({
  type: 'step',
  step: n,
  epoch: 1,
  batch: n,
  loss: 2 / (n + 1),
  accuracy: Math.min(1, n / 100),
  images_per_second: 1000,
  time: '2026-01-01T00:00:01.000Z',
  ...over,
});
const epoch = (over: Record<string, unknown> = {}) => ({
  type: 'epoch',
  epoch: 1,
  step: 10,
  train_loss: 0.5,
  train_accuracy: 0.8,
  test_loss: 0.4,
  test_accuracy: 0.85,
  seconds: 3.5,
  images_per_second: 180,
  time: '2026-01-01T00:00:04.000Z',
  ...over,
});
const jsonl = (...records: unknown[]) => records.map((r) => JSON.stringify(r)).join('\n') + '\n';

function page(text: string, path = 'run.jsonl'): string {
  const data: ReportData = {
    title: 'test',
    generated: 'now',
    log: parseReportLog(text, path),
    checkpoint: null,
    evaluation: null,
    gallery: [],
    filters: null,
  };
  return reportHtml(data);
}

test('finding 11: markup in any string field of a log reaches the report escaped', () => {
  const html = page(jsonl(
    header({
      engine: MARKUP,
      version: MARKUP,
      commit: MARKUP,
      runtime: MARKUP,
      runtime_version: MARKUP,
      adapter: MARKUP,
      model: MARKUP,
      started: MARKUP,
      dataset: { name: MARKUP, dir: MARKUP, train_images: 640, test_images: null, limit: null },
      settings: { [MARKUP]: MARKUP, nested: { x: MARKUP } },
    }),
    step(1, { time: MARKUP }),
    epoch({ time: MARKUP }),
  ));
  assert.not.match(html, '<img src=x', 'no tag from the log');
  assert.match(html, '&lt;img src=x onerror=alert(document.domain)&gt;');
});

test('finding 11: report of a log with markup in a numeric field exits 1 naming the line, writing nothing', async () => {
  const log = join(dir, 'xss.jsonl');
  writeFileSync(log, jsonl(header(), epoch({ step: MARKUP })));
  const out = join(dir, 'xss.html');
  const r = await runCli(['report', '--log', log, '--out', out]);
  assert.is(r.code, 1, r.stderr);
  assert.match(r.stderr, `${log}:2: epoch record's "step" is "${MARKUP}", expected an integer >= 0`);
});

// Each of these once surfaced a JavaScript internal or rendered NaN and exited 0.
const BROKEN: [string, string, RegExp][] = [
  [
    'string-number.jsonl',
    jsonl(header(), step(1, { loss: '0.5' })),
    /:2: step record's "loss" is "0\.5", expected a number/,
  ],
  ['null-line.jsonl', jsonl(header(), null), /:2: expected a log record object, got null/],
  [
    'header-numbers.jsonl',
    jsonl(header({ commit: 7, runtime: 1 })),
    /:1: header record's "commit" is 7, expected a string/,
  ],
  ['no-type.jsonl', jsonl(header(), { step: 1 }), /:2: "type" is undefined, expected "header", "step" or "epoch"/],
  [
    'word.csv',
    `# ${JSON.stringify(header())}\n${CSV_COLUMNS.join(',')}\nstep,1,1,1,abc,0.5,,,,,,100,t\n`,
    /:3: column loss is "abc", not a number/,
  ],
];

test('finding 15: broken logs exit 1 with one line naming the file and line, never a JavaScript internal', async () => {
  for (const [name, text, pattern] of BROKEN) {
    const log = join(dir, name);
    writeFileSync(log, text);
    const r = await runCli(['report', '--log', log, '--out', join(dir, `${name}.html`)]);
    assert.is(r.code, 1, `${name}: ${r.stderr}`);
    assert.match(r.stderr, pattern, name);
    assert.not.match(r.stderr, /is not a function|Cannot read properties|Maximum call stack|NaN%/, name);
  }
});

test('finding 15: a CSV log with empty fields gives a report with - in their cells, not a crash', async () => {
  const log = join(dir, 'empty-fields.csv');
  writeFileSync(log, `# ${JSON.stringify(header())}\n${CSV_COLUMNS.join(',')}\nepoch,10,1,,,,0.5,0.8,,,,,t\n`);
  const out = join(dir, 'empty-fields.html');
  const r = await runCli(['report', '--log', log, '--out', out]);
  assert.is(r.code, 0, r.stderr);
  assert.match(
    readFileSync(out, 'utf8'),
    '<td>1</td><td>10</td><td>0.5000</td><td>80.00%</td><td>-</td><td>-</td><td>-</td><td>-</td>',
  );
});

test('finding 15: a log of 130,000 step records is drawn (no stack overflow), its curves thinned for drawing', async () => {
  const lines = [JSON.stringify(header())];
  for (let n = 1; n <= 130_000; n++) lines.push(JSON.stringify(step(n)));
  lines.push(JSON.stringify(epoch({ step: 130_000 })));
  const log = join(dir, 'long.jsonl');
  writeFileSync(log, lines.join('\n') + '\n');
  const out = join(dir, 'long.html');
  const r = await runCli(['report', '--log', log, '--out', out], { timeoutMs: 120_000 });
  assert.is(r.code, 0, r.stderr);
  const html = readFileSync(out, 'utf8');
  const polyline = /<polyline points="([^"]*)"[^>]*class="series train-loss-window-mean/.exec(html);
  assert.ok(polyline, 'the per-step loss curve is drawn');
  const points = polyline![1].split(' ').length;
  assert.ok(points > 100 && points <= 2000, `${points} points drawn`);
});

/** A record that is valid, or one with a field replaced by something hostile. */
const hostileValue = fc.oneof(
  fc.constant(MARKUP),
  fc.constant(null),
  fc.constant('NaN'),
  fc.constant([]),
  fc.constant({}),
  fc.double(),
  fc.integer(),
  fc.boolean(),
  fc.string(),
  fc.constant(1e308),
  fc.constant(-1),
);
const recordArbitrary = fc.oneof(
  fc.constant(header()),
  fc.nat(1000).map((n) => step(n)),
  fc.constant(epoch()),
  fc.constant(null),
  fc.constant([1, 2]),
  fc.string(),
);
const mutated = fc.tuple(
  recordArbitrary,
  fc.option(fc.tuple(fc.string({ maxLength: 20 }), hostileValue), { nil: undefined }),
)
  .map(([record, change]) => {
    if (change && record && typeof record === 'object' && !Array.isArray(record)) {
      const keys = Object.keys(record);
      const [key, value] = change;
      return { ...record, [keys.length && key.length % 2 ? keys[key.length % keys.length] : key]: value };
    }
    return record;
  });

function check<T>(what: string, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns = 300): void {
  const seed = testSeed();
  const result = fc.check(fc.property(arbitrary, predicate), { seed, numRuns });
  if (result.failed) {
    assert.unreachable(
      `${what}: failed (seed=${seed}, path=${result.counterexamplePath}) on ${
        JSON.stringify(result.counterexample).slice(0, 600)
      }: ` +
        `${(result.errorInstance as Error)?.stack ?? String(result.errorInstance)}`,
    );
  }
}

test('property: any log file gives report a page without unescaped markup, or a MetricsLogError naming the line', () => {
  check('jsonl logs', fc.tuple(fc.array(mutated, { maxLength: 12 }), fc.boolean()), ([records, withHeader]) => {
    const text = withHeader ? jsonl(header(), ...records) : jsonl(...records);
    let html: string;
    try {
      html = page(text);
    } catch (err) {
      if (!(err instanceof MetricsLogError)) throw err;
      assert.match(err.message, /^run\.jsonl(:\d+:| has no header record)/);
      return;
    }
    assert.not.match(html, '<img src=x');
  });
  check(
    'csv logs',
    fc.array(
      fc.array(
        fc.oneof(
          fc.constant(''),
          fc.constant('1'),
          fc.constant('0.5'),
          fc.constant('NaN'),
          fc.string({ maxLength: 6 }),
        ),
        { minLength: 13, maxLength: 13 },
      ),
      { maxLength: 8 },
    ),
    (rows) => {
      const text = `# ${JSON.stringify(header())}\n${CSV_COLUMNS.join(',')}\n` +
        rows.map((cells, i) =>
          [i % 2 ? 'step' : 'epoch', ...cells.slice(1)].map((c) => c.replace(/[,\n]/g, '')).join(',')
        ).join('\n') + '\n';
      try {
        page(text, 'run.csv');
      } catch (err) {
        if (!(err instanceof MetricsLogError)) throw err;
        assert.match(err.message, /^run\.csv:\d+: /);
      }
    },
  );
});

test('property: any metadata gives --resume a state within range, or a CheckpointError naming the field', () => {
  const layout = new ParameterLayout(parameterSpecs(DIGIT));
  const params = initParameters(layout, 1);
  const numberish = fc.oneof(
    fc.nat(200).map(String),
    fc.integer().map(String),
    fc.double().map(String),
    fc.constantFrom('1e9', '0x10', ' 7', '', 'NaN', 'Infinity', '-0', '00', '99999999999999999999'),
    fc.string({ maxLength: 8 }),
  );
  const keys = [
    'epoch',
    'epochs',
    'batch_in_epoch',
    'step',
    'epoch_loss_sum',
    'epoch_correct',
    'epoch_seen',
    'batch_size',
  ];
  check(
    'metadata',
    fc.tuple(
      fc.array(numberish, { minLength: keys.length, maxLength: keys.length }),
      fc.option(fc.string(), { nil: undefined }),
    ),
    ([values, adam]) => {
      const metadata: Record<string, string> = Object.fromEntries(keys.map((k, i) => [k, values[i]]));
      if (adam !== undefined) metadata.adam = adam;
      const loaded: LoadedCheckpoint = {
        path: 'fuzz.safetensors',
        model: DIGIT,
        metadata,
        params,
        adam: { m: params, v: params },
      };
      let state;
      try {
        state = stateFromCheckpoint(loaded);
      } catch (err) {
        if (!(err instanceof CheckpointError)) throw err;
        assert.match(err.message, /^fuzz\.safetensors: metadata \w+ is /);
        return;
      }
      const epochs = Number(metadata.epochs);
      assert.ok(
        Number.isInteger(state.epoch) && state.epoch >= 0 && state.epoch <= epochs,
        `epoch ${state.epoch} of ${epochs}`,
      );
      for (const key of ['batchInEpoch', 'step', 'epochCorrect', 'epochSeen'] as const) {
        assert.ok(Number.isSafeInteger(state[key]) && state[key] >= 0, `${key} ${state[key]}`);
      }
      assert.ok(state.epochCorrect <= state.epochSeen);
      assert.ok(Number.isFinite(state.epochLossSum) && state.epochLossSum >= 0);
    },
    1000,
  );
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
