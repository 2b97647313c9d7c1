// The tune cache (src/tune/cache.ts), without a GPU: where it lives, round trips, entries of another
// machine kept, a stale engine's entry and a damaged file ignored with a one-line notice, atomic writes.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  checkTuneCachePath,
  loadTuneCache,
  planKey,
  saveTuneCache,
  tuneCachePath,
  type TunedPlan,
  type TuneKey,
} from '../../src/tune/cache.ts';

const test = suite('tune cache');

const KEY: TuneKey = {
  adapter: 'mesa /  / llvmpipe / x',
  driver: 'llvmpipe via Dawn (Node)',
  runtime: 'node 20.19.0',
  engine: '0.1.0+abcdef01',
};
const PLAN: TunedPlan = {
  tuned: { 'fc1.forward': { rows: 8 } },
  tunedAt: '2026-01-01T00:00:00.000Z',
  seconds: 12.5,
  method: 'host-timing',
};

function withDir(body: (dir: string) => void): void {
  const dir = mkdtempSync(join(tmpdir(), 'tune-cache-'));
  try {
    body(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('path: the flag, else $WEBGPU_DIGITS_TUNE_CACHE, else $XDG_CACHE_HOME, else ~/.cache', () => {
  assert.is(tuneCachePath('/x/t.json', { WEBGPU_DIGITS_TUNE_CACHE: '/y.json' }), '/x/t.json');
  assert.is(tuneCachePath(undefined, { WEBGPU_DIGITS_TUNE_CACHE: '/y.json', XDG_CACHE_HOME: '/c' }), '/y.json');
  assert.is(tuneCachePath(undefined, { XDG_CACHE_HOME: '/c' }), join('/c', 'webgpu-digits', 'tune.json'));
  assert.is(tuneCachePath(undefined, { HOME: '/home/u' }), join('/home/u', '.cache', 'webgpu-digits', 'tune.json'));
});

test("round trip into a folder that does not exist yet; other machines' entries kept; no temporary file left", () =>
  withDir((dir) => {
    const path = join(dir, 'deep', 'tune.json');
    assert.equal(loadTuneCache(path, KEY), { plans: {} }, 'a missing file: no entry, no notice');
    const other = { ...KEY, adapter: 'nvidia / hopper / / H200' };
    saveTuneCache(path, other, { [planKey('digit', true, 64)]: PLAN });
    saveTuneCache(path, KEY, { [planKey('digit', true, 64)]: PLAN });
    saveTuneCache(path, KEY, { [planKey('digit', false, 1000)]: { ...PLAN, tuned: {} } });
    const found = loadTuneCache(path, KEY);
    assert.equal(Object.keys(found.plans).sort(), ['digit/forward/1000', 'digit/training/64']);
    assert.equal(found.plans['digit/training/64'], PLAN);
    assert.is(found.notice, undefined);
    assert.ok(loadTuneCache(path, other).plans['digit/training/64']);
    assert.equal(readdirSync(join(dir, 'deep')), ['tune.json']);
  }));

test('an entry of another engine version is stale: ignored with a one-line notice, replaced by the next save', () =>
  withDir((dir) => {
    const path = join(dir, 'tune.json');
    saveTuneCache(path, { ...KEY, engine: '0.0.9+00000000' }, { 'digit/training/64': PLAN });
    const found = loadTuneCache(path, KEY);
    assert.equal(found.plans, {});
    assert.match(found.notice!, /tuned for engine 0\.0\.9\+00000000, this is 0\.1\.0\+abcdef01/);
    assert.not.match(found.notice!, /\n/);
    saveTuneCache(path, KEY, { 'digit/training/64': PLAN });
    assert.is(JSON.parse(readFileSync(path, 'utf8')).entries.length, 1, 'the stale entry is dropped');
  }));

test('a damaged file is ignored with a one-line notice, and the next save rewrites it', () =>
  withDir((dir) => {
    const path = join(dir, 'tune.json');
    for (
      const text of [
        '{"format": "webgpu-digits tune ca',
        '[]',
        '{"format":"webgpu-digits tune cache","version":1,"entries":[{"key":{}}]}',
      ]
    ) {
      writeFileSync(path, text);
      const found = loadTuneCache(path, KEY);
      assert.equal(found.plans, {});
      assert.match(found.notice!, /damaged/);
      assert.not.match(found.notice!, /\n/);
    }
    saveTuneCache(path, KEY, { 'digit/training/64': PLAN });
    assert.equal(loadTuneCache(path, KEY).plans['digit/training/64'], PLAN);
  }));

test('an entry with tiles no kernel takes is ignored with a notice naming it; the legal ones are used', () =>
  withDir((dir) => {
    const path = join(dir, 'tune.json');
    const bad = (tuned: Record<string, Record<string, unknown>>) => ({ ...PLAN, tuned }) as unknown as TunedPlan;
    saveTuneCache(path, KEY, {
      [planKey('digit', true, 64)]: PLAN,
      [planKey('digit', true, 1)]: bad({ 'conv1.forward': { workgroup: 100000 } }),
      [planKey('digit', true, 2)]: bad({ 'conv1.forward': { channelBlock: 0 } }),
      [planKey('digit', true, 3)]: bad({ 'conv1.forward': { channelBlock: '64' } }),
      [planKey('digit', true, 4)]: bad({ 'conv1.forward': { toString: 1 } }),
    });
    const { plans, notice } = loadTuneCache(path, KEY);
    assert.equal(Object.keys(plans), [planKey('digit', true, 64)]);
    assert.match(
      notice!,
      `ignoring damaged entries of the tune cache ${path}: digit/training/1 (conv1.forward.workgroup is 100000`,
    );
    assert.match(notice!, 'digit/training/2 (conv1.forward.channelBlock is 0');
    assert.match(notice!, 'digit/training/3 (conv1.forward.channelBlock is "64"');
    assert.match(notice!, 'digit/training/4 (conv1.forward.toString is no tile field');
  }));

test('the cache path is checked before tuning: a directory or /proc is refused, a FIFO read gives a notice, not a hang', () =>
  withDir((dir) => {
    assert.throws(() => checkTuneCachePath(dir), /the tune cache .* is a directory/);
    assert.throws(
      () => checkTuneCachePath('/proc/webgpu-digits/tune.json'),
      /cannot create directory \/proc\/webgpu-digits/,
    );
    const fifo = join(dir, 'fifo.json');
    spawnSync('mkfifo', [fifo]);
    assert.throws(() => checkTuneCachePath(fifo), /is a named pipe/);
    assert.match(
      loadTuneCache(fifo, KEY).notice!,
      /ignoring the tune cache: Tune cache .*fifo\.json is a named pipe, not a file/,
    );
  }));

test.run();
