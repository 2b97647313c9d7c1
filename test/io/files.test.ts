// File-system helpers: directories created level by level (never a hang under /proc), atomic writes
// whose errors name the path (ENOSPC included), stale temporary files recognised and removed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { spawnSync } from 'node:child_process';
import { lstatSync, mkdirSync, mkdtempSync, readdirSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { extname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import {
  ensureDir,
  FileError,
  isTempFileOf,
  readRegularFile,
  removeStaleTempFiles,
  writeFileAtomicSync,
} from '../../src/io/files.ts';
import { checkWriteTarget, WriteTargetError } from '../../src/io/write-target.ts';
import { repoRoot } from '../helpers/mnist.ts';
import { assertThrows } from '../helpers/compare.ts';
import { skip } from '../helpers/skip.ts';

const test = suite('files');
const dir = mkdtempSync(join(tmpdir(), 'files-test-'));

const expectFileError = (fn: () => unknown, pattern: RegExp) => assertThrows(fn, FileError, pattern);

test('ensureDir creates missing levels, accepts existing ones, names a file in the way', () => {
  ensureDir(join(dir, 'a', 'b', 'c'));
  ensureDir(join(dir, 'a', 'b', 'c'));
  assert.equal(readdirSync(join(dir, 'a', 'b')), ['c']);
  writeFileSync(join(dir, 'file'), 'x');
  expectFileError(() => ensureDir(join(dir, 'file', 'sub')), /cannot create directory .*file.sub: .*file is a file/);
});

test("ensureDir under /proc fails at once (Node's recursive mkdir spins there forever)", () => {
  const started = Date.now();
  expectFileError(
    () => ensureDir('/proc/webgpu-digits-test/sub'),
    /cannot create directory \/proc\/webgpu-digits-test: \/proc does not accept new directories/,
  );
  assert.ok(Date.now() - started < 2000);
});

test('readRegularFile refuses devices, directories and symlink loops, naming the path', () => {
  expectFileError(
    () => readRegularFile('/dev/zero', 'Checkpoint'),
    /Checkpoint \/dev\/zero is a character device, not a file/,
  );
  expectFileError(() => readRegularFile(dir, 'Checkpoint'), /is a directory, not a file/);
  symlinkSync(join(dir, 'loop-b'), join(dir, 'loop-a'));
  symlinkSync(join(dir, 'loop-a'), join(dir, 'loop-b'));
  expectFileError(
    () => readRegularFile(join(dir, 'loop-a'), 'Checkpoint'),
    /loop-a cannot be read: is a symbolic link loop/,
  );
  expectFileError(
    () => readRegularFile(join(dir, 'none'), 'Checkpoint', 'Train first.'),
    /none does not exist\. Train first\./,
  );
});

test('temporary files of a path are recognised exactly and removed; others are kept', () => {
  const d = join(dir, 'temps');
  mkdirSync(d);
  const names = [
    '.x.safetensors.123.abc.tmp',
    '.x.safetensors.9.zz9.tmp',
    '.xy.safetensors.1.a.tmp',
    'x.safetensors',
    '.x.safetensors.tmp',
  ];
  for (const name of names) writeFileSync(join(d, name), '');
  assert.ok(isTempFileOf('.x.safetensors.123.abc.tmp', /x\.safetensors/));
  assert.not.ok(isTempFileOf('.xy.safetensors.1.a.tmp', /x\.safetensors/));
  assert.is(removeStaleTempFiles(d, /x\.safetensors/).length, 2);
  assert.equal(readdirSync(d).sort(), ['.x.safetensors.tmp', '.xy.safetensors.1.a.tmp', 'x.safetensors']);
});

// A full disk, for real: a 64 KiB tmpfs in a private mount namespace (root with unshare only).
const canMount = process.platform === 'linux' && spawnSync('unshare', ['-m', 'true']).status === 0;
test('ENOSPC names the file that could not be written', () => {
  if (!canMount) return skip('the full-disk test mounts a tmpfs: it needs root and unshare', { requiredInCi: true });
  const full = join(dir, 'full');
  mkdirSync(full);
  const js = extname(fileURLToPath(import.meta.url)) === '.js';
  const module = join(repoRoot(), js ? 'build/src/io/files.js' : 'src/io/files.ts');
  const script = `const { writeFileAtomicSync } = await import(${JSON.stringify(module)});
try { writeFileAtomicSync(${JSON.stringify(join(full, 'big.bin'))}, new Uint8Array(1 << 20)); console.log('written'); }
catch (err) { console.log(err.message); }`;
  const runtime = 'Deno' in globalThis
    ? `${JSON.stringify(process.execPath)} eval`
    : `${JSON.stringify(process.execPath)} --input-type=module -e`;
  const r = spawnSync('unshare', [
    '-m',
    'sh',
    '-c',
    `mount -t tmpfs -o size=64k tmpfs ${full} && ${runtime} '${script.replace(/'/g, `'\\''`)}'`,
  ], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, `cannot write ${join(full, 'big.bin')}: no space left on device (ENOSPC)`);
});

test('readRegularFile refuses /proc files (no real size, may never end) and files over the cap', () => {
  expectFileError(
    () => readRegularFile('/proc/self/status', 'Log'),
    /Log \/proc\/self\/status is a file of the kernel/,
  );
  writeFileSync(join(dir, 'big'), new Uint8Array(2048));
  expectFileError(
    () => readRegularFile(join(dir, 'big'), 'Log', '', 1024),
    /big is 2048 bytes, more than the 1024 bytes it may have/,
  );
});

test('an atomic write never replaces a FIFO or a directory, and removes only the temp files of writers that are gone', () => {
  const fifo = join(dir, 'target.fifo');
  spawnSync('mkfifo', [fifo]);
  expectFileError(
    () => writeFileAtomicSync(fifo, new Uint8Array(1)),
    /cannot write .*target\.fifo: it is a named pipe, not a file/,
  );
  assert.ok(lstatSync(fifo).isFIFO());
  expectFileError(() => writeFileAtomicSync(dir, new Uint8Array(1)), /is a directory, not a file/);
  const d = join(dir, 'dead-writers');
  mkdirSync(d);
  const gone = spawnSync('true').pid!;
  const names = [`.out.bin.${gone}.abc.tmp`, `.out.bin.${process.pid}.abc.tmp`, `.other.bin.${gone}.abc.tmp`];
  for (const name of names) writeFileSync(join(d, name), '');
  writeFileAtomicSync(join(d, 'out.bin'), new Uint8Array(1));
  assert.equal(
    readdirSync(d).sort(),
    [`.other.bin.${gone}.abc.tmp`, `.out.bin.${process.pid}.abc.tmp`, 'out.bin'].sort(),
  );
});

test('checkWriteTarget: the reasons a path may not be written, each named', () => {
  const file = join(dir, 'target.txt');
  writeFileSync(file, 'x');
  assertThrows(
    () => checkWriteTarget(file, { what: '--out' }),
    WriteTargetError,
    /--out .*target\.txt exists; pass --overwrite/,
  );
  checkWriteTarget(file, { what: '--out', overwrite: true });
  assertThrows(
    () => checkWriteTarget(file, { what: '--out', overwrite: true, inputs: [[file, 'the input']] }),
    WriteTargetError,
    /is the input, which this command reads/,
  );
  assertThrows(
    () => checkWriteTarget('/dev/null', { what: '--out' }),
    WriteTargetError,
    /\/dev\/null is a character device/,
  );
  checkWriteTarget(join(dir, 'absent', 'x'), { what: '--out' });
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
