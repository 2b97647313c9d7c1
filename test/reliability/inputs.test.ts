// Inputs validated where they enter, with the file named: safetensors data read at its real offset,
// a model checked against the data before the GPU opens, sizes capped, checkpoint metadata checked by
// type and range, a log and a checkpoint of different runs refused, serve running the checkpoint's
// own model and refusing an empty --host, and signals ending commands at once.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { openGpu } from '../../src/gpu/device.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.ts';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, FAST, type ModelSpec, parameterSpecs } from '../../src/nn/spec.ts';
import { loadCheckpoint, saveCheckpoint, sealMetadata } from '../../src/train/checkpoint.ts';
import { initialState, type TrainConfig } from '../../src/train/trainer.ts';
import { saveTuneCache, tuneKeyOf } from '../../src/tune/cache.ts';
import { cliCommand, runCli, thisRuntime } from '../helpers/cli.ts';
import { repoRoot, testMnistDir } from '../helpers/mnist.ts';

const test = suite(`reliability: inputs (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'inputs-'));
const env = { MNIST_DIR: testMnistDir() };
const layout = new ParameterLayout(parameterSpecs(DIGIT));
const config: TrainConfig = { model: DIGIT, epochs: 2, batchSize: 64, seed: 1, shuffle: true, adam: ADAM_DEFAULTS };

async function cli(args: string[], code: number, pattern?: RegExp | string) {
  const r = await runCli(args, { env, timeoutMs: 60_000 });
  assert.is(r.code, code, `${args.join(' ')}: exit ${r.code} ${r.signal}\n${r.stderr}`);
  if (pattern) assert.match(r.stderr, pattern);
  return r;
}

/** A state dict of digit's tensors whose data starts `shift` bytes past an 8-byte boundary (safetensors does not require padding). */
function unalignedStateDict(params: Map<string, Float32Array>, shift: number): Uint8Array {
  const header: Record<string, unknown> = { __metadata__: { note: 'x'.repeat(101) } };
  let offset = 0;
  for (const slot of layout.slots) {
    header[slot.name] = { dtype: 'F32', shape: slot.shape, data_offsets: [offset, offset + slot.count * 4] };
    offset += slot.count * 4;
  }
  let json = JSON.stringify(header);
  while ((8 + json.length) % 8 !== shift) json += ' ';
  const out = new Uint8Array(8 + json.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(new TextEncoder().encode(json), 8);
  let at = 8 + json.length;
  for (const slot of layout.slots) {
    const bytes = params.get(slot.name)!;
    out.set(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength), at);
    at += bytes.byteLength;
  }
  return out;
}

test("finding 6: import of a state dict whose tensor data is not 4-byte aligned gives the file's weights", async () => {
  const params = layout.split(initParameters(layout, 7));
  for (const shift of [1, 2, 3]) {
    const file = join(dir, `unaligned-${shift}.safetensors`);
    writeFileSync(file, unalignedStateDict(params, shift));
    const out = join(dir, `imported-${shift}.safetensors`);
    await cli(['import', file, '--out', out], 0);
    const imported = layout.split(loadCheckpoint(out).params);
    for (const slot of layout.slots) {
      assert.equal([...imported.get(slot.name)!], [...params.get(slot.name)!], slot.name);
    }
  }
});

test('finding 8: train refuses a model whose input shape or class count the data does not match, before the GPU', async () => {
  for (
    const [change, pattern] of [
      [{ input: [1, 32, 32] }, 'takes 1x32x32 inputs, but'],
      [{ input: [3, 28, 28] }, 'takes 3x28x28 inputs'],
    ] as const
  ) {
    const spec = {
      ...DIGIT,
      name: 'odd',
      ...change,
      layers: [{ kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 10 }],
    };
    const file = join(dir, 'odd.json');
    writeFileSync(file, JSON.stringify(spec));
    const r = await cli(['train', '--model', file, '--out', join(dir, 'odd.safetensors'), '--limit', '64'], 2, pattern);
    assert.not.match(r.stderr, /training odd on/, 'refused before training');
  }
  const three = {
    name: 'three',
    input: [1, 28, 28],
    classes: 3,
    layers: [{ kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 3 }],
  };
  writeFileSync(join(dir, 'three.json'), JSON.stringify(three));
  await cli(
    ['train', '--model', join(dir, 'three.json'), '--out', join(dir, 'three.safetensors'), '--limit', '64'],
    2,
    'has 3 classes, but',
  );
});

/**
 * digit's checkpoint of a run stopped at epoch 1, batch 3, with `change` applied to its metadata and the
 * metadata digest recomputed, as a deliberate editor would (`reseal: false` leaves the old digest).
 */
async function damagedCheckpoint(name: string, change: Record<string, string>, reseal = true): Promise<string> {
  const path = join(dir, name, 'digit.safetensors');
  const state = {
    ...initialState(initParameters(layout, 1)),
    batchInEpoch: 3,
    step: 3,
    epochSeen: 192,
    epochCorrect: 20,
    epochLossSum: 440,
  };
  await saveCheckpoint(path, { config, state, withOptimizer: true, run: { limit: '640', dataset: 'mnist' } });
  const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
  const edited = { ...metadata, ...change };
  writeFileSync(path, encodeSafetensors(Object.fromEntries(tensors), reseal ? sealMetadata(edited) : edited));
  return path;
}

test('finding 9: --resume checks checkpoint metadata by type and range, naming the file and the field', async () => {
  const cases: [Record<string, string>, RegExp][] = [
    [{ epoch: '1e9' }, /metadata epoch is "1e9", expected an integer in \[0, epochs = 2\]/],
    [{ epoch: '1000000000' }, /metadata epoch is "1000000000", expected an integer in \[0, epochs = 2\]/],
    [{ epoch_loss_sum: 'NaN' }, /metadata epoch_loss_sum is "NaN", expected a finite number >= 0/],
    [
      { epoch_correct: '312582190' },
      /metadata epoch_correct is "312582190", expected an integer in \[0, epoch_seen = 192\]/,
    ],
    [{ adam: '{"lr": 0.001,' }, /metadata adam is "\{\\"lr\\": 0\.001,", expected a JSON object/],
  ];
  for (const [index, [change, pattern]] of cases.entries()) {
    const path = await damagedCheckpoint(`damaged-${index}`, change);
    const r = await cli(
      ['train', '--resume', '--out', path, '--epochs', '2', '--limit', '640', '--no-test'],
      1,
      pattern,
    );
    assert.match(r.stderr, path);
  }
  const path = await damagedCheckpoint('damaged-batch', { batch_in_epoch: '1000000' });
  await cli(
    ['train', '--resume', '--out', path, '--epochs', '2', '--limit', '640', '--no-test'],
    2,
    /metadata says epoch 0, batch 1000000, step 3, which no run of 10 batches per epoch reaches/,
  );
});

test('finding 9: metadata edited without its digest is refused by every reader, naming the file', async () => {
  const path = await damagedCheckpoint('unsealed', { epoch: '1e9' }, false);
  for (
    const args of [
      ['train', '--resume', '--out', path, '--epochs', '2', '--limit', '640', '--no-test'],
      ['eval', '--checkpoint', path, '--limit', '64'],
    ]
  ) {
    const r = await cli(
      args,
      1,
      /metadata does not match its recorded SHA-256 \(metadata_sha256\); the file was edited or is damaged/,
    );
    assert.match(r.stderr, path);
  }
  // A checkpoint from before the digest (none recorded) still loads, its range checks still apply.
  const older = await damagedCheckpoint('older', { metadata_sha256: '' }, false);
  const { tensors, metadata } = decodeSafetensors(readFileSync(older), older);
  delete metadata.metadata_sha256;
  writeFileSync(older, encodeSafetensors(Object.fromEntries(tensors), metadata));
  assert.is(loadCheckpoint(older).metadata.epoch, '0');
});

test('a tune-cache entry whose tiles are each in range but illegal together: train says so and trains on the defaults', async () => {
  const cache = join(dir, 'tune-together.json');
  const gpu = await openGpu({ deviceClass: 'discrete-gpu' });
  try {
    // 128/1 x 128/1 = 16384 invocations per workgroup: every field within its range, no adapter runs it.
    const tiles = { tileM: 128, tileN: 128, tileK: 8, threadM: 1, threadN: 1 };
    const plan = { tuned: { 'conv2.forward': tiles }, tunedAt: '2026-12-07T00:00:00Z', seconds: 1, method: 'edited' };
    saveTuneCache(cache, tuneKeyOf(gpu), { 'digit/training/64': plan });
  } finally {
    await gpu.close();
  }
  const out = join(dir, 'tuned-together', 'digit.safetensors');
  const args = ['train', '--device-class', 'discrete-gpu', '--epochs', '1', '--limit', '640', '--no-test'];
  const r = await cli([...args, '--tune-cache', cache, '--out', out], 0);
  assert.match(
    r.stderr,
    `ignoring the tune cache's entry digit/training/64 in ${cache}: a kernel refuses its tiles (`,
  );
  assert.match(r.stderr, /must be at most \d+ invocations\); that plan uses the profile's defaults/);
  // Trained exactly as without the cache.
  const plain = join(dir, 'untuned', 'digit.safetensors');
  await cli([...args, '--tune-cache', join(dir, 'no-such-cache.json'), '--out', plain], 0);
  assert.is(loadCheckpoint(out).metadata.tensors_sha256, loadCheckpoint(plain).metadata.tensors_sha256);
});

test('finding 10: report refuses a log and a checkpoint of different runs', async () => {
  const log = join(dir, 'digit-run.jsonl');
  const header = {
    type: 'header',
    engine: 'webgpu-digits',
    version: '0.1.0',
    commit: null,
    runtime: 'node',
    runtime_version: '22',
    adapter: 'test',
    model: 'digit',
    parameters: 431080,
    dataset: { name: 'mnist', dir: '/d', train_images: 640, test_images: null, limit: 640 },
    settings: { batch_size: 64, seed: 1 },
    seed: 1,
    started: '2026-01-01T00:00:00Z',
    resumed_from_step: null,
  };
  writeFileSync(log, JSON.stringify(header) + '\n');
  const fastLayout = new ParameterLayout(parameterSpecs(FAST));
  const fast = join(dir, 'fast.safetensors');
  await saveCheckpoint(fast, {
    config: { ...config, model: FAST, seed: 3 },
    state: initialState(initParameters(fastLayout, 3)),
    withOptimizer: false,
  });
  await cli(
    ['report', '--log', log, '--checkpoint', fast, '--out', join(dir, 'mixed.html')],
    2,
    /are of different runs \(model digit in the log, fast in the checkpoint; seed 1 in the log, 3 in the checkpoint\)/,
  );
});

test('finding 14: a model of 200,000 layers or of 4096x4096x4096 inputs is refused at once with the cap', async () => {
  const many = {
    name: 'many',
    input: [1, 28, 28],
    classes: 10,
    layers: [{ kind: 'flatten' }, ...Array(200_000).fill({ kind: 'relu' }), {
      kind: 'linear',
      name: 'fc',
      outFeatures: 10,
    }],
  };
  writeFileSync(join(dir, 'many.json'), JSON.stringify(many));
  const started = Date.now();
  await cli(
    ['train', '--model', join(dir, 'many.json'), '--out', join(dir, 'many.safetensors')],
    2,
    'field "layers": 200002 layers, more than the 256 a model may have',
  );
  assert.ok(Date.now() - started < 15_000);
  const huge = {
    name: 'huge',
    input: [4096, 4096, 4096],
    classes: 10,
    layers: [{ kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 10 }],
  };
  writeFileSync(join(dir, 'huge.json'), JSON.stringify(huge));
  await cli(
    ['train', '--model', join(dir, 'huge.json'), '--out', join(dir, 'huge.safetensors')],
    2,
    /field "input": \[4096,4096,4096\] is 68719476736 values per image, more than the 67108864/,
  );
});

test('finding 14: SIGTERM while kernels compile ends train within two seconds, lock released', async () => {
  const out = join(dir, 'signal', 'digit.safetensors');
  let signalled = 0;
  const r = await runCli(['train', '--epochs', '1', '--limit', '640', '--no-test', '--out', out], {
    env,
    timeoutMs: 120_000,
    onStderr: (chunk) => {
      if (!signalled && chunk.includes('compiling kernels')) signalled = Date.now();
    },
    signalAfter: { pattern: /compiling kernels/, signal: 'SIGTERM' },
  });
  const took = Date.now() - signalled;
  assert.is(r.code, 143, r.stderr);
  assert.match(r.stderr, 'SIGTERM before the first step: exiting; nothing was trained in this run');
  // The bound leaves room for a loaded machine; before, the run went on to its first step and checkpoint.
  assert.ok(took < 5_000, `exited ${took} ms after SIGTERM`);
  assert.not.ok(existsSync(`${out}.lock`), 'the lock is released');
});

/** Starts `serve` on a free port and resolves with its URL and the child. */
function serve(checkpoint: string) {
  const [command, ...prefix] = cliCommand(thisRuntime);
  const child = spawn(command, [...prefix, 'serve', '--checkpoint', checkpoint, '--port', '0'], {
    cwd: repoRoot(),
    env: { ...process.env, ...env, NO_COLOR: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const url = new Promise<string>((resolve, reject) => {
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
  const exited = new Promise<string>((resolve) => child.on('exit', (code, signal) => resolve(`${code} ${signal}`)));
  return { child, url, exited };
}

test("finding 7: serve sends the checkpoint's own model_spec, and exits on SIGINT while a client holds a half-sent request", async () => {
  // A model named digit with other layers than the preset: the page must run these.
  const own: ModelSpec = {
    name: 'digit',
    input: [1, 28, 28],
    classes: 10,
    layers: [{ kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 10 }],
  };
  const path = join(dir, 'own-digit.safetensors');
  const ownLayout = new ParameterLayout(parameterSpecs(own));
  await saveCheckpoint(path, {
    config: { ...config, model: own },
    state: initialState(initParameters(ownLayout, 2)),
    withOptimizer: false,
  });
  const server = serve(path);
  try {
    const url = await server.url;
    const info = await (await fetch(`${url}model.json`)).json() as {
      model_spec: unknown;
      input: unknown;
      preprocessing: unknown;
      normalization: unknown;
    };
    assert.equal(info.model_spec, own);
    // An MNIST checkpoint: the page draws MNIST's digit and normalizes with MNIST's constants.
    assert.equal(info.input, [1, 28, 28]);
    assert.is(info.preprocessing, 'mnist-digit');
    assert.equal(info.normalization, { mean: [0.1307], std: [0.3081] });
    const page = await (await fetch(`${url}main.js`)).text();
    assert.match(page, 'model_spec', 'the page reads model_spec');
    // A request line without its end: the client holds the connection open.
    const { port, hostname } = new URL(url);
    const socket = connect(Number(port), hostname);
    await new Promise<void>((resolve) => socket.on('connect', () => resolve()));
    socket.write('GET / HTTP/1.1\r\nHost: x\r\n');
    socket.on('error', () => {});
    const sent = Date.now();
    server.child.kill('SIGINT');
    const code = await server.exited;
    assert.ok(Date.now() - sent < 3_000, `serve exited ${Date.now() - sent} ms after SIGINT`);
    // Deno's node:child_process reports an exit status above 128 as a signal (see helpers/cli.ts).
    assert.ok(code === '0 null' || (thisRuntime === 'deno' && code === 'null SIGINT'), code);
    socket.destroy();
  } finally {
    server.child.kill('SIGKILL');
  }
});

test('finding 12: serve --host "" is refused instead of listening on every interface', async () => {
  await cli(['serve', '--host', '', '--port', '0'], 2, '--host is empty; give an address');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
