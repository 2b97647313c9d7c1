// Fuzzing the two file decoders (and the digit preprocessing): on any input they either succeed with
// a consistent result or throw their documented error class, never anything else, within bounded
// time and memory (the PNG pixel limit is set low here, so nothing big is ever allocated).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import fc from 'fast-check';
import { deflateSync } from 'node:zlib';
import { Rng } from '../../src/util/random.ts';
import { crc32, decodePng, encodePngGray, PNG_SIGNATURE, pngChunk, PngError } from '../../src/io/png.ts';
import {
  CheckpointFormatError,
  decodeSafetensors,
  encodeSafetensors,
  type TensorInput,
} from '../../src/io/safetensors.ts';
import { DigitImageError, toMnistDigit } from '../../src/io/digit-image.ts';
import { testSeed } from '../helpers/compare.ts';
import { buildPng, concatBytes, DEPTHS, ihdr, randomSpec, scanlines } from './png-fixtures.ts';

const test = suite('fuzz');

const LIMITS = { maxPixels: 1 << 16 };
const RUNS = 300;

/** Runs a property with a printed seed; each suite here must finish in about a second. */
function check<T>(what: string, arbitrary: fc.Arbitrary<T>, predicate: (value: T) => void, numRuns = RUNS): void {
  const seed = testSeed();
  const start = performance.now();
  const result = fc.check(fc.property(arbitrary, predicate), { seed, numRuns });
  if (result.failed) {
    const error = result.errorInstance as Error | undefined;
    assert.unreachable(
      `${what}: failed after ${result.numRuns} runs (seed=${seed}, path=${result.counterexamplePath}) ` +
        `on ${
          JSON.stringify(
            result.counterexample,
            (_, v) => (v instanceof Uint8Array ? Array.from(v) : typeof v === 'bigint' ? String(v) : v),
          ).slice(0, 400)
        }: ` +
        `${error?.stack ?? String(result.errorInstance)}`,
    );
  }
  const seconds = (performance.now() - start) / 1000;
  assert.ok(seconds < 10, `${what}: ${numRuns} runs took ${seconds.toFixed(1)} s (a hang?)`);
}

function pngOutcome(bytes: Uint8Array): void {
  let image;
  try {
    image = decodePng(bytes, 'fuzz.png', LIMITS);
  } catch (err) {
    if (err instanceof PngError) return;
    throw err;
  }
  assert.ok(image.width >= 1 && image.height >= 1, 'decoded image has pixels');
  assert.ok(image.width * image.height <= LIMITS.maxPixels, 'decoded image respects the limit');
  assert.is(image.pixels.length, image.width * image.height);
  assert.instance(image.pixels, Uint8Array);
}

function safetensorsOutcome(bytes: Uint8Array): void {
  let decoded;
  try {
    decoded = decodeSafetensors(bytes, 'fuzz.safetensors');
  } catch (err) {
    if (err instanceof CheckpointFormatError) return;
    throw err;
  }
  // Whatever decodes must survive a round trip unchanged.
  const inputs: Record<string, TensorInput> = {};
  for (const [name, t] of decoded.tensors) inputs[name] = { shape: t.shape, data: t.data, dtype: t.dtype };
  const again = decodeSafetensors(encodeSafetensors(inputs, decoded.metadata));
  assert.equal(again.metadata, decoded.metadata);
  assert.equal([...again.tensors.keys()].sort(), [...decoded.tensors.keys()].sort());
  for (const [name, t] of decoded.tensors) {
    const u = again.tensors.get(name)!;
    assert.is(u.dtype, t.dtype);
    assert.equal(u.shape, t.shape);
    assert.equal(
      new Uint8Array(u.data.buffer, u.data.byteOffset, u.data.byteLength),
      new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength),
    );
  }
}

// ---- Valid seed files to mutate ----

function validPngs(): Uint8Array[] {
  const rng = new Rng(12345);
  const files: Uint8Array[] = [
    encodePngGray({ width: 5, height: 4, pixels: new Uint8Array(20).map((_, i) => i * 13) }),
  ];
  for (const colorType of [0, 2, 3, 4, 6]) {
    for (const bitDepth of DEPTHS[colorType]) {
      const spec = randomSpec(rng, colorType, bitDepth, 1 + rng.int(9), 1 + rng.int(9), rng.next() < 0.5);
      if (colorType === 3) spec.transparency = Uint8Array.of(0, 128);
      files.push(buildPng(spec));
    }
  }
  return files;
}

function validSafetensors(): Uint8Array[] {
  const rng = new Rng(54321);
  return [
    encodeSafetensors({ w: { shape: [2, 3], data: rng.f32(6) }, b: { shape: [3], data: rng.f32(3) } }, {
      format: 'x',
      step: '12',
    }),
    encodeSafetensors({
      i: { shape: [4], data: Int32Array.of(1, -2, 3, -4) },
      u: { shape: [3], data: Uint8Array.of(1, 2, 3) },
      d: { shape: [], data: Float64Array.of(Math.PI) },
    }),
    encodeSafetensors({ e: { shape: [0], data: new Float32Array(0) } }),
  ];
}

/** A random edit of a byte string: flips, overwrites, truncation, insertion, deletion, duplication. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('flip' as const), at: fc.nat(), bit: fc.integer({ min: 0, max: 7 }) }),
  fc.record({ kind: fc.constant('set' as const), at: fc.nat(), value: fc.integer({ min: 0, max: 255 }) }),
  fc.record({ kind: fc.constant('truncate' as const), at: fc.nat() }),
  fc.record({
    kind: fc.constant('insert' as const),
    at: fc.nat(),
    bytes: fc.uint8Array({ minLength: 1, maxLength: 16 }),
  }),
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 16 }) }),
  fc.record({ kind: fc.constant('duplicate' as const), at: fc.nat(), count: fc.integer({ min: 1, max: 40 }) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer M> ? M : never;

function mutate(bytes: Uint8Array, edits: Mutation[]): Uint8Array {
  let out: Uint8Array = bytes.slice();
  for (const edit of edits) {
    const at = out.length === 0 ? 0 : edit.at % (out.length + 1);
    switch (edit.kind) {
      case 'flip':
        if (at < out.length) out[at] ^= 1 << edit.bit;
        break;
      case 'set':
        if (at < out.length) out[at] = edit.value;
        break;
      case 'truncate':
        out = out.slice(0, at);
        break;
      case 'insert':
        out = concatBytes(out.subarray(0, at), edit.bytes, out.subarray(at));
        break;
      case 'delete':
        out = concatBytes(out.subarray(0, at), out.subarray(at + edit.count));
        break;
      case 'duplicate':
        out = concatBytes(out.subarray(0, at + edit.count), out.subarray(at));
        break;
    }
  }
  return out;
}

/** Recomputes every chunk CRC it can find, so mutations get past the CRC check into the decoder. */
function fixCrcs(bytes: Uint8Array): Uint8Array {
  const out = bytes.slice();
  const view = new DataView(out.buffer);
  for (let at = 8; at + 12 <= out.length;) {
    const length = view.getUint32(at);
    if (at + 12 + length > out.length) break;
    view.setUint32(at + 8 + length, crc32(out.subarray(at + 4, at + 8 + length)));
    at += 12 + length;
  }
  return out;
}

// ---- PNG ----

test('PNG: random bytes', () => {
  check('random bytes', fc.uint8Array({ maxLength: 400 }), pngOutcome);
  check(
    'signature + random bytes',
    fc.uint8Array({ maxLength: 400 }),
    (tail) => pngOutcome(concatBytes(PNG_SIGNATURE, tail)),
  );
});

test('PNG: random chunk sequences with valid CRCs', () => {
  const chunk = fc.oneof(
    fc.record({
      width: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.nat()),
      height: fc.oneof(fc.integer({ min: 0, max: 300 }), fc.nat()),
      depth: fc.constantFrom(0, 1, 2, 3, 4, 8, 16, 255),
      color: fc.constantFrom(0, 1, 2, 3, 4, 5, 6, 7),
      interlace: fc.constantFrom(0, 1, 2),
      compression: fc.constantFrom(0, 0, 0, 1),
      filter: fc.constantFrom(0, 0, 0, 1),
    }).map((h) => ihdr(h.width, h.height, h.depth, h.color, h.interlace, h.compression, h.filter)),
    fc.tuple(fc.constantFrom('PLTE', 'tRNS', 'IDAT', 'IEND', 'tEXt', 'ABCD', 'IHDR'), fc.uint8Array({ maxLength: 60 }))
      .map(([type, data]) => pngChunk(type, data)),
    // IDAT holding a real zlib stream of random "scanlines".
    fc.uint8Array({ maxLength: 300 }).map((raw) => pngChunk('IDAT', deflateSync(raw))),
  );
  check(
    'chunk sequences',
    fc.array(chunk, { maxLength: 6 }),
    (chunks) => pngOutcome(concatBytes(PNG_SIGNATURE, ...chunks)),
  );
});

test('PNG: mutated valid files, with and without repaired CRCs', () => {
  const files = validPngs();
  const edited = fc.tuple(
    fc.integer({ min: 0, max: files.length - 1 }),
    fc.array(mutation, { minLength: 1, maxLength: 4 }),
  );
  check('mutated', edited, ([i, edits]) => pngOutcome(mutate(files[i], edits)));
  check('mutated, CRCs repaired', edited, ([i, edits]) => pngOutcome(fixCrcs(mutate(files[i], edits))));
});

test('PNG: valid framing around mutated scanlines (filters, palette indices, sizes)', () => {
  const rng = new Rng(777);
  const specs = [0, 2, 3, 4, 6].flatMap((colorType) =>
    DEPTHS[colorType].map((bitDepth) => randomSpec(rng, colorType, bitDepth, 7, 5, bitDepth % 2 === 0))
  );
  const edited = fc.tuple(
    fc.integer({ min: 0, max: specs.length - 1 }),
    fc.array(mutation, { minLength: 1, maxLength: 3 }),
  );
  check('scanlines', edited, ([i, edits]) => {
    const spec = specs[i];
    const raw = mutate(scanlines(spec), edits);
    const chunks = [pngChunk('IDAT', deflateSync(raw))];
    if (spec.palette) chunks.unshift(pngChunk('PLTE', spec.palette));
    pngOutcome(
      concatBytes(
        PNG_SIGNATURE,
        ihdr(spec.width, spec.height, spec.bitDepth, spec.colorType, spec.interlaced ? 1 : 0),
        ...chunks,
        pngChunk('IEND', new Uint8Array(0)),
      ),
    );
  });
});

// ---- safetensors ----

test('safetensors: random bytes and random headers', () => {
  check('random bytes', fc.uint8Array({ maxLength: 300 }), safetensorsOutcome);
  const value = fc.oneof(
    fc.integer({ min: -2, max: 40 }),
    fc.double(),
    fc.string({ maxLength: 4 }),
    fc.constant(null),
    fc.boolean(),
  );
  const entry = fc.oneof(
    fc.record({
      dtype: fc.oneof(fc.constantFrom('F32', 'F64', 'I32', 'U8', 'I64', 'BOOL', 'F16', 'X'), value),
      shape: fc.oneof(
        fc.array(fc.integer({ min: 0, max: 5 }), { maxLength: 3 }),
        fc.array(value, { maxLength: 3 }),
        value,
      ),
      data_offsets: fc.oneof(
        fc.tuple(fc.integer({ min: 0, max: 64 }), fc.integer({ min: 0, max: 64 })),
        fc.array(value, { maxLength: 3 }),
        value,
      ),
    }),
    value,
    fc.dictionary(fc.string({ maxLength: 3 }), value, { maxKeys: 3 }),
  );
  const header = fc.dictionary(fc.oneof(fc.string({ maxLength: 4 }), fc.constant('__metadata__')), entry, {
    maxKeys: 4,
  });
  check(
    'random headers',
    fc.tuple(header, fc.integer({ min: 0, max: 64 }), fc.integer({ min: -3, max: 3 })),
    ([h, dataBytes, lengthSkew]) => {
      const json = new TextEncoder().encode(JSON.stringify(h));
      const bytes = new Uint8Array(8 + json.length + dataBytes).map((_, i) => (i * 37) & 0xff);
      new DataView(bytes.buffer).setBigUint64(0, BigInt(Math.max(0, json.length + lengthSkew)), true);
      bytes.set(json, 8);
      safetensorsOutcome(bytes);
    },
  );
});

test('safetensors: mutated valid files', () => {
  const files = validSafetensors();
  const edited = fc.tuple(
    fc.integer({ min: 0, max: files.length - 1 }),
    fc.array(mutation, { minLength: 1, maxLength: 4 }),
  );
  check('mutated', edited, ([i, edits]) => safetensorsOutcome(mutate(files[i], edits)));
});

// ---- digit preprocessing ----

test('toMnistDigit: random small pictures give 784 bytes or DigitImageError', () => {
  const picture = fc.record({ width: fc.integer({ min: 1, max: 40 }), height: fc.integer({ min: 1, max: 40 }) })
    .chain(({ width, height }) =>
      fc.uint8Array({ minLength: width * height, maxLength: width * height }).map((pixels) => ({
        width,
        height,
        pixels,
      }))
    );
  check('pictures', picture, (image) => {
    try {
      const digit = toMnistDigit(image);
      assert.is(digit.length, 784);
    } catch (err) {
      if (!(err instanceof DigitImageError)) throw err;
    }
  }, 200);
});

test.run();
