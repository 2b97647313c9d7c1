// --adapter N|NAME and --power-preference: accepted by every command that opens a device, checked
// before any work, and info lists the adapters they select from.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { listAdapters, openGpu } from '../../src/gpu/device.ts';
import { runCli, thisRuntime } from '../helpers/cli.ts';

const test = suite(`cli/device (${thisRuntime})`);

test('listAdapters finds the adapter openGpu opens; --adapter by number and by part of the name select it', async () => {
  const adapters = await listAdapters();
  assert.ok(adapters.length >= 1, 'at least one adapter');
  const gpu = await openGpu({ adapter: 0, powerPreference: 'low-power' });
  await gpu.close();
  const word = adapters[0].name.split(/\W+/).find((w) => w.length >= 3)!;
  const byName = await openGpu({ adapter: word.toUpperCase() });
  await byName.close();
});

test('info lists the adapters; a bad --adapter fails naming them; a bad --power-preference is a usage error', async () => {
  const info = await runCli(['info', '--json', '--adapter', '0', '--power-preference', 'high-performance']);
  assert.is(info.code, 0, info.stderr);
  const report = JSON.parse(info.stdout);
  assert.ok(report.adapters.length >= 1);
  assert.is(report.adapters[0].index, 0);

  const missing = await runCli(['eval', '--adapter', 'no-such-gpu', '--checkpoint', '/nonexistent/x.safetensors']);
  assert.is(missing.code, 1); // the checkpoint is checked first
  const none = await runCli(['info', '--adapter', 'no-such-gpu']);
  assert.is(none.code, 1);
  assert.match(none.stdout, /No adapter "no-such-gpu" on (node|deno); adapters: 0: /);
  if (thisRuntime === 'deno') assert.match(none.stdout, /selects adapters only by powerPreference/);

  const bad = await runCli(['train', '--power-preference', 'fastest']);
  assert.is(bad.code, 2);
  assert.match(bad.stderr, /--power-preference must be one of low-power, high-performance, got "fastest"/);
  for (const command of ['train', 'eval', 'predict', 'show', 'report', 'info']) {
    const help = await runCli([command, '--help']);
    assert.match(help.stdout, /--adapter N\|NAME/, `${command} --help`);
  }
});

test.run();
