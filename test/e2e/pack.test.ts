// The package as a user installs it: `npm pack`, then `npm install <tarball>` into an empty folder
// (offline where npm's cache has the dependencies), then the installed CLI trains one epoch on 640
// images and the example program, importing 'webgpu-digits' from that folder's node_modules, runs
// under this runtime. Only with E2E=1 (.ci/run sets it): packing and installing take a while.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { thisRuntime } from '../helpers/cli.ts';
import { repoRoot, testMnistDir } from '../helpers/mnist.ts';

const test = suite(`e2e: packed tarball installed and run under ${thisRuntime}`);

if (process.env.E2E === '1') {
  test('npm pack, npm install into an empty folder, webgpu-digits train --epochs 1 --limit 640, the example', () => {
    const root = repoRoot();
    const dir = mkdtempSync(join(tmpdir(), 'pack-'));
    const env = {
      ...process.env,
      MNIST_DIR: testMnistDir(),
      NO_COLOR: '1',
      npm_config_audit: 'false',
      npm_config_fund: 'false',
    };
    const sh = (argv: string[], cwd: string, timeout = 600_000) => {
      const r = spawnSync(argv[0], argv.slice(1), { cwd, env, encoding: 'utf8', timeout });
      assert.is(r.status, 0, `${argv.join(' ')}\n${r.stdout}\n${r.stderr}`);
      return r.stdout;
    };
    try {
      // dist/ is built before the tests (npm run build); --ignore-scripts skips prepack's rebuild.
      sh(['npm', 'pack', '--ignore-scripts', '--pack-destination', dir], root);
      const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
      const app = join(dir, 'app');
      sh(['mkdir', app], dir);
      writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
      sh(['npm', 'install', '--prefer-offline', '--no-audit', '--no-fund', join(dir, tarball)], app);
      const installed = join(app, 'node_modules', 'webgpu-digits');
      assert.ok(existsSync(join(installed, 'dist', 'mod.d.ts')), 'declarations shipped');
      assert.not.ok(existsSync(join(installed, 'src')), 'sources stay out of the package');

      const cli = thisRuntime === 'deno'
        ? [process.execPath, 'run', '-A', join(installed, 'dist', 'cli.js')]
        : [join(app, 'node_modules', '.bin', 'webgpu-digits')];
      const trained = sh([...cli, 'train', '--epochs', '1', '--limit', '640', '--json'], app);
      const epoch = trained.trim().split('\n').map((l) => JSON.parse(l)).find((e) => e.event === 'epoch');
      assert.ok(epoch && epoch.test_accuracy > 0.5, trained);
      assert.ok(
        existsSync(join(app, 'data', 'checkpoints', 'digit.safetensors')),
        'checkpoint in the working directory',
      );
      console.log(
        `\n    installed CLI (${thisRuntime}): 640 images, test accuracy ${(100 * epoch.test_accuracy).toFixed(2)}%`,
      );

      // The example as a user would copy it: Deno runs the shipped .ts, Node the compiled copy.
      const example = thisRuntime === 'deno' ? join(app, 'tiny-cnn.ts') : join(app, 'tiny-cnn.js');
      copyFileSync(
        thisRuntime === 'deno'
          ? join(installed, 'examples', 'tiny-cnn.ts')
          : join(root, 'build', 'examples', 'tiny-cnn.js'),
        example,
      );
      const ran = spawnSync(
        thisRuntime === 'deno' ? process.execPath : 'node',
        thisRuntime === 'deno' ? ['run', '-A', example] : [example],
        { cwd: app, env: { ...env, LIMIT: '320' }, encoding: 'utf8', timeout: 600_000 },
      );
      assert.is(ran.status, 0, `${ran.stdout}\n${ran.stderr}`);
      assert.match(ran.stdout, /test accuracy [\d.]+% on 320 images/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
}

test.run();
