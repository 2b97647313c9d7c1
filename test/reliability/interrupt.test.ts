// Interruptions provoked for real on a child process: Ctrl-C / SIGTERM write a checkpoint that
// resumes bit-identically; SIGKILL (even during a checkpoint write) never leaves a bad checkpoint.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadCheckpoint, optimizerPath } from '../../src/train/checkpoint.ts';
import { runCli } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';

const test = suite('reliability: interruptions');
const dir = mkdtempSync(join(tmpdir(), 'interrupt-'));
const env = { MNIST_DIR: testMnistDir() };
// 1280 images = 20 steps per epoch; two epochs; no test-set pass, to stay quick.
const base = ['train', '--limit', '1280', '--epochs', '2', '--no-test', '--seed', '11', '--json'];

let reference: { weights: Buffer; adam: Buffer } | undefined;
async function uninterrupted() {
  if (!reference) {
    const out = join(dir, 'reference.safetensors');
    const r = await runCli([...base, '--out', out], { env });
    assert.is(r.code, 0, r.stderr);
    reference = { weights: readFileSync(out), adam: readFileSync(optimizerPath(out)) };
  }
  return reference;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  test(`${signal} mid-epoch: checkpoint written, exit non-zero, --resume ends bit-identical`, async () => {
    const out = join(dir, `${signal}.safetensors`);
    // The first progress line comes after the first stats readback (16 steps): interrupt then.
    const stopped = await runCli([...base, '--out', out], { env, signalAfter: { pattern: /"event":"progress"/, signal } });
    assert.is(stopped.code, signal === 'SIGINT' ? 130 : 143, `exit code ${stopped.code}: ${stopped.stderr}`);
    assert.match(stopped.stderr, /--resume/);
    const interruptedAt = loadCheckpoint(out, { withOptimizer: true });
    assert.ok(Number(interruptedAt.metadata.step) < 40, 'stopped before the end');

    const resumed = await runCli([...base, '--out', out, '--resume'], { env });
    assert.is(resumed.code, 0, resumed.stderr);
    const ref = await uninterrupted();
    assert.ok(readFileSync(out).equals(ref.weights), 'weights file identical to the uninterrupted run');
    assert.ok(readFileSync(optimizerPath(out)).equals(ref.adam), 'optimizer file identical to the uninterrupted run');
  });
}

test('SIGKILL at random moments never leaves a checkpoint that loads wrongly', async () => {
  const out = join(dir, 'killed.safetensors');
  for (let attempt = 0; attempt < 3; attempt++) {
    // --checkpoint-every 1 keeps a write in progress most of the time, so the kill often lands inside one.
    const killed = await runCli([...base, '--out', out, '--checkpoint-every', '1'], {
      env, signalAfter: { pattern: new RegExp(`"step":${3 + 4 * attempt},`), signal: 'SIGKILL' },
    });
    assert.ok(killed.signal === 'SIGKILL' || killed.code === 137, `killed: ${killed.signal} ${killed.code}`);
    assert.ok(existsSync(out), 'a checkpoint exists');
    const loaded = loadCheckpoint(out, { withOptimizer: true });
    assert.ok(Number(loaded.metadata.step) >= 3 + 4 * attempt);
    assert.ok(loaded.params.every(Number.isFinite));
  }
  // Leftover temp files are never mistaken for checkpoints; the next run still works.
  const names = readdirSync(dir).filter((n) => n.startsWith('killed'));
  assert.ok(names.includes('killed.safetensors') && names.includes('killed.adam.safetensors'), names.join(', '));
  const resumed = await runCli([...base, '--out', out, '--resume'], { env });
  assert.is(resumed.code, 0, resumed.stderr);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
