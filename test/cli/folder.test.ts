// The commands' side of --dataset folder that needs no GPU: info's report, and refusals before training.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { encodePng } from '../../src/io/png.ts';
import { runCli } from '../helpers/cli.ts';

const test = suite('cli: --dataset folder');
const dir = mkdtempSync(join(tmpdir(), 'cli-folder-'));
const pictures = join(dir, 'pictures');
for (const [name, count] of [['apples', 3], ['pears', 2]] as const) {
  mkdirSync(join(pictures, name), { recursive: true });
  for (let i = 0; i < count; i++) {
    const channels = i === 0 ? 1 : 3;
    const picture = {
      width: 12 + i,
      height: 10,
      channels,
      pixels: new Uint8Array((12 + i) * 10 * channels).fill(40 * i),
    } as const;
    writeFileSync(join(pictures, name, `${i}.png`), encodePng(picture));
  }
}
writeFileSync(join(pictures, 'README.txt'), 'not a class');
const env = { XDG_CACHE_HOME: join(dir, 'cache') };

test('info --dataset folder: classes, counts, sizes, channels, no cache yet', async () => {
  const result = await runCli(['info', '--dataset', 'folder', '--data', pictures], { env });
  assert.is(result.code, 0, result.stderr);
  assert.match(result.stdout, /2 classes, 5 pictures, 12x10 to 14x10, 3 in color, 2 gray, 1 other files ignored/);
  assert.match(result.stdout, /apples\s+3/);
  assert.match(result.stdout, /pears\s+2/);
  assert.match(result.stdout, /cache: none yet/);
  const json = await runCli(['info', '--dataset', 'folder', '--data', pictures, '--json'], { env });
  const report = JSON.parse(json.stdout);
  assert.equal(report.parts[0].counts, [3, 2]);
});

test('train --dataset folder refuses a model with another class count, naming the folder, before any GPU work', async () => {
  const result = await runCli([
    'train',
    '--dataset',
    'folder',
    '--data',
    pictures,
    '--out',
    join(dir, 'ck', 'd.safetensors'),
  ], { env });
  assert.is(result.code, 2, result.stderr);
  assert.match(
    result.stderr,
    /has 2 class folders \(apples, pears\), model digit has 10 outputs: use a model file with "classes": 2/,
  );
  const noData = await runCli(['train', '--dataset', 'folder', '--out', join(dir, 'ck', 'e.safetensors')], { env });
  assert.match(noData.stderr, /--dataset folder needs --data DIR/);
  const fraction = await runCli(['train', '--test-fraction', '0.2', '--out', join(dir, 'ck', 'f.safetensors')], {
    env,
  });
  assert.match(fraction.stderr, /--test-fraction and --skip-bad-files go with --dataset folder/);
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
