// Every command's normal run, under this runtime, prints nothing from the GPU driver or the WebGPU
// implementation on stderr (issue: Dawn's "Warning: ... artificially reduced" on every Node command),
// and `info` reports the runtime, the adapter and the data as they are. stderr is a pipe, as a shell
// gives it; src/gpu/quiet-stderr.ts says which kinds of stderr can be muted.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { driverNoise, runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`cli (${thisRuntime}): quiet output, info`);
const dir = mkdtempSync(join(tmpdir(), 'quiet-'));
const env = { MNIST_DIR: testMnistDir() };
const checkpoint = join(dir, 'nested', 'digit.safetensors');

const quiet = (what: string, stderr: string) =>
  assert.equal(driverNoise(stderr), [], `${what}: driver lines on stderr:\n${stderr}`);

test('train: compile time as its own figure, then training; nothing from the driver', async () => {
  const r = await runCli(['train', '--epochs', '1', '--limit', '640', '--out', checkpoint], { env, stderrPipe: true });
  assert.is(r.code, 0, r.stderr);
  quiet('train', r.stderr);
  const lines = r.stderr.split('\n');
  const compiled = lines.findIndex((l) =>
    /^(compiled \d+ kernels in [\d.]+ s|kernels ready \(cached\) in [\d.]+ s)$/.test(l)
  );
  const epoch = lines.findIndex((l) => l.startsWith('epoch 1/1 '));
  assert.ok(compiled >= 0, `a compile line:\n${r.stderr}`);
  assert.ok(epoch > compiled, 'compiled before the first epoch reports');
  assert.ok(existsSync(checkpoint), 'the checkpoint, its folder created');
});

test('train --json: a "compiled" event before any progress', async () => {
  const r = await runCli([
    'train',
    '--epochs',
    '1',
    '--limit',
    '128',
    '--no-test',
    '--json',
    '--out',
    join(dir, 'json.safetensors'),
  ], { env, stderrPipe: true });
  assert.is(r.code, 0, r.stderr);
  quiet('train --json', r.stderr);
  const events = r.stdout.trim().split('\n').map((l) => JSON.parse(l));
  const compiled = events.findIndex((e) => e.event === 'compiled');
  assert.ok(
    compiled > 0 && events[compiled].kernels >= 0 && events[compiled].seconds > 0,
    JSON.stringify(events[compiled]),
  );
  assert.ok(events.findIndex((e) => e.event === 'progress' || e.event === 'epoch') > compiled);
});

test('eval: compile reported apart from throughput; nothing from the driver', async () => {
  const r = await runCli(['eval', '--checkpoint', checkpoint], { env, stderrPipe: true });
  assert.is(r.code, 0, r.stderr);
  quiet('eval', r.stderr);
  assert.match(r.stderr, /^(compiled \d+ kernels|kernels ready \(cached\)) in [\d.]+ s$/m);
  const json = await runCli(['eval', '--checkpoint', checkpoint, '--json'], { env, stderrPipe: true });
  assert.is(json.code, 0, json.stderr);
  quiet('eval --json', json.stderr);
  const report = JSON.parse(json.stdout);
  assert.ok(report.compile_seconds > 0 && report.seconds > 0, 'compile and evaluation timed apart');
});

test('show and predict: nothing from the driver', async () => {
  const shown = await runCli([
    'show',
    '--split',
    'test',
    '--index',
    '0',
    '--no-art',
    '--out-dir',
    join(dir, 'new', 'digits'),
  ], { env, stderrPipe: true });
  assert.is(shown.code, 0, shown.stderr);
  quiet('show', shown.stderr);
  const png = join(dir, 'new', 'digits', 'test-0-label7.png');
  const predicted = await runCli(['predict', '--checkpoint', checkpoint, png], { env, stderrPipe: true });
  assert.is(predicted.code, 0, predicted.stderr);
  quiet('predict', predicted.stderr);
  assert.match(predicted.stdout, /test-0-label7\.png: \d/);
});

test('info --json: runtime, adapter, the limits the engine asks for, data verified; exit 0', async () => {
  const r = await runCli(['info', '--json'], { env, stderrPipe: true });
  assert.is(r.code, 0, r.stderr);
  quiet('info', r.stderr);
  const info = JSON.parse(r.stdout);
  assert.is(info.runtime.name, thisRuntime);
  assert.ok(info.adapter && typeof info.adapter.name === 'string', 'an adapter');
  assert.type(info.adapter.cpuDriver, 'boolean');
  assert.ok(info.limits.maxStorageBufferBindingSize > 0 && info.limits.maxComputeInvocationsPerWorkgroup > 0);
  assert.equal(info.data.splits.map((s: { status: string; images: number }) => [s.status, s.images]), [[
    'verified',
    60000,
  ], ['verified', 10000]]);
  assert.is(info.data.from, '$MNIST_DIR');
  assert.type(info.checkpoint.path, 'string');
});

test('info: a data folder without the files says which are missing and what to do', async () => {
  const empty = join(dir, 'empty');
  const r = await runCli(['info', '--data', empty], { env, stderrPipe: true });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /train: missing — train-images-idx3-ubyte\(\.gz\), train-labels-idx1-ubyte\(\.gz\) not there/);
  assert.match(r.stdout, /download missing files on first use/);
  assert.match(r.stdout, /^runtime\s+(node|deno) /m);
  assert.match(r.stdout, /^shaders\s+/m);
  assert.not.ok(existsSync(empty), 'info creates nothing');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
