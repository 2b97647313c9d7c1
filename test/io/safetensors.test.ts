import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Buffer } from 'node:buffer';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Rng } from '../../src/util/random.ts';
import {
  CheckpointFormatError,
  decodeSafetensors,
  encodeSafetensors,
  type TensorData,
  type TensorInput,
} from '../../src/io/safetensors.ts';
import { writeFileAtomic } from '../../src/io/files.ts';
import { testSeed } from '../helpers/compare.ts';

const test = suite('safetensors');

function randomTensors(rng: Rng): Record<string, TensorInput> {
  const f64 = new Float64Array(7).map(() => rng.normal());
  return {
    'conv1.weight': { shape: [2, 1, 3, 3], data: rng.f32(18) },
    'conv1.bias': { shape: [2], data: rng.f32(2) },
    scalar: { shape: [], data: Float32Array.of(rng.normal()) },
    empty: { shape: [0, 4], data: new Float32Array(0) },
    doubles: { shape: [7], data: f64 },
    ints: { shape: [3, 2], data: new Int32Array(6).map(() => rng.nextU32() | 0) },
    bytes: { shape: [5], data: new Uint8Array(5).map(() => rng.int(256)) },
    longs: { shape: [2], data: BigInt64Array.of(-(2n ** 62n) + BigInt(rng.int(1000)), 42n) },
    ulongs: { shape: [1], data: BigUint64Array.of(2n ** 64n - 1n) },
    u32: { shape: [2], data: Uint32Array.of(0xffffffff, rng.nextU32()) },
    i16: { shape: [2], data: Int16Array.of(-32768, 7) },
    u16: { shape: [1], data: Uint16Array.of(65535) },
    half: { shape: [2], data: Uint16Array.of(0x3c00, 0xc000), dtype: 'F16' },
    bhalf: { shape: [1], data: Uint16Array.of(0x3f80), dtype: 'BF16' },
    i8: { shape: [3], data: Int8Array.of(-128, 0, 127) },
    flags: { shape: [2], data: Uint8Array.of(0, 1), dtype: 'BOOL' },
    'ünïcode ✓': { shape: [1], data: Float32Array.of(3) },
    ['__proto__']: { shape: [1], data: Float32Array.of(5) },
  };
}

function sameData(a: TensorData, b: TensorData): boolean {
  if (a.constructor !== b.constructor || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    // Compare float bits too, so -0 and NaN payloads count.
    if (!Object.is(a[i], b[i])) return false;
  }
  return true;
}

test('round trip of every dtype, scalars, empty tensors and metadata', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const tensors = randomTensors(rng);
  const metadata = { format: 'test', empty: '', 'json': '{"a":[1,2]}', ['__proto__']: 'odd key', 'ключ': 'значение' };
  const decoded = decodeSafetensors(encodeSafetensors(tensors, metadata));
  assert.equal(decoded.metadata, metadata, `seed=${seed}`);
  assert.is(Object.getPrototypeOf(decoded.metadata), Object.prototype);
  assert.equal([...decoded.tensors.keys()].sort(), Object.keys(tensors).sort());
  for (const [name, input] of Object.entries(tensors)) {
    const got = decoded.tensors.get(name)!;
    assert.equal(got.shape, input.shape, name);
    assert.ok(sameData(got.data, input.data), `${name}: data differs (seed=${seed})`);
  }
  assert.is(decoded.tensors.get('half')!.dtype, 'F16');
  assert.is(decoded.tensors.get('bhalf')!.dtype, 'BF16');
  assert.is(decoded.tensors.get('flags')!.dtype, 'BOOL');
  assert.is(decoded.tensors.get('longs')!.dtype, 'I64');
  assert.is(decoded.tensors.get('conv1.weight')!.dtype, 'F32');
});

test('no metadata round-trips to an empty record', () => {
  const decoded = decodeSafetensors(encodeSafetensors({ x: { shape: [1], data: Float32Array.of(1) } }));
  assert.equal(decoded.metadata, {});
});

test('same tensors in any insertion order give the same bytes', () => {
  const rng = new Rng(testSeed());
  const tensors = randomTensors(rng);
  const reversed = Object.fromEntries(Object.entries(tensors).reverse());
  const a = encodeSafetensors(tensors, { b: '2', a: '1' });
  const b = encodeSafetensors(reversed, { a: '1', b: '2' });
  assert.equal(Array.from(b), Array.from(a));
  assert.equal(Array.from(encodeSafetensors(tensors, { b: '2', a: '1' })), Array.from(a));
});

test('layout: padded header, tensors packed in name order', () => {
  const bytes = encodeSafetensors({
    b: { shape: [1], data: Float32Array.of(2) },
    a: { shape: [2], data: Float32Array.of(1, -2.5) },
  }, { k: 'v' });
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const n = Number(view.getBigUint64(0, true));
  assert.is(n % 8, 0);
  const header = new TextDecoder().decode(bytes.subarray(8, 8 + n));
  assert.is(
    header.trimEnd(),
    '{"__metadata__":{"k":"v"},"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}',
  );
  assert.ok(/^ {0,7}$/.test(header.slice(header.trimEnd().length)), 'padding is spaces');
  assert.equal(Array.from(bytes.subarray(8 + n)), [0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0, 0, 0, 0, 0x40]);
});

test('decodes a file written by hand from the format description', () => {
  const json = '{"w":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},' +
    '"n":{"dtype":"I32","shape":[1,1],"data_offsets":[8,12]},' +
    '"d":{"dtype":"F64","shape":[],"data_offsets":[12,20]},"__metadata__":{"by":"hand"}}';
  const header = new TextEncoder().encode(json);
  const data = [
    0x00,
    0x00,
    0x80,
    0x3f,
    /* 1.0f */ 0x00,
    0x00,
    0x20,
    0xc0, /* -2.5f */
    0xfe,
    0xff,
    0xff,
    0xff, /* -2 */
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0x00,
    0xf0,
    0x3f, /* 1.0 (unaligned: at byte 12 of the data) */
  ];
  const bytes = Uint8Array.from([header.length, 0, 0, 0, 0, 0, 0, 0, ...header, ...data]);
  const { tensors, metadata } = decodeSafetensors(bytes);
  assert.equal(metadata, { by: 'hand' });
  assert.equal(Array.from(tensors.get('w')!.data as Float32Array), [1, -2.5]);
  assert.equal(Array.from(tensors.get('n')!.data as Int32Array), [-2]);
  assert.equal(tensors.get('n')!.shape, [1, 1]);
  assert.equal(Array.from(tensors.get('d')!.data as Float64Array), [1]);
  assert.equal(tensors.get('d')!.shape, []);
});

test('data at any byte offset decodes (copied when unaligned, a view when aligned)', () => {
  const rng = new Rng(testSeed());
  const file = encodeSafetensors({
    a: { shape: [3], data: Uint8Array.of(1, 2, 3) },
    b: { shape: [5], data: new Float64Array(5).map(() => rng.normal()) },
  });
  const expected = decodeSafetensors(file).tensors.get('b')!.data;
  for (let shift = 0; shift < 8; shift++) {
    const buffer = new Uint8Array(file.length + shift);
    buffer.set(file, shift);
    const got = decodeSafetensors(buffer.subarray(shift)).tensors.get('b')!.data;
    assert.ok(sameData(got, expected), `shift ${shift}`);
  }
  const aligned = encodeSafetensors({ a: { shape: [4], data: Float32Array.of(1, 2, 3, 4) } });
  assert.is(decodeSafetensors(aligned).tensors.get('a')!.data.buffer, aligned.buffer, 'aligned data is not copied');
});

test('finding 6: unaligned data in a Node Buffer (whose slice() is a view) is copied from its own offset', () => {
  // What readFileSync returns: a Buffer. A header of 8k + 3 bytes puts the data 3 bytes off alignment.
  const values = Float32Array.of(1.5, -2.25, 3.125, 1e-3);
  const json = JSON.stringify({ w: { dtype: 'F32', shape: [4], data_offsets: [0, 16] } }).padEnd(51, ' ');
  const file = Buffer.alloc(8 + json.length + 16);
  file.writeBigUInt64LE(BigInt(json.length), 0);
  file.write(json, 8, 'latin1');
  Buffer.from(values.buffer).copy(file, 8 + json.length);
  assert.is((8 + json.length) % 4, 3);
  assert.equal([...decodeSafetensors(file).tensors.get('w')!.data as Float32Array], [...values]);
});

/** A file with this header object (JSON-encoded as is) and `dataBytes` zero bytes of data. */
function rawFile(header: unknown, dataBytes = 0, headerText = JSON.stringify(header)): Uint8Array {
  const json = new TextEncoder().encode(headerText);
  const out = new Uint8Array(8 + json.length + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(json.length), true);
  out.set(json, 8);
  return out;
}

function expectFormatError(bytes: Uint8Array, pattern: RegExp): void {
  try {
    decodeSafetensors(bytes, 'dir/model.safetensors');
  } catch (err) {
    assert.instance(err, CheckpointFormatError);
    const message = (err as Error).message;
    assert.ok(message.startsWith('dir/model.safetensors: '), `message names the file: ${message}`);
    assert.match(message, pattern);
    return;
  }
  assert.unreachable(`accepted a file that should fail with ${pattern}`);
}

const f32 = (begin: number, end: number, shape = [(end - begin) / 4]) => ({
  dtype: 'F32',
  shape,
  data_offsets: [begin, end],
});

test('errors: file framing', () => {
  expectFormatError(new Uint8Array(0), /0 bytes, shorter than the 8-byte header length/);
  expectFormatError(new Uint8Array(7), /7 bytes, shorter/);
  const tooLong = rawFile({}, 0);
  tooLong[0] += 1;
  expectFormatError(tooLong, /header length 3 is larger than the 2 bytes/);
  const absurd = new Uint8Array(16);
  new DataView(absurd.buffer).setBigUint64(0, 2n ** 63n, true);
  expectFormatError(absurd, /header length 9223372036854775808 is absurd/);
  const badUtf8 = rawFile(null, 0, '{"a":1}');
  badUtf8[10] = 0xff;
  expectFormatError(badUtf8, /not valid UTF-8/);
  expectFormatError(rawFile(null, 0, '{"a": '), /header is not JSON/);
  expectFormatError(rawFile(null, 0, ''), /header is not JSON/);
  expectFormatError(rawFile([1, 2]), /header JSON is not an object/);
  expectFormatError(rawFile(null), /header JSON is not an object/);
  expectFormatError(rawFile(5), /header JSON is not an object/);
});

test('errors: tensor entries', () => {
  expectFormatError(rawFile({ t: 5 }), /tensor "t" is not an object/);
  expectFormatError(rawFile({ t: [] }), /tensor "t" is not an object/);
  expectFormatError(
    rawFile({ t: { dtype: 'F31', shape: [1], data_offsets: [0, 4] } }, 4),
    /tensor "t" has unknown dtype "F31"/,
  );
  expectFormatError(
    rawFile({ t: { dtype: 'toString', shape: [1], data_offsets: [0, 4] } }, 4),
    /unknown dtype "toString"/,
  );
  expectFormatError(rawFile({ t: { shape: [1], data_offsets: [0, 4] } }, 4), /unknown dtype undefined/);
  for (const shape of [[-1], [1.5], ['2'], 3, null, [1e300]]) {
    expectFormatError(
      rawFile({ t: { dtype: 'U8', shape, data_offsets: [0, 1] } }, 1),
      /has shape .*not a list of non-negative integers/,
    );
  }
  for (const offsets of [[0], [0, 1, 2], '0,1', null]) {
    expectFormatError(
      rawFile({ t: { dtype: 'U8', shape: [1], data_offsets: offsets } }, 1),
      /data_offsets .* is not a \[begin, end\] pair/,
    );
  }
  for (const offsets of [[-1, 0], [1, 0], [0.5, 1], ['0', 1]]) {
    expectFormatError(
      rawFile({ t: { dtype: 'U8', shape: [1], data_offsets: offsets } }, 1),
      /are not non-negative integers with begin <= end/,
    );
  }
  expectFormatError(rawFile({ t: f32(0, 8) }, 4), /data_offsets end 8 is past the 4-byte data section/);
  expectFormatError(rawFile({ t: f32(0, 8, [3]) }, 8), /shape \[3\] of F32 \(12 bytes\) but data_offsets span 8 bytes/);
  expectFormatError(rawFile({ t: f32(0, 8, [2 ** 40, 2 ** 40]) }, 8), /too many bytes/);
});

test('errors: tensors must tile the data exactly', () => {
  expectFormatError(rawFile({ a: f32(0, 8), b: f32(4, 12) }, 12), /overlaps another tensor/);
  expectFormatError(rawFile({ a: f32(0, 8), b: f32(0, 8) }, 8), /overlaps another tensor/);
  expectFormatError(
    rawFile({ a: f32(0, 4), b: f32(8, 12) }, 12),
    /bytes \[4, 8\) of the data section belong to no tensor/,
  );
  expectFormatError(rawFile({ a: f32(4, 8) }, 8), /bytes \[0, 4\) .* belong to no tensor/);
  expectFormatError(rawFile({ a: f32(0, 4) }, 8), /bytes \[4, 8\) at the end of the data section belong to no tensor/);
  expectFormatError(rawFile({}, 3), /bytes \[0, 3\) at the end/);
  // Zero-size tensors may sit anywhere inside the packing.
  const ok = decodeSafetensors(rawFile({ a: f32(0, 4), e: f32(4, 4), b: f32(4, 8) }, 8));
  assert.equal(ok.tensors.get('e')!.shape, [0]);
});

test('errors: metadata', () => {
  expectFormatError(rawFile({ __metadata__: { a: 1 } }), /metadata "a" is 1, not a string/);
  expectFormatError(rawFile({ __metadata__: { a: null } }), /metadata "a" is null, not a string/);
  expectFormatError(rawFile({ __metadata__: 'x' }), /"__metadata__" is not an object/);
  expectFormatError(rawFile({ __metadata__: ['x'] }), /"__metadata__" is not an object/);
});

test('encoder refuses inconsistent input', () => {
  assert.throws(
    () => encodeSafetensors({ t: { shape: [2, 2], data: new Float32Array(3) } }),
    /tensor "t" has shape \[2,2\] but 3 elements/,
  );
  assert.throws(
    () => encodeSafetensors({ t: { shape: [-1], data: new Float32Array(0) } }),
    /not a list of non-negative integers/,
  );
  assert.throws(
    () => encodeSafetensors({ t: { shape: [1], data: new Float32Array(1), dtype: 'I32' } }),
    /I32, which needs a Int32Array/,
  );
  assert.throws(() => encodeSafetensors({ __metadata__: { shape: [1], data: new Float32Array(1) } }), /reserved/);
  assert.throws(() => encodeSafetensors({}, { a: 1 as unknown as string }), /metadata "a" is a number/);
});

test('writeFileAtomic writes, replaces, and leaves no temporary files', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'safetensors-test-'));
  try {
    const path = join(dir, 'model.safetensors');
    await writeFileAtomic(path, Uint8Array.of(1, 2, 3));
    assert.equal(Array.from(readFileSync(path)), [1, 2, 3]);
    const big = new Uint8Array(3 << 20).map((_, i) => i * 7);
    await writeFileAtomic(path, big);
    assert.ok(readFileSync(path).equals(big), 'replaced content');
    assert.equal(readdirSync(dir), ['model.safetensors']);

    // A rename onto a directory fails: the error surfaces and the temporary file is removed.
    mkdirSync(join(dir, 'taken'));
    writeFileSync(join(dir, 'taken', 'inside'), 'x');
    let failed = false;
    await writeFileAtomic(join(dir, 'taken'), Uint8Array.of(9)).catch((err) => {
      failed = true;
      assert.match(String(err.message), `cannot write ${join(dir, 'taken')}: `);
    });
    assert.ok(failed, 'writing over a non-empty directory fails, naming the path');
    assert.equal(readdirSync(dir).sort(), ['model.safetensors', 'taken']);

    // Missing parent directories are created (a fresh clone has no data/checkpoints/).
    await writeFileAtomic(join(dir, 'no-such-dir', 'deeper', 'x'), Uint8Array.of(1));
    assert.equal(Array.from(readFileSync(join(dir, 'no-such-dir', 'deeper', 'x'))), [1]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
