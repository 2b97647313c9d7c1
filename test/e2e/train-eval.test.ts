// End to end, as a user runs it: train `digit` for one full epoch on the real 60,000 images under
// this runtime, then evaluate the checkpoint under the other runtime. Slow on a CPU driver, so it
// runs only with E2E=1 (.ci/run sets it).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { otherRuntime, runCli, thisRuntime } from '../helpers/cli.ts';
import { testMnistDir } from '../helpers/mnist.ts';
import { hasTorch, runPytorchDigit } from '../../bench/pytorch.ts';
import { skip } from '../helpers/skip.ts';

const test = suite(`e2e: train under ${thisRuntime}, evaluate under ${otherRuntime}`);
const dir = mkdtempSync(join(tmpdir(), 'e2e-'));
const env = { MNIST_DIR: testMnistDir() };
const lines = (text: string) => text.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l));

let evaluatedReport: { correct: number; mean_loss: number } | undefined;

if (process.env.E2E === '1') {
  test('one epoch reaches >= 97% test accuracy, and the other runtime evaluates the checkpoint identically', async () => {
    const checkpoint = join(dir, 'digit.safetensors');
    const trained = await runCli(['train', '--epochs', '1', '--json', '--out', checkpoint], {
      env,
      timeoutMs: 40 * 60_000,
    });
    assert.is(trained.code, 0, trained.stderr);
    const events = lines(trained.stdout);
    const epoch = events.find((e) => e.event === 'epoch');
    assert.ok(epoch, 'an epoch event');
    console.log(
      `\n    ${thisRuntime}: epoch 1 test accuracy ${(100 * epoch.test_accuracy).toFixed(2)}%, ${
        epoch.images_per_second.toFixed(0)
      } img/s`,
    );
    assert.ok(epoch.test_accuracy >= 0.97, `test accuracy ${epoch.test_accuracy}`);

    const evaluated = await runCli(['eval', '--checkpoint', checkpoint, '--json'], {
      env,
      runtime: otherRuntime,
      timeoutMs: 10 * 60_000,
    });
    assert.is(evaluated.code, 0, evaluated.stderr);
    const report = lines(evaluated.stdout)[0];
    console.log(
      `    ${otherRuntime}: eval accuracy ${(100 * report.accuracy).toFixed(2)}%, ${
        report.images_per_second.toFixed(0)
      } img/s`,
    );
    assert.is(report.count, 10000);
    assert.is(report.accuracy, epoch.test_accuracy, 'same accuracy under both runtimes');

    evaluatedReport = report;
  });

  // Where PyTorch is installed (.ci/run installs it; the project itself never needs it), the reference
  // model loads that checkpoint with load_state_dict(strict=True) and must find the same accuracy and mean loss.
  test('PyTorch loads the checkpoint and classifies the test set as eval does', () => {
    if (!hasTorch()) {
      return skip('the PyTorch cross-check needs python3 with torch: apt-get install python3-torch', {
        requiredInCi: true,
      });
    }
    const report = evaluatedReport;
    if (!report) throw new Error('no checkpoint to check: the training test above failed');
    const checkpoint = join(dir, 'digit.safetensors');
    const checked = runPytorchDigit<{ correct: number; accuracy: number; mean_loss: number }>(
      ['--check', checkpoint, '--data', env.MNIST_DIR],
    );
    if (!checked.ok) {
      assert.unreachable(`pytorch_digit.py --check failed: ${checked.error}`);
      return;
    }
    const torch = checked.value;
    console.log(
      `    PyTorch load_state_dict: accuracy ${(100 * torch.accuracy).toFixed(2)}%, mean loss ${torch.mean_loss}`,
    );
    assert.is(torch.correct, report.correct, 'PyTorch classifies the test set as we do');
    assert.ok(
      Math.abs(torch.mean_loss - report.mean_loss) < 1e-5,
      `mean loss ${torch.mean_loss} vs ${report.mean_loss}`,
    );
  });
}

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
