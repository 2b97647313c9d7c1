// show, report and export on --dataset folder: the pictures as a color model sees them (RGB PNG
// files), the report of a checkpoint trained on a folder (its class names, the confusion matrix, a
// gallery of misclassified pictures in color), and its ONNX export with the recorded normalization
// folded into the graph; serve's /model.json carries what the page needs to draw for that model.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { decodePngColor, encodePng } from '../../src/io/png.ts';
import { PYTHON } from '../../bench/pytorch.ts';
import type { PageInput } from '../../src/io/pad-input.ts';
import { peekMetadata } from '../../src/train/checkpoint.ts';
import { runCli, startCli } from '../helpers/cli.ts';
import { skip } from '../helpers/skip.ts';

const test = suite('cli: show, report, export and serve with --dataset folder');
const dir = mkdtempSync(join(tmpdir(), 'cli-folder-show-'));
const pictures = join(dir, 'pictures');
const env = { XDG_CACHE_HOME: join(dir, 'cache') };
const COLORS = { blue: [20, 40, 220], red: [220, 30, 20] } as const;

/** A width x 10 picture of `rgb` with a little texture, written interleaved as PNG. */
function picture(rgb: readonly number[], width: number, seed: number): Uint8Array {
  const pixels = new Uint8Array(width * 10 * 3);
  for (let i = 0; i < width * 10; i++) {
    for (let c = 0; c < 3; c++) pixels[i * 3 + c] = Math.min(255, rgb[c] + ((i * 7 + seed * 13) % 30));
  }
  return encodePng({ width, height: 10, channels: 3, pixels });
}

for (const split of ['train', 'test']) {
  for (const [name, rgb] of Object.entries(COLORS)) {
    mkdirSync(join(pictures, split, name), { recursive: true });
    for (let i = 0; i < (split === 'train' ? 12 : 4); i++) {
      writeFileSync(join(pictures, split, name, `${i}.png`), picture(rgb, 12 + (i % 3), i));
    }
  }
}
// One test picture filed under the wrong class: the report's gallery has something to show.
writeFileSync(join(pictures, 'test', 'red', 'blue-in-red.png'), picture(COLORS.blue, 12, 99));

const model = join(dir, 'color8.json');
writeFileSync(
  model,
  JSON.stringify({
    name: 'color8',
    input: [3, 8, 8],
    classes: 2,
    layers: [
      { kind: 'conv2d', name: 'conv1', outChannels: 4, kernel: 3, padding: 1 },
      { kind: 'relu' },
      { kind: 'flatten' },
      { kind: 'linear', name: 'fc1', outFeatures: 2 },
    ],
  }),
);

/** Mean of each channel of an RGB picture. */
function channelMeans(image: { pixels: Uint8Array; channels: number }): number[] {
  const sums = [0, 0, 0];
  for (let i = 0; i < image.pixels.length; i++) sums[i % 3] += image.pixels[i];
  return sums.map((s) => s / (image.pixels.length / 3));
}

test('show --dataset folder writes RGB PNG files at the model input size, labelled with the class names', async () => {
  const out = join(dir, 'shown');
  const result = await runCli([
    'show',
    '--dataset',
    'folder',
    '--data',
    pictures,
    '--model',
    model,
    '--split',
    'test',
    '--index',
    '0,4',
    '--out-dir',
    out,
  ], { env });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stderr, /as model color8 sees them: RGB, 8x8/);
  assert.match(result.stdout, /test #0: label 0 \(blue\)/);
  assert.match(result.stdout, /test #4: label 1 \(red\)/);
  assert.equal(readdirSync(out).sort(), ['test-0-label0.png', 'test-4-label1.png']);
  const blue = decodePngColor(readFileSync(join(out, 'test-0-label0.png')));
  const red = decodePngColor(readFileSync(join(out, 'test-4-label1.png')));
  for (const image of [blue, red]) assert.equal([image.width, image.height, image.channels], [8, 8, 3]);
  const [b, r] = [channelMeans(blue), channelMeans(red)];
  assert.ok(b[2] > 200 && b[0] < 80, `blue stays blue: ${b}`);
  assert.ok(r[0] > 200 && r[2] < 80, `red stays red: ${r}`);

  // Without --model: the digit preset's input, gray 28x28.
  const gray = await runCli(['show', '--dataset', 'folder', '--data', pictures, '--index', '0', '--no-art'], { env });
  assert.is(gray.code, 0, gray.stderr);
  assert.match(gray.stderr, /as model digit sees them: gray, 28x28/);
  const refused = await runCli(['show', '--model', model], { env });
  assert.is(refused.code, 2);
  assert.match(refused.stderr, /--model, --test-fraction and --skip-bad-files go with --dataset folder/);
});

const checkpoint = join(dir, 'color8.safetensors');

test('report on a folder-trained checkpoint: class names, confusion matrix, the misfiled picture in color', async () => {
  const trained = await runCli([
    'train',
    '--dataset',
    'folder',
    '--data',
    pictures,
    '--model',
    model,
    '--epochs',
    '4',
    '--batch-size',
    '4',
    '--lr',
    '0.01',
    '--out',
    checkpoint,
  ], { env, timeoutMs: 300_000 });
  assert.is(trained.code, 0, trained.stderr);
  const html = join(dir, 'report.html');
  const result = await runCli(
    ['report', '--checkpoint', checkpoint, '--out', html, '--png', join(dir, 'png')],
    { env, timeoutMs: 300_000 },
  );
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stderr, /read from the cache/);
  const accuracy = /test accuracy ([0-9.]+)%/.exec(result.stdout);
  assert.ok(accuracy, result.stdout);
  assert.is(accuracy![1], '88.89', '8 of the 9 test pictures: all but the blue one filed under red');
  const text = readFileSync(html, 'utf8');
  assert.match(text, /1 red/);
  assert.match(text, /0 blue/);
  const gallery = [...text.matchAll(/data:image\/png;base64,([A-Za-z0-9+/=]+)/g)]
    .map((m) => decodePngColor(Uint8Array.from(atob(m[1]), (c) => c.charCodeAt(0))))
    .filter((image) => image.width === 24 && image.height === 24);
  assert.is(gallery.length, 1, 'one misclassified picture, 8x8 scaled 3 times');
  const means = channelMeans(gallery[0]);
  assert.ok(gallery[0].channels === 3 && means[2] > 200 && means[0] < 80, `shown in its own colors: ${means}`);
  assert.ok(readdirSync(join(dir, 'png')).includes('confusion.png'));
});

test('export --format onnx of the folder-trained checkpoint folds its normalization in; the onnx checker accepts it', async () => {
  const out = join(dir, 'onnx', 'color8.onnx');
  const result = await runCli(['export', '--format', 'onnx', '--checkpoint', checkpoint, '--out', out], { env });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /input \[batch, 3, 8, 8\] as pixel \/ 255; the graph normalizes it with mean /);
  const probe = spawnSync(PYTHON, ['-c', 'import onnx'], { stdio: 'ignore' });
  if (probe.status !== 0) {
    return skip('the onnx checker needs python3 with onnx: apt-get install python3-onnx', { requiredInCi: true });
  }
  const check = spawnSync(PYTHON, [
    '-c',
    [
      'import onnx, json, sys',
      'from onnx import numpy_helper',
      'm = onnx.load(sys.argv[1]); onnx.checker.check_model(m, full_check=True)',
      'g = onnx.shape_inference.infer_shapes(m).graph',
      'init = {t.name: numpy_helper.to_array(t) for t in g.initializer}',
      'print(json.dumps({"ops": [n.op_type for n in g.node[:3]], "first": list(g.node[0].input),',
      ' "input": [d.dim_value or d.dim_param for d in g.input[0].type.tensor_type.shape.dim],',
      ' "output": [d.dim_value or d.dim_param for d in g.output[0].type.tensor_type.shape.dim],',
      ' "mean": init["input_mean"].tolist(), "std": init["input_std"].tolist(),',
      ' "meta": {p.key: p.value for p in m.metadata_props}}))',
    ].join('\n'),
    out,
  ], { encoding: 'utf8' });
  assert.is(check.status, 0, check.stderr);
  const graph = JSON.parse(check.stdout);
  assert.equal(graph.ops, ['Sub', 'Div', 'Conv']);
  assert.equal(graph.first, ['input', 'input_mean']);
  assert.equal(graph.input, ['batch', 3, 8, 8]);
  assert.equal(graph.output, ['batch', 2]);
  const recorded = JSON.parse(graph.meta['webgpu_digits.normalization']);
  assert.is(graph.mean.flat(3).length, 3);
  for (const [name, values] of [['mean', graph.mean], ['std', graph.std]] as const) {
    const flat = values.flat(3) as number[];
    flat.forEach((v, c) => assert.ok(Math.abs(v - recorded[name][c]) < 1e-6, `${name}[${c}] ${v}`));
  }
  // Half blue, half red pictures: red and blue channels spread widely about the middle, green barely.
  const { mean, std } = recorded as { mean: number[]; std: number[] };
  for (const c of [0, 2]) assert.ok(mean[c] > 0.4 && mean[c] < 0.7 && std[c] > 0.3, `channel ${c}: ${mean}, ${std}`);
  assert.ok(std[1] < 0.1, `green: ${std}`);
  assert.match(graph.meta['webgpu_digits.input'], /pixel \/ 255 in \[0, 1\]/);
});

test("serve's /model.json for the folder-trained checkpoint: its input, recorded normalization and class names", async () => {
  const { child, result } = startCli(['serve', '--checkpoint', checkpoint, '--port', '0'], { env, timeoutMs: 120_000 });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error(`serve did not start: ${text}`)), 60_000);
      const onData = (d: unknown) => {
        text += String(d);
        const found = /serving (http:\S+)/.exec(text)?.[1];
        if (found) {
          clearTimeout(timer);
          resolve(found);
        }
      };
      child.stdout!.on('data', onData);
      child.stderr!.on('data', onData);
    });
    const info = await (await fetch(`${url}model.json`)).json() as PageInput;
    assert.equal(info.input, [3, 8, 8]);
    assert.is(info.preprocessing, 'picture');
    assert.equal(info.classes, ['blue', 'red']);
    assert.equal(info.normalization, JSON.parse(peekMetadata(checkpoint)!.normalization));
    assert.is(info.normalization.mean.length, 3);
    const page = await (await fetch(`${url}main.js`)).text();
    assert.match(page, 'padToModelInput', 'the page preprocesses through src/io/pad-input.ts');
  } finally {
    child.kill('SIGINT');
    await result;
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
