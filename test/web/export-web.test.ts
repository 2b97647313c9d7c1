// deno-lint-ignore-file no-explicit-any -- the page's globals are untyped across the page boundary
// `export --format web`: the folder it writes, served by a plain static file server on 127.0.0.1 (no
// process of ours), classifies a drawn test digit in headless Chromium as `predict` does; a browser
// without WebGPU gets a sentence; --out is created whole, and an existing one is refused.
import { createServer } from 'node:http';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join, normalize } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { hasChromium, launchChromium, openReadyPage, padPng, testOutputDir, traceDigit } from '../helpers/browser.ts';
import { runCli } from '../helpers/cli.ts';
import { testMnistDir, testSplit } from '../helpers/mnist.ts';
import { skip } from '../helpers/skip.ts';

const dir = mkdtempSync(join(tmpdir(), 'export-web-'));
const env = { MNIST_DIR: testMnistDir() };
const LONG = 900_000;
const checkpoint = join(dir, 'digit.safetensors');
const site = join(dir, 'site');
// A preset with batch norm and dropout: the exported page runs them as evaluation does.
const fastCheckpoint = join(dir, 'fast.safetensors');
const fastSite = join(dir, 'fast-site');

async function cli(args: string[]): Promise<string> {
  const result = await runCli(args, { env, timeoutMs: LONG });
  if (result.code !== 0) throw new Error(`${args[0]} exited with ${result.code}:\n${result.stderr}\n${result.stdout}`);
  return result.stdout;
}

/** A plain static file server: files under `root`, by extension, nothing else. */
async function staticServer(root: string) {
  const types: Record<string, string> = { '.html': 'text/html', '.js': 'text/javascript', '.json': 'application/json' };
  const server = createServer((req, res) => {
    const path = normalize(decodeURIComponent((req.url ?? '/').split('?')[0])).replace(/^(\.\.[/\\])+/, '');
    const file = join(root, path.endsWith('/') ? `${path}index.html` : path);
    if (!file.startsWith(root) || !existsSync(file)) {
      res.writeHead(404).end('not found');
      return;
    }
    res.writeHead(200, { 'content-type': types[extname(file)] ?? 'application/octet-stream' });
    res.end(readFileSync(file));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { server, url: `http://127.0.0.1:${(server.address() as { port: number }).port}/` };
}

test.before(async () => {
  await cli(['train', '--epochs', '1', '--limit', '640', '--no-test', '--out', checkpoint]);
  await cli(['train', '--model', 'fast', '--limit', '640', '--no-test', '--out', fastCheckpoint]);
});

/** Opens the folder served statically, traces test digit `index` on its pad, and checks it against predict. */
async function classifiesAsPredict(
  browser: Awaited<ReturnType<typeof launchChromium>>,
  url: string,
  model: string,
  index: number,
  screenshot?: string,
) {
  // SwiftShader compiles the CPU-driver class's 5x5 convolution for minutes: plan for an integrated GPU.
  const { page, problems } = await openReadyPage(browser, `${url}?device-class=integrated-gpu`);
  const testImages = await testSplit('test');
  await traceDigit(page, testImages.images.subarray(index * 784, (index + 1) * 784));
  const shown = await page.evaluate(() => (globalThis as any).digits.settled());
  assert.ok(shown, 'the page classified the drawing');
  const drawn = join(dir, `exported-pad-${index}.png`);
  writeFileSync(drawn, await padPng(page));
  if (screenshot) await page.screenshot({ path: join(testOutputDir(), screenshot) });
  const predicted = JSON.parse(await cli(['predict', '--json', '--checkpoint', model, drawn]));
  assert.is(shown.predicted, predicted.digit);
  for (let d = 0; d < 10; d++) assert.ok(Math.abs(shown.probabilities[d] - predicted.probabilities[d]) < 1e-4);
  assert.equal(problems, []);
  await page.close();
}

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('export --format web writes index.html, the bundled engine and the weights into a new folder; an existing --out is refused', async () => {
  const said = await cli(['export', '--format', 'web', '--checkpoint', checkpoint, '--out', site]);
  assert.match(said, /wrote .*site\/ \(digit: index\.html, main\.js, model\.json, params\.bin/);
  assert.equal(readdirSync(site).sort(), ['index.html', 'main.js', 'model.json', 'params.bin']);
  assert.is(JSON.parse(readFileSync(join(site, 'model.json'), 'utf8')).checkpoint, 'digit.safetensors');
  assert.not.match(readFileSync(join(site, 'main.js'), 'utf8'), /sourceMappingURL/, 'no sources inlined');
  const again = await runCli(['export', '--format', 'web', '--checkpoint', checkpoint, '--out', site], { env });
  assert.is(again.code, 2, again.stderr);
  assert.match(again.stderr, /--out .*site exists; pass --overwrite to replace it/);
  await cli(['export', '--format', 'web', '--checkpoint', checkpoint, '--out', site, '--overwrite']);
  const foreign = join(dir, 'foreign');
  mkdirSync(foreign);
  writeFileSync(join(foreign, 'notes.txt'), 'mine');
  const refused = await runCli([
    'export',
    '--format',
    'web',
    '--checkpoint',
    checkpoint,
    '--out',
    foreign,
    '--overwrite',
  ], {
    env,
  });
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /did not write; it is left as it is/);
  assert.is(readFileSync(join(foreign, 'notes.txt'), 'utf8'), 'mine');
  assert.equal(readdirSync(dir).filter((n) => n.includes('.tmp-')), [], 'no temporary folder left');
});

test('the exported folder, served by a plain static server, classifies a drawn test digit as predict does', async () => {
  if (!hasChromium()) {
    return skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', {
      requiredInCi: true,
    });
  }
  const { server, url } = await staticServer(site);
  const browser = await launchChromium(true);
  try {
    await classifiesAsPredict(browser, url, checkpoint, 2, 'exported-page.png');

    const { page: bare } = await openReadyPage(browser, url, {
      expect: 'no-webgpu',
      init: () => Object.defineProperty((globalThis as any).Navigator.prototype, 'gpu', { get: () => undefined }),
    });
    assert.match(
      await bare.locator('#status').innerText(),
      /^No WebGPU here, so the network cannot run in this page\./,
    );
    await bare.screenshot({ path: join(testOutputDir(), 'exported-page-no-webgpu.png') });
  } finally {
    await browser.close();
    server.close();
  }
});

test('a preset with batch norm and dropout (fast), exported the same way, classifies as predict does', async () => {
  if (!hasChromium()) {
    return skip('no Chromium for the browser tests: apt-get install chromium (or set $CHROMIUM)', {
      requiredInCi: true,
    });
  }
  await cli(['export', '--format', 'web', '--checkpoint', fastCheckpoint, '--out', fastSite]);
  assert.is(JSON.parse(readFileSync(join(fastSite, 'model.json'), 'utf8')).checkpoint, 'fast.safetensors');
  const { server, url } = await staticServer(fastSite);
  const browser = await launchChromium(true);
  try {
    await classifiesAsPredict(browser, url, fastCheckpoint, 7);
  } finally {
    await browser.close();
    server.close();
  }
});

test.run();
