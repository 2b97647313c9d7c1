// The command-line tool as a user runs it: help, usage errors (exit 2, nothing written), data display.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import process from 'node:process';
import { runCli, thisRuntime } from '../helpers/cli.ts';
import { repoRoot } from '../helpers/mnist.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite('cli');
const dir = mkdtempSync(join(tmpdir(), 'cli-test-'));
const env = { MNIST_DIR: testMnistDir() };

test('help lists the commands; each command has --help', async () => {
  const top = await runCli(['--help']);
  assert.is(top.code, 0);
  for (const command of ['train', 'eval', 'predict', 'show']) assert.match(top.stdout, command);
  for (const command of ['train', 'eval', 'predict', 'show']) {
    const r = await runCli([command, '--help']);
    assert.is(r.code, 0, `${command} --help: ${r.stderr}`);
    assert.match(r.stdout, `Usage: ${command}`);
  }
});

for (const [args, message] of [
  [['frobnicate'], /Unknown command "frobnicate"/],
  [['train', '--batch-size', '0'], /--batch-size must be a decimal integer in \[1, 60000\], got "0"/],
  [['train', '--lr', '0'], /--lr must be a positive decimal number/],
  [['train', '--epochs', 'ten'], /--epochs must be a decimal integer/],
  [['train', '--bogus'], /Unknown option '--bogus'/],
  [['eval', '--split', 'validation'], /--split must be one of test, train/],
  [['predict'], /give at least one PNG file/],
  [['show', '--index', '5-2'], /runs backwards/],
] as const) {
  test(`usage error: ${args.join(' ')} -> exit 2, nothing written`, async () => {
    const out = join(dir, 'usage.safetensors');
    const r = await runCli([...args, ...(args[0] === 'train' ? ['--out', out] : [])], { env });
    assert.is(r.code, 2, r.stderr);
    assert.match(r.stderr, message);
    assert.not.ok(existsSync(out));
  });
}

// `npm ci` links the npm package's Deno binary as node_modules/.bin/deno, which deno task would take
// for a JavaScript bin and fail to parse; the tasks therefore start Deno through `env` (see deno.json).
test('deno task runs the CLI with the Deno that npm ci installs', () => {
  const root = repoRoot();
  const deno = thisRuntime === 'deno' ? process.execPath : join(root, 'node_modules', '.bin', 'deno');
  const result = spawnSync(deno, ['task', 'show', '--help'], { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  assert.is(result.status, 0, `deno task show --help exited ${result.status}: ${result.stderr}`);
  assert.match(result.stdout, /Usage: show/);
});

test('eval without a checkpoint says where it looked and what to do', async () => {
  const r = await runCli(['eval', '--checkpoint', join(dir, 'none.safetensors')], { env });
  assert.is(r.code, 1);
  assert.match(r.stderr, /none\.safetensors does not exist\. Train first/);
});

test('show prints the first training digits with labels and writes PNGs', async () => {
  const out = join(dir, 'png');
  const r = await runCli(['show', '--index', '0-2', '--out-dir', out], { env });
  assert.is(r.code, 0, r.stderr);
  assert.match(r.stdout, /train #0: label 5/);
  assert.match(r.stdout, /train #2: label 4/);
  assert.equal(readdirSync(out).sort(), ['train-0-label5.png', 'train-1-label0.png', 'train-2-label4.png']);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
