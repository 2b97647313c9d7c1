// --device-class (and $WEBGPU_DIGITS_DEVICE_CLASS, openGpu's deviceClass): plans for another class of
// device than the adapter is taken for. Checked before any work, shown by info, --plan and --verbose,
// recorded in --log's header and the checkpoint, and kept apart in the tune cache.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deviceClassOption, gpuOptions } from '../../src/cli/common.ts';
import { DeviceClassError, openGpu } from '../../src/gpu/device.ts';
import { DEVICE_CLASSES, deviceProfile } from '../../src/gpu/profile.ts';
import { openDevice } from '../../src/mod.ts';
import { planNetwork } from '../../src/nn/planner.ts';
import { DIGIT, FAST } from '../../src/nn/spec.ts';
import { peekMetadata } from '../../src/train/checkpoint.ts';
import { loadTuneCache, saveTuneCache, tuneKeyOf } from '../../src/tune/cache.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite(`cli/device-class (${thisRuntime})`);
const dir = mkdtempSync(join(tmpdir(), 'device-class-'));
const env = { MNIST_DIR: testMnistDir(), WEBGPU_DIGITS_TUNE_CACHE: join(dir, 'tune.json') };
const CLASSES = 'cpu-driver, integrated-gpu, discrete-gpu';

/** What a GPU-class plan runs every conv and linear node with (src/nn/planner.ts). */
const GPU_VARIANT: Record<string, string> = { conv2d: 'tiled-gemm', linear: 'tiled' };

test('--device-class and $WEBGPU_DIGITS_DEVICE_CLASS: the flag wins, an empty variable is unset, bad values are usage errors', () => {
  assert.is(deviceClassOption(undefined, {}), undefined);
  assert.is(deviceClassOption(undefined, { WEBGPU_DIGITS_DEVICE_CLASS: '' }), undefined);
  assert.is(deviceClassOption(undefined, { WEBGPU_DIGITS_DEVICE_CLASS: 'integrated-gpu' }), 'integrated-gpu');
  assert.is(deviceClassOption('cpu-driver', { WEBGPU_DIGITS_DEVICE_CLASS: 'discrete-gpu' }), 'cpu-driver');
  assert.equal(gpuOptions({ 'device-class': 'discrete-gpu' }, {}), { deviceClass: 'discrete-gpu' });
  assert.equal(gpuOptions({}, {}), {});
  assert.throws(
    () => deviceClassOption('gpu', {}),
    (e: Error) => e.name === 'UsageError' && e.message.includes(CLASSES),
  );
  assert.throws(
    () => deviceClassOption(undefined, { WEBGPU_DIGITS_DEVICE_CLASS: 'Discrete-GPU' }),
    (e: Error) =>
      e.name === 'UsageError' && /\$WEBGPU_DIGITS_DEVICE_CLASS .*discrete-gpu.*"Discrete-GPU"/.test(e.message),
  );
  assert.equal([...DEVICE_CLASSES], CLASSES.split(', '));
});

test("openGpu({ deviceClass }) overrides the adapter's class in the profile every plan is made from; a bad one is refused", async () => {
  const own = await openGpu();
  const detected = own.deviceClass;
  assert.is(own.detectedDeviceClass, detected);
  await own.close();
  for (const deviceClass of DEVICE_CLASSES) {
    const gpu = await openDevice({ deviceClass });
    try {
      assert.is(gpu.deviceClass, deviceClass);
      assert.is(gpu.detectedDeviceClass, detected, 'the adapter is still taken for what it is');
      const profile = deviceProfile(gpu);
      assert.is(profile.kind, deviceClass);
      const plan = planNetwork(DIGIT, { training: true, maxBatch: 64 }, profile);
      for (const node of plan.nodes.filter((n) => GPU_VARIANT[n.kind])) {
        assert.is(
          node.variant === GPU_VARIANT[node.kind],
          deviceClass !== 'cpu-driver',
          `${deviceClass}: ${node.name}`,
        );
      }
    } finally {
      await gpu.close();
    }
  }
  const refused = await openDevice({ deviceClass: 'gpu' as never }).then(() => null, (e: Error) => e);
  assert.ok(refused instanceof DeviceClassError, String(refused));
  assert.ok(refused.message.includes(CLASSES) && refused.message.includes('"gpu"'), refused.message);
});

test('the tune cache keeps one entry per device class: tiles tuned for one class are not used by another', async () => {
  const path = join(dir, 'classes.json');
  const cpu = await openGpu({ deviceClass: 'cpu-driver' });
  const gpu = await openGpu({ deviceClass: 'discrete-gpu' });
  try {
    const plan = {
      tuned: { 'fc1.forward': { tileM: 32 } },
      tunedAt: '2026-12-07T00:00:00Z',
      seconds: 1,
      method: 'forced',
    };
    saveTuneCache(path, tuneKeyOf(gpu), { 'digit/training/64': plan });
    assert.equal(loadTuneCache(path, tuneKeyOf(gpu)).plans['digit/training/64'], plan);
    assert.equal(loadTuneCache(path, tuneKeyOf(cpu)).plans, {});
  } finally {
    await cpu.close();
    await gpu.close();
  }
});

test("info --device-class discrete-gpu: the class, the adapter's own, and GPU-class variants for every conv and linear node", async () => {
  const json = await runCli(['info', '--json', '--device-class', 'discrete-gpu'], { env });
  assert.is(json.code, 0, json.stderr);
  const report = JSON.parse(json.stdout);
  assert.equal(report.deviceClass.planned, 'discrete-gpu');
  assert.ok(DEVICE_CLASSES.includes(report.deviceClass.detected));
  assert.is(report.deviceClass.chosen, true);
  assert.is(report.plans.length, 2);
  for (const plan of report.plans) {
    const nodes = plan.nodes.filter((n: { kind: string }) => GPU_VARIANT[n.kind]);
    assert.is(nodes.length, 4, plan.plan);
    for (const node of nodes) {
      assert.is(node.variant, GPU_VARIANT[node.kind], `${plan.plan}: ${node.name}`);
      if (node.kind === 'linear' && /training/.test(plan.plan)) assert.is(node.weightGradient, 'tiled', node.name);
    }
  }
  const text = await runCli(['info'], { env: { ...env, WEBGPU_DIGITS_DEVICE_CLASS: 'integrated-gpu' } });
  assert.is(text.code, 0, text.stderr);
  assert.match(
    text.stdout,
    /^class +integrated-gpu \(chosen with --device-class or \$WEBGPU_DIGITS_DEVICE_CLASS; the adapter is taken for a /m,
  );
  assert.match(
    text.stdout,
    /^plans +digit training, batch 64: conv1 tiled-gemm, maxpool2d#1 buffer, conv2 tiled-gemm, flatten#1 view, fc1 tiled \(weight gradient tiled\), fc2 tiled/m,
  );
});

test('train --plan and eval --plan with --device-class discrete-gpu: every conv and linear node is tiled', async () => {
  const text = await runCli(['train', '--plan', '--model', 'fast', '--device-class', 'discrete-gpu'], { env });
  assert.is(text.code, 0, text.stderr);
  assert.match(text.stdout, /^device class: discrete-gpu \(chosen; the adapter is taken for a /m);
  assert.match(text.stdout, /plan for fast: training, batches up to 64, discrete-gpu/);
  const json = await runCli(['train', '--plan', '--json', '--model', 'fast', '--device-class', 'discrete-gpu'], {
    env,
  });
  assert.is(json.code, 0, json.stderr);
  const plans = json.stdout.trim().split('\n').map((line) => JSON.parse(line).plan);
  assert.equal(plans.map((p) => p.training), [true, false]);
  for (const plan of plans) {
    assert.is(plan.device.kind, 'discrete-gpu');
    const nodes = plan.nodes.filter((n: { kind: string }) => GPU_VARIANT[n.kind]);
    assert.is(nodes.length, FAST.layers.filter((l) => GPU_VARIANT[l.kind]).length);
    for (const node of nodes) assert.is(node.variant, GPU_VARIANT[node.kind], node.name);
  }
});

test('an unknown class is refused by every command that takes it, with the list of classes, before any work', async () => {
  for (const command of ['train', 'eval', 'tune', 'info']) {
    const r = await runCli([command, '--device-class', 'gpu'], { env });
    assert.is(r.code, 2, `${command}: ${r.stderr}`);
    assert.match(r.stderr, `--device-class must be one of ${CLASSES}, got "gpu"`);
    const help = await runCli([command, '--help']);
    assert.match(help.stdout, /--device-class cpu-driver\|integrated-gpu\|discrete-gpu/, `${command} --help`);
  }
  const fromEnv = await runCli(['train', '--plan'], { env: { ...env, WEBGPU_DIGITS_DEVICE_CLASS: 'tpu' } });
  assert.is(fromEnv.code, 2, fromEnv.stderr);
  assert.match(fromEnv.stderr, `$WEBGPU_DIGITS_DEVICE_CLASS must be one of ${CLASSES}, got "tpu"`);
});

test("train --device-class: --verbose prints it, --log's header and the checkpoint record it", async () => {
  const out = join(dir, 'ck', 'digit.safetensors');
  const log = join(dir, 'digit.jsonl');
  const r = await runCli([
    'train',
    '--epochs',
    '1',
    '--limit',
    '128',
    '--no-test',
    '--verbose',
    '--device-class',
    'discrete-gpu',
    '--log',
    log,
    '--out',
    out,
  ], { env, timeoutMs: 300_000 });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stderr, /^device class: discrete-gpu \(chosen; the adapter is taken for a /m);
  assert.match(r.stderr, /tile configurations: the discrete-gpu profile's defaults/);
  assert.is(peekMetadata(out)?.device_class, 'discrete-gpu');
  const header = JSON.parse(readFileSync(log, 'utf8').split('\n')[0]);
  assert.is(header.type, 'header');
  assert.is(header.device_class, 'discrete-gpu');
  assert.ok(DEVICE_CLASSES.includes(header.detected_device_class));

  const plain = join(dir, 'ck', 'plain.safetensors');
  const p = await runCli(['train', '--epochs', '1', '--limit', '64', '--no-test', '--out', plain], {
    env,
    timeoutMs: 300_000,
  });
  assert.is(p.code, 0, p.stderr);
  assert.is(peekMetadata(plain)?.device_class, header.detected_device_class, "without the flag, the adapter's class");
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
