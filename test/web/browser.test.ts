// deno-lint-ignore-file no-explicit-any -- the page's globals and the report's embedded JSON are untyped across the page boundary
// The report and the browser page, end to end in headless Chromium: a real 2-epoch run (1280 images)
// with train --log, then `report` (its numbers asserted against the run's own output and `eval`'s),
// the report opened in the browser, and the page served by `serve`, where a digit drawn with mouse
// events is classified by the engine's WGSL kernels through the browser's WebGPU, as `predict` does;
// and a small color model trained on a picture folder, which the page feeds in its own channels, size
// and recorded constants.
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePng, encodePng } from '../../src/io/png.ts';
import { pictureForModel } from '../../src/cli/folder-data.ts';
import { toMnistDigit } from '../../src/io/digit-image.ts';
import { type EpochRecord, parseMetricsLog, type StepRecord } from '../../src/train/metrics-log.ts';
import {
  hasChromium,
  launchChromium,
  openReadyPage,
  padPng,
  startServe,
  testOutputDir,
  traceDigit,
} from '../helpers/browser.ts';
import { skip } from '../helpers/skip.ts';
import { runCli } from '../helpers/cli.ts';
import { testMnistDir, testSplit } from '../helpers/mnist.ts';

const dir = mkdtempSync(join(tmpdir(), 'viz-'));
const checkpoint = join(dir, 'digit.safetensors');
const logFile = join(dir, 'run.jsonl');
const reportFile = join(dir, 'report.html');
const env = { MNIST_DIR: testMnistDir() };
const LONG = 900_000;
const noBrowser = !hasChromium();
const out = testOutputDir();

interface RunOutput {
  epochs: Record<string, number | null>[];
  eval: Record<string, unknown>;
  reportData: Record<string, any>;
}
let run: RunOutput;

async function cli(args: string[]): Promise<string> {
  const result = await runCli(args, { env, timeoutMs: LONG });
  if (result.code !== 0) throw new Error(`${args[0]} exited with ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

test.before(async () => {
  const trained = await cli([
    'train',
    '--epochs',
    '2',
    '--limit',
    '1280',
    '--log',
    logFile,
    '--log-every',
    '5',
    '--out',
    checkpoint,
    '--json',
  ]);
  const events = trained.trim().split('\n').map((l) => JSON.parse(l));
  const evaluated = JSON.parse(await cli(['eval', '--checkpoint', checkpoint, '--json']));
  await cli(['report', '--log', logFile, '--out', reportFile, '--png', join(dir, 'png')]);
  const html = readFileSync(reportFile, 'utf8');
  const data = /<script type="application\/json" id="report-data">(.*?)<\/script>/s.exec(html);
  assert.ok(data, 'the report embeds its numbers');
  run = { epochs: events.filter((e) => e.event === 'epoch'), eval: evaluated, reportData: JSON.parse(data![1]) };
});

// Step records land on the first stats readback at or past every 5 steps (readbacks come in groups).
test("train --log: a header, step records in every epoch, and one record per epoch equal to the run's own output", () => {
  const records = parseMetricsLog(readFileSync(logFile, 'utf8'), logFile);
  assert.is(records[0].type, 'header');
  const epochs = records.filter((r): r is EpochRecord => r.type === 'epoch');
  assert.equal(
    epochs.map((e) => [e.epoch, e.step, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy]),
    run.epochs.map((e) => [e.epoch, e.step, e.train_loss, e.train_accuracy, e.test_loss, e.test_accuracy]),
  );
  const steps = records.filter((r): r is StepRecord => r.type === 'step');
  assert.equal([...new Set(steps.map((s) => s.epoch))], [1, 2], 'step records in both epochs');
  assert.ok(steps.every((s, i) => i === 0 || s.step > steps[i - 1].step), 'each step once, in order');
  assert.is(steps.at(-1)!.step, 40);
});

test("report: its numbers are the run's (per epoch) and eval's (accuracy, loss, confusion) exactly", () => {
  const r = run.reportData;
  assert.equal(
    r.log.epochs.map((e: EpochRecord) => [e.train_loss, e.test_accuracy, e.test_loss]),
    run.epochs.map((e) => [e.train_loss, e.test_accuracy, e.test_loss]),
  );
  assert.is(r.evaluation.accuracy, run.eval.accuracy);
  assert.is(r.evaluation.meanLoss, run.eval.mean_loss);
  assert.is(r.evaluation.correct, run.eval.correct);
  assert.equal(r.evaluation.confusion, run.eval.confusion);
  assert.equal(r.evaluation.perClassAccuracy, run.eval.per_class_accuracy);
  // The checkpoint is the last epoch's: the run's own test evaluation said the same.
  assert.is(run.epochs.at(-1)!.test_accuracy, run.eval.accuracy);
  assert.is(r.checkpoint.path, checkpoint, "found through the log's header");
  const wrong = (run.eval.count as number) - (run.eval.correct as number);
  assert.is(r.gallery.length, Math.min(24, wrong));
  for (const g of r.gallery) assert.ok(g.label !== g.predicted && g.probability === Math.max(...g.probabilities));
});

test('report --png: the curves and the confusion matrix as PNG files', () => {
  for (const name of ['loss-per-epoch', 'accuracy-per-epoch', 'loss-per-step', 'confusion']) {
    const image = decodePng(readFileSync(join(dir, 'png', `${name}.png`)), name);
    assert.ok(image.width >= 400 && image.height >= 300, `${name}: ${image.width}x${image.height}`);
    writeFileSync(join(out, `report-${name}.png`), readFileSync(join(dir, 'png', `${name}.png`)));
  }
});

test('the report renders in Chromium from disk with no console errors: curves with a point per epoch, a 10x10 heatmap, the gallery', async () => {
  if (noBrowser) {
    return skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', {
      requiredInCi: true,
    });
  }
  const browser = await launchChromium(false);
  try {
    const page = await browser.newPage({ viewport: { width: 1100, height: 900 } });
    const problems: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(m.text());
    });
    page.on('pageerror', (e) => problems.push(e.message));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:') && !r.url().startsWith('data:')) problems.push(`request ${r.url()}`);
    });
    await page.goto(`file://${reportFile}`);
    for (const series of ['train-loss', 'test-loss']) {
      assert.is(await page.locator(`svg.loss-per-epoch circle.point.${series}`).count(), 2, series);
    }
    for (const series of ['train-accuracy', 'test-accuracy']) {
      assert.is(await page.locator(`svg.accuracy-per-epoch circle.point.${series}`).count(), 2);
    }
    assert.is(await page.locator('svg.confusion rect.cell').count(), 100);
    assert.is(await page.locator('svg.per-class-accuracy rect.bar').count(), 10);
    assert.is(await page.locator('svg.loss-per-step polyline.series').count(), 2);
    assert.is(await page.locator('.gallery figure.misclassified').count(), run.reportData.gallery.length);
    assert.is(await page.locator('.filters img').count(), 10);
    const broken = await page.evaluate(() =>
      [...(globalThis as any).document.images].filter((i) => !i.complete || i.naturalWidth === 0).length
    );
    assert.is(broken, 0, 'every data-URI image decodes');
    assert.match(await page.locator('table.settings').innerText(), /seed\s+1/);
    await page.screenshot({ path: join(out, 'report.png'), fullPage: true });
    assert.equal(problems, []);
  } finally {
    await browser.close();
  }
});

const startServer = (path = checkpoint, extraEnv: Record<string, string> = {}) =>
  startServe(path, { ...env, ...extraEnv });

test('the page classifies a digit drawn with mouse events, through WebGPU in Chromium, as predict does on the same image', async () => {
  if (noBrowser) {
    return skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', {
      requiredInCi: true,
    });
  }
  const server = await startServer();
  const browser = await launchChromium(true);
  try {
    const { page, problems } = await openReadyPage(browser, server.url);

    // A test-set digit traced row by row: a stroke over every run of ink, 10 canvas pixels per MNIST pixel.
    const testImages = await testSplit('test');
    const index = 0;
    const ink = testImages.images.subarray(index * 784, (index + 1) * 784);
    await traceDigit(page, ink);
    const shown = await page.evaluate(() => (globalThis as any).digits.settled());
    assert.ok(shown, 'the page classified the drawing');
    const png = await padPng(page);
    const drawn = join(out, 'page-drawn-digit.png');
    writeFileSync(drawn, png);
    await page.screenshot({ path: join(out, 'page.png') });

    // Same preprocessing: the page's 28x28 input is what predict makes of the pad's PNG, byte for byte.
    assert.equal(shown.pixels, Array.from(toMnistDigit(decodePng(png, drawn))));
    const predicted = JSON.parse(await cli(['predict', '--json', '--checkpoint', checkpoint, drawn]));
    assert.is(shown.predicted, predicted.digit, `page ${shown.predicted} vs predict ${predicted.digit}`);
    assert.is(shown.predicted, testImages.labels[index], 'and it is the digit that was traced');
    for (let d = 0; d < 10; d++) {
      assert.ok(
        Math.abs(shown.probabilities[d] - predicted.probabilities[d]) < 1e-4,
        `p(${d}): page ${shown.probabilities[d]} vs predict ${predicted.probabilities[d]}`,
      );
    }
    assert.match(await page.locator('#prediction').innerText(), String(predicted.digit));
    assert.equal(problems, []);
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
  }
});

test('a color model trained on a folder: the page feeds it the drawing in R, G and B at its size, with its constants, as predict does', async () => {
  if (noBrowser) {
    return skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', {
      requiredInCi: true,
    });
  }
  // Two classes, light pictures with a dark bar across or down: a drawing is one or the other.
  const folder = join(dir, 'bars');
  for (const [name, across] of [['across', true], ['down', false]] as const) {
    mkdirSync(join(folder, name), { recursive: true });
    for (let i = 0; i < 10; i++) {
      const pixels = new Uint8Array(16 * 16 * 3).fill(240 - i);
      for (let a = 0; a < 16; a++) {
        for (let b = 6; b < 10; b++) {
          pixels.fill(10 * (i % 3), 3 * (across ? b * 16 + a : a * 16 + b), 3 * (across ? b * 16 + a : a * 16 + b) + 3);
        }
      }
      writeFileSync(join(folder, name, `${i}.png`), encodePng({ width: 16, height: 16, channels: 3, pixels }));
    }
  }
  const model = join(dir, 'color8.json');
  writeFileSync(
    model,
    JSON.stringify({
      name: 'color8',
      input: [3, 8, 8],
      classes: 2,
      layers: [{ kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 2 }],
    }),
  );
  const colorCheckpoint = join(dir, 'color8.safetensors');
  const cacheEnv = { XDG_CACHE_HOME: join(dir, 'cache') };
  const trained = await runCli(
    [
      'train',
      '--dataset',
      'folder',
      '--data',
      folder,
      '--model',
      model,
      '--epochs',
      '2',
      '--batch-size',
      '4',
      '--out',
      colorCheckpoint,
    ],
    { env: { ...env, ...cacheEnv }, timeoutMs: LONG },
  );
  assert.is(trained.code, 0, trained.stderr);
  const server = await startServer(colorCheckpoint, cacheEnv);
  const browser = await launchChromium(true);
  try {
    const { page, problems } = await openReadyPage(browser, server.url);
    const box = (await page.locator('#pad').boundingBox())!;
    await page.mouse.move(box.x + 40, box.y + 140);
    await page.mouse.down();
    await page.mouse.move(box.x + 240, box.y + 140, { steps: 10 });
    await page.mouse.up();
    const shown = await page.evaluate(() => (globalThis as any).digits.settled());
    assert.ok(shown, 'the page classified the drawing');
    const png = await padPng(page);
    const drawn = join(dir, 'page-drawn-bar.png');
    writeFileSync(drawn, png);
    const spec = JSON.parse(readFileSync(model, 'utf8'));
    assert.equal(shown.pixels, Array.from(pictureForModel(png, drawn, spec)), 'the input predict makes of the pad');
    const predicted = JSON.parse(
      (await runCli(['predict', '--json', '--checkpoint', colorCheckpoint, drawn], { env: { ...env, ...cacheEnv } }))
        .stdout,
    );
    assert.is(shown.predicted, predicted.digit);
    for (let c = 0; c < 2; c++) {
      assert.ok(
        Math.abs(shown.probabilities[c] - predicted.probabilities[c]) < 1e-4,
        `p(${c}): page ${shown.probabilities[c]} vs predict ${predicted.probabilities[c]}`,
      );
    }
    assert.is(await page.locator('#prediction').innerText(), predicted.class);
    assert.equal(problems, []);
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
  }
});

test('without WebGPU the page says so plainly', async () => {
  if (noBrowser) {
    return skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', {
      requiredInCi: true,
    });
  }
  const server = await startServer();
  const browser = await launchChromium(false);
  try {
    const { page } = await openReadyPage(browser, server.url, {
      viewport: { width: 900, height: 400 },
      expect: 'no-webgpu',
      init: () => Object.defineProperty((globalThis as any).Navigator.prototype, 'gpu', { get: () => undefined }),
    });
    assert.ok(await page.locator('#training').isHidden(), 'no training form where nothing can train');
    assert.match(await page.locator('#status').innerText(), /No WebGPU here.*navigator\.gpu/s);
    await page.screenshot({ path: join(out, 'page-no-webgpu.png') });
  } finally {
    await browser.close();
    server.child.kill('SIGTERM');
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
