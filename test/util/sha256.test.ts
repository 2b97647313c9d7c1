// The browser build's SHA-256 against node:crypto's, on the lengths where padding changes (55, 56, 63,
// 64 bytes) and on data fed in uneven pieces, as checkpoints and dataset digests feed it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHash as nodeHash } from 'node:crypto';
import { createHash } from '../../src/util/sha256.ts';
import { Rng } from '../../src/util/random.ts';

const test = suite('sha256');

test('the FIPS 180-4 examples', () => {
  assert.is(createHash('sha256').update('').digest('hex'), nodeHash('sha256').update('').digest('hex'));
  assert.is(
    createHash('sha256').update('abc').digest('hex'),
    'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad',
  );
});

test('every length from 0 to 300 bytes, and pieces of uneven size, as node:crypto', () => {
  const rng = new Rng(7);
  const bytes = new Uint8Array(300).map(() => rng.int(256));
  for (let n = 0; n <= 300; n++) {
    const data = bytes.subarray(0, n);
    assert.is(createHash('sha256').update(data).digest('hex'), nodeHash('sha256').update(data).digest('hex'), `${n}`);
  }
  const ours = createHash('sha256');
  const theirs = nodeHash('sha256');
  for (let at = 0, piece = 1; at < 300; at += piece, piece = (piece * 7) % 61 + 1) {
    ours.update(bytes.subarray(at, at + piece));
    theirs.update(bytes.subarray(at, at + piece));
    ours.update('name');
    theirs.update('name');
  }
  assert.is(ours.digest('hex'), theirs.digest('hex'));
  assert.equal(createHash('sha256').update(bytes).digest(), new Uint8Array(nodeHash('sha256').update(bytes).digest()));
});

test('other algorithms are refused by name', () => {
  assert.throws(() => createHash('md5'), /md5 is not available in the browser build/);
});

test.run();
