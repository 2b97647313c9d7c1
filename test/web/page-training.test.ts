// deno-lint-ignore-file no-explicit-any -- the page's globals are untyped across the page boundary
// Training in the browser page, end to end in headless Chromium (WebGPU on SwiftShader): the page served
// by `serve` trains `digit` for 2 epochs on 1,280 images with the engine's own trainer, on MNIST it
// fetched and verified itself; the checkpoint it downloads is what `eval` and `train --resume` take, and
// `eval` reports the page's test accuracy for it. A CLI checkpoint and a PyTorch state_dict opened in the
// page predict as `predict` does. A failed MNIST fetch, a checksum mismatch and a wrong file on "Open"
// each get one sentence on the page.
import { createServer, type Server } from 'node:http';
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { encodeIdx } from '../../src/data/idx.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.ts';
import { encodePng } from '../../src/io/png.ts';
import {
  hasChromium,
  launchChromium,
  openReadyPage,
  padPng,
  startServe,
  testOutputDir,
  traceDigit,
} from '../helpers/browser.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir, testSplit } from '../helpers/mnist.ts';
import { skip } from '../helpers/skip.ts';

const dir = mkdtempSync(join(tmpdir(), 'page-training-'));
const env = { MNIST_DIR: testMnistDir() };
const LONG = 900_000;
const out = testOutputDir();
const noBrowser = () =>
  skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', { requiredInCi: true });

let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
let server: Awaited<ReturnType<typeof startServe>> | undefined;

async function cli(args: string[]): Promise<string> {
  const result = await runCli(args, { env, timeoutMs: LONG });
  if (result.code !== 0) throw new Error(`${args[0]} exited with ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

// SwiftShader compiles the CPU-driver class's direct convolution (shaders/conv2d_forward.wgsl, 5x5 over one
// channel) for minutes; the GPU-class kernels in seconds. So the pages here plan for an integrated GPU, as
// the CLI's --device-class does, and the CLI runs they are compared with do the same.
const GPU_CLASS = ['--device-class', 'integrated-gpu'];
const pageUrl = () => `${server!.url}?device-class=integrated-gpu`;

const metadataOf = (path: string) => decodeSafetensors(new Uint8Array(readFileSync(path)), path).metadata;

test.before(async () => {
  if (!hasChromium()) return;
  browser = await launchChromium(true);
  // No --checkpoint: the pad starts with the default checkpoint if there is one, else with none.
  server = await startServe(undefined, env);
});

test.after(async () => {
  await browser?.close();
  server?.child.kill('SIGTERM');
  rmSync(dir, { recursive: true, force: true });
});

test('the page trains digit for 2 epochs on 1,280 images; eval of its downloaded checkpoint reports its test accuracy, train --resume continues it', async () => {
  if (!browser || !server) return noBrowser();
  // Minutes of SwiftShader: once per CI run is enough, and the page is the same bundle whichever runtime
  // serves it (browser.test.ts opens it from both).
  if (thisRuntime !== 'deno') {
    return skip('runs once, in the Deno pass (deno task serve, deno task eval)', { requiredInCi: false });
  }
  const { page, problems } = await openReadyPage(browser, pageUrl(), { viewport: { width: 1000, height: 1100 } });
  await page.selectOption('#model', 'digit');
  for (
    const [id, value] of [['epochs', '2'], ['batch-size', '64'], ['lr', '0.001'], ['seed', '1'], ['limit', '1280']]
  ) {
    await page.fill(`#${id}`, value);
  }
  await page.click('#train');
  await page.waitForFunction(
    () =>
      (globalThis as any).digits.training.epochs.length >= 1 ||
      ['done', 'error'].includes((globalThis as any).digits.training.state),
    null,
    { timeout: LONG },
  );
  await page.screenshot({ path: join(out, 'page-training-progress.png'), fullPage: true });
  await page.waitForFunction(
    () => ['done', 'error', 'stopped'].includes((globalThis as any).digits.training.state),
    null,
    { timeout: LONG },
  );
  const training = await page.evaluate(() => (globalThis as any).digits.training);
  assert.is(training.state, 'done', training.message);
  assert.is(training.epochs.length, 2);
  await page.screenshot({ path: join(out, 'page-training.png'), fullPage: true });
  assert.is(await page.locator('#loss-chart svg.chart polyline.series').count() >= 1, true, 'a loss curve');
  assert.is(await page.locator('#accuracy-chart svg circle.point').count(), 2, 'a test accuracy point per epoch');

  // Download both files as a user would, then hand them to the CLI.
  const weights = join(out, 'page-trained.safetensors');
  const [weightsDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download')]);
  await weightsDownload.saveAs(weights);
  const [optimizerDownload] = await Promise.all([page.waitForEvent('download'), page.click('#download-optimizer')]);
  const optimizerName = optimizerDownload.suggestedFilename();
  await optimizerDownload.saveAs(join(out, optimizerName));
  const metadata = metadataOf(weights);
  assert.is(metadata.optimizer_file, optimizerName, 'the weights name the optimizer file downloaded beside them');
  assert.is(metadata.tensors_sha256, training.tensorsSha256);

  const accuracy = training.epochs[1].testAccuracy;
  const evaluated = JSON.parse(await cli(['eval', '--checkpoint', weights, '--json']));
  assert.is(evaluated.count, 10000);
  assert.ok(Math.abs(evaluated.accuracy - accuracy) <= 1e-4, `eval ${evaluated.accuracy} vs page ${accuracy}`);

  // The same run from the command line (lavapipe here): are the bits the same? Recorded, not asserted.
  const cliOut = join(dir, 'cli', 'digit.safetensors');
  const events = (await cli([
    'train',
    '--epochs',
    '2',
    '--limit',
    '1280',
    '--batch-size',
    '64',
    '--lr',
    '0.001',
    '--seed',
    '1',
    ...GPU_CLASS,
    '--out',
    cliOut,
    '--json',
  ])).trim().split('\n').map((l) => JSON.parse(l));
  const cliEpochs = events.filter((e) => e.event === 'epoch');
  const cliSha = metadataOf(cliOut).tensors_sha256;
  writeFileSync(
    join(out, 'page-training.json'),
    JSON.stringify(
      {
        accuracy,
        images_per_second: training.imagesPerSecond,
        epochs: training.epochs.length,
        eval_accuracy: evaluated.accuracy,
        adapter: await page.evaluate(() => (globalThis as any).digits.adapter),
        tensors_sha256: metadata.tensors_sha256,
        cli_tensors_sha256: cliSha,
        same_bits_as_cli: cliSha === metadata.tensors_sha256,
        cli_test_accuracy: cliEpochs.at(-1).test_accuracy,
        cli_images_per_second: cliEpochs.reduce((s: number, e: any) => s + e.images_per_second, 0) / cliEpochs.length,
      },
      null,
      2,
    ) + '\n',
  );

  // The pad follows the trained weights: a traced test digit is classified as predict classifies it.
  const testImages = await testSplit('test');
  await page.click('#clear');
  await traceDigit(page, testImages.images.subarray(0, 784));
  const shown = await page.evaluate(() => (globalThis as any).digits.settled());
  const drawn = join(dir, 'trained-pad.png');
  writeFileSync(drawn, await padPng(page));
  const predicted = JSON.parse(await cli(['predict', '--json', '--checkpoint', weights, drawn]));
  assert.is(shown.predicted, predicted.digit);

  // train --resume continues the browser's run for a third epoch.
  const resumeDir = join(dir, 'resume');
  mkdirSync(resumeDir);
  copyFileSync(weights, join(resumeDir, 'page.safetensors'));
  copyFileSync(join(out, optimizerName), join(resumeDir, optimizerName));
  await cli([
    'train',
    '--resume',
    '--epochs',
    '3',
    '--limit',
    '1280',
    '--no-test',
    ...GPU_CLASS,
    '--out',
    join(resumeDir, 'page.safetensors'),
  ]);
  const resumed = metadataOf(join(resumeDir, 'page.safetensors'));
  assert.equal([resumed.epoch, resumed.step], ['3', '60']);
  assert.equal(problems, []);
  await page.close();
});

test('a CLI checkpoint, and the same weights as a PyTorch state_dict, opened in the page predict a test digit as predict does', async () => {
  if (!browser || !server) return noBrowser();
  const checkpoint = join(dir, 'cli-digit.safetensors');
  await cli(['train', '--epochs', '1', '--limit', '640', '--no-test', '--out', checkpoint]);
  const { page, problems } = await openReadyPage(browser, pageUrl());
  await page.setInputFiles('#open', checkpoint);
  await page.waitForFunction(() => (globalThis as any).digits.opened !== null);
  const opened = await page.evaluate(() => (globalThis as any).digits.opened);
  assert.ok(opened.ok, opened.message);
  const testImages = await testSplit('test');
  const index = 1;
  await traceDigit(page, testImages.images.subarray(index * 784, (index + 1) * 784));
  const shown = await page.evaluate(() => (globalThis as any).digits.settled());
  const drawn = join(dir, 'opened-pad.png');
  writeFileSync(drawn, await padPng(page));
  const predicted = JSON.parse(await cli(['predict', '--json', '--checkpoint', checkpoint, drawn]));
  assert.is(shown.predicted, predicted.digit);
  for (let d = 0; d < 10; d++) assert.ok(Math.abs(shown.probabilities[d] - predicted.probabilities[d]) < 1e-4);

  // The weights alone, as safetensors.torch.save_file writes a state_dict: no metadata of ours.
  const { tensors } = decodeSafetensors(new Uint8Array(readFileSync(checkpoint)), checkpoint);
  const stateDict = join(dir, 'state_dict.safetensors');
  writeFileSync(
    stateDict,
    encodeSafetensors(
      Object.fromEntries([...tensors].map(([name, t]) => [name, { shape: t.shape, data: t.data as Float32Array }])),
    ),
  );
  await page.selectOption('#model', 'digit');
  await page.setInputFiles('#open', stateDict);
  await page.waitForFunction(() => /state_dict/.test((globalThis as any).digits.opened?.message ?? ''));
  const again = await page.evaluate(() => (globalThis as any).digits.settled());
  assert.equal(again.probabilities, shown.probabilities, 'the same weights give the same probabilities');
  assert.equal(problems, []);
  await page.close();
});

test('a wrong file on "Open" gets one sentence, and the pad keeps its model', async () => {
  if (!browser || !server) return noBrowser();
  const { page, problems } = await openReadyPage(browser, pageUrl());
  const picture = join(dir, 'not-a-checkpoint.png');
  writeFileSync(picture, encodePng({ width: 2, height: 2, channels: 1, pixels: new Uint8Array(4) }));
  await page.setInputFiles('#open', picture);
  await page.waitForFunction(() => (globalThis as any).digits.opened !== null);
  let opened = await page.evaluate(() => (globalThis as any).digits.opened);
  assert.is(opened.ok, false);
  assert.match(opened.message, /not-a-checkpoint\.png is not a safetensors file .*: open a checkpoint/);
  assert.match(await page.locator('#open-status').innerText(), /is not a safetensors file/);
  await page.screenshot({ path: join(out, 'page-open-wrong-file.png') });

  // A state_dict of another model: what does not fit is said, and what to do.
  const foreign = join(dir, 'foreign.safetensors');
  writeFileSync(foreign, encodeSafetensors({ 'fc.weight': { shape: [2, 2], data: new Float32Array(4) } }));
  await page.setInputFiles('#open', foreign);
  await page.waitForFunction(() => /foreign/.test((globalThis as any).digits.opened?.message ?? ''));
  opened = await page.evaluate(() => (globalThis as any).digits.opened);
  assert.is(opened.ok, false);
  assert.match(opened.message, /neither a checkpoint of this tool nor a state_dict of the model "digit"/);
  assert.equal(problems, []);
  await page.close();
});

test('a failed MNIST fetch and a checksum mismatch each get one sentence on the page', async () => {
  if (!browser || !server) return noBrowser();
  const { page, problems } = await openReadyPage(browser, pageUrl());
  await page.fill('#epochs', '1');
  await page.fill('#mnist-url', 'missing/');
  await page.click('#train');
  await page.waitForFunction(() => (globalThis as any).digits.training.state === 'error', null, { timeout: 60_000 });
  let message = await page.locator('#train-status').innerText();
  assert.match(message, /^Could not fetch http:\/\/127\.0\.0\.1:\d+\/missing\/train-images-idx3-ubyte\.gz: HTTP 404/);
  await page.screenshot({ path: join(out, 'page-mnist-fetch-failed.png') });

  // Files that parse as MNIST (28x28 images, matching labels) but are not MNIST's, from another origin.
  const files: Record<string, Uint8Array> = {};
  for (const prefix of ['train', 't10k']) {
    files[`/${prefix}-images-idx3-ubyte.gz`] = gzipSync(encodeIdx([3, 28, 28], new Uint8Array(3 * 784).fill(7)));
    files[`/${prefix}-labels-idx1-ubyte.gz`] = gzipSync(encodeIdx([3], Uint8Array.of(1, 2, 3)));
  }
  const other: Server = createServer((req, res) => {
    const body = files[req.url ?? ''];
    res.writeHead(body ? 200 : 404, { 'access-control-allow-origin': '*' });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((resolve) => other.listen(0, '127.0.0.1', resolve));
  try {
    const port = (other.address() as { port: number }).port;
    await page.fill('#mnist-url', `http://127.0.0.1:${port}/`);
    await page.click('#train');
    await page.waitForFunction(
      () => /SHA-256/.test((globalThis as any).digits.training.message),
      null,
      { timeout: 60_000 },
    );
    message = await page.locator('#train-status').innerText();
    assert.match(
      message,
      /^http:\/\/127\.0\.0\.1:\d+\/train-images-idx3-ubyte\.gz is not MNIST's train-images-idx3-ubyte: its content has SHA-256 [0-9a-f]{16}…, expected [0-9a-f]{16}…; replace it/,
    );
  } finally {
    other.close();
  }
  // The page's own fetch errors are its sentences; the browser logs a failed request as a console error.
  assert.equal(problems.filter((p) => !/Failed to load resource.*404/.test(p)), []);
  await page.close();
});

test.run();
