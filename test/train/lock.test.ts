// The exclusive lock on a checkpoint path: one writer at a time, stale locks of dead processes (or a
// reused PID) taken over, foreign and unreadable locks refused with what to do.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { FileError } from '../../src/io/files.ts';
import { CheckpointLock, LockError } from '../../src/train/lock.ts';
import { assertThrows } from '../helpers/compare.ts';

const test = suite('checkpoint lock');
const dir = mkdtempSync(join(tmpdir(), 'lock-test-'));

const expectLockError = (fn: () => unknown, pattern: RegExp) => assertThrows(fn, LockError, pattern);

test('one holder at a time; the lock names PID and host; released, it can be taken again', () => {
  const path = join(dir, 'sub', 'a.safetensors');
  const lock = CheckpointLock.acquire(path);
  const owner = JSON.parse(readFileSync(`${path}.lock`, 'utf8'));
  assert.is(owner.pid, process.pid);
  assert.is(owner.host, hostname());
  expectLockError(
    () => CheckpointLock.acquire(path),
    new RegExp(`a\\.safetensors is being written by another training run \\(PID ${process.pid}, started`),
  );
  lock.release();
  assert.not.ok(existsSync(`${path}.lock`));
  CheckpointLock.acquire(path).release();
});

test('a lock left by a dead process, or by a PID now used by another process, is taken over', () => {
  const path = join(dir, 'stale.safetensors');
  const child = spawnSync(process.execPath, ['--version']);
  const deadPid = child.pid!;
  writeFileSync(`${path}.lock`, JSON.stringify({ pid: deadPid, host: hostname(), started: 'then', command: 'train' }));
  const lock = CheckpointLock.acquire(path);
  assert.is(JSON.parse(readFileSync(`${path}.lock`, 'utf8')).pid, process.pid);
  lock.release();
  if (existsSync('/proc/self/stat')) {
    writeFileSync(
      `${path}.lock`,
      JSON.stringify({ pid: process.pid, pidStart: '1', host: hostname(), started: 'then', command: 'train' }),
    );
    CheckpointLock.acquire(path).release();
  }
});

test('a lock from another host, or one that cannot be read, is refused with what to do', () => {
  const path = join(dir, 'foreign.safetensors');
  writeFileSync(
    `${path}.lock`,
    JSON.stringify({ pid: 1, host: 'elsewhere', started: 'then', command: 'train --epochs 3' }),
  );
  expectLockError(
    () => CheckpointLock.acquire(path),
    /PID 1 on host elsewhere, started then: train --epochs 3\)\. .*If that run is gone, delete .*foreign\.safetensors\.lock/,
  );
  writeFileSync(`${path}.lock`, 'garbage');
  expectLockError(() => CheckpointLock.acquire(path), /does not say who holds it/);
});

test('a place that cannot be written is a FileError naming it', () => {
  try {
    CheckpointLock.acquire('/proc/webgpu-digits/x.safetensors');
    assert.unreachable('locked under /proc');
  } catch (err) {
    assert.instance(err, FileError);
    assert.match((err as Error).message, /\/proc\/webgpu-digits/);
  }
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
