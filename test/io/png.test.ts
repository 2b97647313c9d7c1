import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import * as zlib from 'node:zlib';
import { Rng } from '../../src/util/random.ts';
import { crc32, decodePng, encodePngGray, PNG_SIGNATURE, pngChunk, PngError } from '../../src/io/png.ts';
import { assertExactlyEqual, testSeed } from '../helpers/compare.ts';
import {
  assemble,
  buildPng,
  CHANNELS,
  concatBytes,
  DEPTHS,
  expectedGray,
  ihdr,
  type PngSpec,
  randomSpec,
  scanlines,
} from './png-fixtures.ts';

const test = suite('png');

const hex = (text: string) => Uint8Array.from(text.replace(/\s+/g, '').match(/../g)!.map((h) => parseInt(h, 16)));
const ascii = (text: string) => Uint8Array.from(text, (c) => c.charCodeAt(0));

test('crc32 matches the standard check values', () => {
  assert.is(crc32(new Uint8Array(0)), 0);
  assert.is(crc32(ascii('123456789')), 0xcbf43926);
  assert.is(crc32(ascii('IEND')), 0xae426082);
  assert.is(crc32(ascii('56789'), crc32(ascii('1234'))), 0xcbf43926, 'continued CRC');
  const nodeCrc = (zlib as { crc32?: (data: Uint8Array) => number }).crc32;
  if (nodeCrc) {
    const rng = new Rng(testSeed());
    const data = new Uint8Array(1000).map(() => rng.int(256));
    assert.is(crc32(data), nodeCrc(data), 'agrees with zlib.crc32');
  }
});

// A 1x1 8-bit grayscale PNG of value 0x80, written byte by byte from the specification: the zlib
// stream is one stored (uncompressed) deflate block, so no compressor is involved.
const HAND_MADE_GRAY = hex(`
  89504e470d0a1a0a
  0000000d 49484452 00000001 00000001 08 00 00 00 00 3a7e9b55
  0000000d 49444154 7801 01 0200 fdff 00 80 00820081 c36e25e0
  00000000 49454e44 ae426082`);

test('decodes a hand-written 1x1 grayscale PNG', () => {
  const image = decodePng(HAND_MADE_GRAY);
  assert.equal({ width: image.width, height: image.height, pixels: Array.from(image.pixels) }, {
    width: 1,
    height: 1,
    pixels: [0x80],
  });
});

test('decodes a widely published 67-byte 1x1 transparent RGBA PNG as white', () => {
  const bytes = hex(`89504E470D0A1A0A0000000D49484452000000010000000108060000001F15C489
    0000000A49444154789C63000100000500010D0A2DB40000000049454E44AE426082`);
  assert.equal(Array.from(decodePng(bytes).pixels), [255]);
});

test('encodes a 1x1 image to the bytes the specification prescribes', () => {
  const bytes = encodePngGray({ width: 1, height: 1, pixels: Uint8Array.of(0x80) });
  const signatureAndHeader = hex('89504e470d0a1a0a 0000000d 49484452 00000001 00000001 0800000000 3a7e9b55');
  assert.equal(Array.from(bytes.subarray(0, 33)), Array.from(signatureAndHeader));
  assert.equal(Array.from(bytes.subarray(bytes.length - 12)), Array.from(hex('00000000 49454e44 ae426082')));
  const idatLength = new DataView(bytes.buffer, bytes.byteOffset).getUint32(33);
  assert.equal(Array.from(bytes.subarray(37, 41)), Array.from(ascii('IDAT')));
  assert.is(bytes.length, 33 + 12 + idatLength + 12);
  assert.equal(
    Array.from(zlib.inflateSync(bytes.subarray(41, 41 + idatLength))),
    [0, 0x80],
    'filter 0, then the pixel',
  );
  assert.is(
    crc32(bytes.subarray(37, 41 + idatLength)),
    new DataView(bytes.buffer, bytes.byteOffset).getUint32(41 + idatLength),
  );
});

test('pngChunk frames a chunk as length, type, data, CRC', () => {
  assert.equal(Array.from(pngChunk('IEND', new Uint8Array(0))), Array.from(hex('00000000 49454e44 ae426082')));
  assert.equal(
    Array.from(pngChunk('IDAT', hex('7801010200fdff008000820081'))),
    Array.from(hex('0000000d 49444154 7801010200fdff008000820081 c36e25e0')),
  );
});

test('encodePngGray round-trips random images of many sizes', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  for (const [width, height] of [[1, 1], [28, 28], [1, 17], [33, 2], [64, 48], [5, 300]]) {
    const pixels = new Uint8Array(width * height).map(() => rng.int(256));
    // Some smooth rows too, so every filter gets picked.
    for (let i = 0; i < pixels.length / 2; i++) pixels[i] = (i * 3) & 0xff;
    const image = decodePng(encodePngGray({ width, height, pixels }));
    assert.is(image.width, width);
    assert.is(image.height, height);
    assertExactlyEqual(image.pixels, pixels, `${width}x${height} seed=${seed}`);
  }
});

test('encodePngGray refuses inconsistent images', () => {
  assert.throws(
    () => encodePngGray({ width: 0, height: 1, pixels: new Uint8Array(0) }),
    /0x1 is not a positive integer size/,
  );
  assert.throws(() => encodePngGray({ width: 2, height: 2, pixels: new Uint8Array(3) }), /3 pixels for a 2x2 image/);
});

test('every color type, bit depth, filter and interlacing decodes to the right gray values', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  let variants = 0;
  for (const colorType of [0, 2, 3, 4, 6]) {
    for (const bitDepth of DEPTHS[colorType]) {
      for (const interlaced of [false, true]) {
        // 1x1, sizes smaller than one Adam7 block (some passes empty), and odd sizes past it.
        for (const [width, height] of [[1, 1], [3, 2], [1, 7], [13, 9], [17, 20]]) {
          const spec = randomSpec(rng, colorType, bitDepth, width, height, interlaced);
          const image = decodePng(buildPng(spec));
          const what = `color type ${colorType}, ${bitDepth}-bit, ${
            interlaced ? 'Adam7' : 'plain'
          }, ${width}x${height}, seed=${seed}`;
          assert.is(image.width, width, what);
          assert.is(image.height, height, what);
          assertExactlyEqual(image.pixels, expectedGray(spec), what);
          variants++;
        }
      }
    }
  }
  assert.is(variants, 2 * 5 * (5 + 2 + 4 + 2 + 2));
});

test('each filter type on its own, including multi-byte pixels', () => {
  const rng = new Rng(testSeed());
  for (const filter of [0, 1, 2, 3, 4]) {
    for (const [colorType, bitDepth] of [[0, 1], [0, 8], [2, 8], [6, 16]]) {
      const spec = { ...randomSpec(rng, colorType, bitDepth, 11, 6, false), filters: [filter] };
      assertExactlyEqual(
        decodePng(buildPng(spec)).pixels,
        expectedGray(spec),
        `filter ${filter}, type ${colorType}/${bitDepth}`,
      );
    }
  }
});

test('full-range samples map to black and white exactly', () => {
  for (const colorType of [0, 2, 4, 6]) {
    for (const bitDepth of DEPTHS[colorType]) {
      const max = 2 ** bitDepth - 1;
      const channels = CHANNELS[colorType];
      const opaque = (v: number) =>
        Array.from({ length: channels }, (_, c) => (colorType >= 4 && c === channels - 1 ? max : v));
      const spec: PngSpec = { width: 2, height: 1, colorType, bitDepth, samples: [...opaque(0), ...opaque(max)] };
      assert.equal(Array.from(decodePng(buildPng(spec)).pixels), [0, 255], `type ${colorType}/${bitDepth}`);
    }
  }
});

test('RGB uses 0.299/0.587/0.114 luminance', () => {
  const spec: PngSpec = { width: 3, height: 1, colorType: 2, bitDepth: 8, samples: [255, 0, 0, 0, 255, 0, 0, 0, 255] };
  assert.equal(Array.from(decodePng(buildPng(spec)).pixels), [76, 150, 29]); // 76.245, 149.685, 29.07
});

test('transparency composites over white: alpha, tRNS keys, palette alpha', () => {
  // Gray+alpha: black at alpha 0, 1/3 and 1 -> 255, 170, 0.
  const ga: PngSpec = { width: 3, height: 1, colorType: 4, bitDepth: 8, samples: [0, 0, 0, 85, 0, 255] };
  assert.equal(Array.from(decodePng(buildPng(ga)).pixels), [255, 170, 0]);
  // Gray with a tRNS key: the key value turns white, others stay.
  for (const bitDepth of [1, 2, 4, 8, 16]) {
    const key = 2 ** bitDepth - 1 === 1 ? 0 : 1;
    const spec: PngSpec = {
      width: 2,
      height: 1,
      colorType: 0,
      bitDepth,
      samples: [key, 2 ** bitDepth - 1],
      transparency: Uint8Array.of(key >> 8, key & 0xff),
    };
    const got = Array.from(decodePng(buildPng(spec)).pixels);
    assert.equal(got, Array.from(expectedGray(spec)), `gray tRNS ${bitDepth}-bit`);
    assert.is(got[0], 255);
  }
  // RGB with a tRNS key.
  for (const bitDepth of [8, 16]) {
    const spec: PngSpec = {
      width: 2,
      height: 1,
      colorType: 2,
      bitDepth,
      samples: [1, 2, 3, 1, 2, 4],
      transparency: Uint8Array.of(0, 1, 0, 2, 0, 3),
    };
    assert.equal(
      Array.from(decodePng(buildPng(spec)).pixels),
      Array.from(expectedGray(spec)),
      `RGB tRNS ${bitDepth}-bit`,
    );
    assert.is(decodePng(buildPng(spec)).pixels[0], 255);
  }
  // Palette with partial alpha (tRNS shorter than the palette).
  const pal: PngSpec = {
    width: 4,
    height: 1,
    colorType: 3,
    bitDepth: 2,
    samples: [0, 1, 2, 3],
    palette: Uint8Array.of(0, 0, 0, 0, 0, 0, 0, 0, 0, 255, 0, 0),
    transparency: Uint8Array.of(0, 128),
  };
  assert.equal(Array.from(decodePng(buildPng(pal)).pixels), [255, 127, 0, 76]);
});

test('image data split over several IDAT chunks, ancillary chunks skipped', () => {
  const rng = new Rng(testSeed());
  const spec: PngSpec = {
    ...randomSpec(rng, 6, 8, 20, 10, true),
    idatChunks: 5,
    extraChunks: [
      pngChunk('tEXt', ascii('Comment\0hello')),
      pngChunk('gAMA', hex('0000b18f')),
      pngChunk('zzZz', new Uint8Array(3)),
    ],
  };
  assertExactlyEqual(decodePng(buildPng(spec)).pixels, expectedGray(spec), 'split IDAT');
  const withEmptyIdat = { ...spec, idatChunks: 1, extraChunks: [pngChunk('IDAT', new Uint8Array(0))] };
  assertExactlyEqual(decodePng(buildPng(withEmptyIdat)).pixels, expectedGray(spec), 'empty IDAT first');
});

// ---- Errors ----

function expectPngError(bytes: Uint8Array, pattern: RegExp, limits?: { maxPixels: number }): void {
  try {
    decodePng(bytes, 'photos/seven.png', limits);
  } catch (err) {
    assert.instance(err, PngError);
    const message = (err as Error).message;
    assert.ok(message.startsWith('photos/seven.png: '), `message names the file: ${message}`);
    assert.match(message, pattern);
    return;
  }
  assert.unreachable(`accepted a PNG that should fail with ${pattern}`);
}

const idatOf = (spec: PngSpec) => pngChunk('IDAT', zlib.deflateSync(scanlines(spec)));
const gray8 = (width: number, height: number, fill = 0): PngSpec => ({
  width,
  height,
  colorType: 0,
  bitDepth: 8,
  samples: new Array(width * height).fill(fill),
  filters: [0],
});

test('errors: signature, framing and CRCs', () => {
  const good = buildPng(gray8(3, 3));
  expectPngError(new Uint8Array(0), /not a PNG file/);
  expectPngError(ascii('GIF89a...'), /not a PNG file/);
  expectPngError(good.subarray(0, 8), /ends before the IHDR chunk/);
  expectPngError(good.subarray(0, good.length - 12), /ends before the IEND chunk/);
  expectPngError(good.subarray(0, good.length - 13), /IDAT chunk at byte 33 claims \d+ bytes, past the end/);
  const badCrc = good.slice();
  badCrc[29] ^= 1; // IHDR's CRC
  expectPngError(badCrc, /IHDR chunk at byte 8 has a bad CRC/);
  const badData = good.slice();
  badData[45] ^= 0x40; // inside the IDAT data
  expectPngError(badData, /IDAT chunk at byte 33 has a bad CRC/);
  const badType = good.slice();
  badType[12] = 0x31;
  expectPngError(badType, /invalid type "1HDR"/);
  const huge = good.slice();
  new DataView(huge.buffer).setUint32(33, 0x80000000);
  expectPngError(huge, /claims 2147483648 bytes/);
  expectPngError(concatBytes(PNG_SIGNATURE, pngChunk('IDAT', new Uint8Array(0))), /first chunk is IDAT, not IHDR/);
  expectPngError(assemble(ihdr(1, 1, 8, 0), ihdr(1, 1, 8, 0), idatOf(gray8(1, 1))), /more than one IHDR/);
  expectPngError(
    assemble(ihdr(1, 1, 8, 0), pngChunk('ABCD', new Uint8Array(0)), idatOf(gray8(1, 1))),
    /unknown critical chunk ABCD/,
  );
});

test('errors: IHDR fields', () => {
  const idat = idatOf(gray8(1, 1));
  expectPngError(assemble(pngChunk('IHDR', new Uint8Array(12)), idat), /IHDR chunk is 12 bytes, not 13/);
  expectPngError(assemble(ihdr(0, 0, 8, 0), idat), /image is 0x0: it has no pixels/);
  expectPngError(assemble(ihdr(5, 0, 8, 0), idat), /image is 5x0/);
  expectPngError(assemble(ihdr(0x80000000, 1, 8, 0), idat), /out of range/);
  expectPngError(assemble(ihdr(1, 1, 8, 1), idat), /unknown color type 1/);
  expectPngError(assemble(ihdr(1, 1, 8, 7), idat), /unknown color type 7/);
  expectPngError(
    assemble(ihdr(1, 1, 4, 2), idat),
    /bit depth 4 is not allowed for RGB \(color type 2\); allowed: 8, 16/,
  );
  expectPngError(assemble(ihdr(1, 1, 16, 3), idat), /bit depth 16 is not allowed for palette/);
  expectPngError(assemble(ihdr(1, 1, 3, 0), idat), /bit depth 3 is not allowed for grayscale/);
  expectPngError(assemble(ihdr(1, 1, 8, 0, 0, 1), idat), /unknown compression method 1/);
  expectPngError(assemble(ihdr(1, 1, 8, 0, 0, 0, 1), idat), /unknown filter method 1/);
  expectPngError(assemble(ihdr(1, 1, 8, 0, 2), idat), /unknown interlace method 2/);
});

test('errors: size limit is enforced before inflating', () => {
  // 100000 x 100000 with garbage image data: the limit must trip, not zlib.
  expectPngError(
    assemble(ihdr(100000, 100000, 8, 0), pngChunk('IDAT', ascii('not zlib'))),
    /100000x100000 = 10000000000 pixels, more than the limit of 16777216/,
  );
  const ok = buildPng(gray8(10, 10));
  assert.is(decodePng(ok, 'x', { maxPixels: 100 }).width, 10);
  expectPngError(ok, /10x10 = 100 pixels, more than the limit of 99/, { maxPixels: 99 });
});

test('errors: image data', () => {
  const header = ihdr(4, 2, 8, 0);
  expectPngError(assemble(header), /no IDAT chunk/);
  expectPngError(assemble(header, pngChunk('IDAT', ascii('not zlib at all'))), /image data is not a valid zlib stream/);
  const raw = scanlines(gray8(4, 2));
  const z = (data: Uint8Array) => pngChunk('IDAT', zlib.deflateSync(data));
  expectPngError(assemble(header, z(raw.subarray(0, 9))), /decompresses to 9 bytes, fewer than the 10/);
  expectPngError(assemble(header, z(concatBytes(raw, Uint8Array.of(0)))), /decompresses to more than the 10 bytes/);
  expectPngError(assemble(header, z(new Uint8Array(1 << 20))), /decompresses to more than the 10 bytes/);
  const truncatedStream = zlib.deflateSync(raw);
  expectPngError(
    assemble(header, pngChunk('IDAT', truncatedStream.subarray(0, truncatedStream.length - 6))),
    /not a valid zlib stream|fewer than/,
  );
  const badFilter = raw.slice();
  badFilter[5] = 5;
  expectPngError(assemble(header, z(badFilter)), /unknown row filter type 5/);
});

test('errors: palette and transparency', () => {
  const spec: PngSpec = {
    width: 2,
    height: 1,
    colorType: 3,
    bitDepth: 1,
    samples: [0, 1],
    palette: Uint8Array.of(1, 2, 3, 4, 5, 6),
  };
  const idat = idatOf(spec);
  expectPngError(assemble(ihdr(2, 1, 1, 3), idat), /palette image without a PLTE chunk/);
  expectPngError(assemble(ihdr(2, 1, 1, 3), pngChunk('PLTE', new Uint8Array(4)), idat), /PLTE chunk is 4 bytes/);
  expectPngError(assemble(ihdr(2, 1, 1, 3), pngChunk('PLTE', new Uint8Array(0)), idat), /PLTE chunk is 0 bytes/);
  expectPngError(
    assemble(ihdr(2, 1, 1, 3), pngChunk('PLTE', new Uint8Array(9)), idat),
    /PLTE has 3 entries, more than a 1-bit index can address/,
  );
  expectPngError(
    assemble(ihdr(2, 1, 1, 3), pngChunk('PLTE', new Uint8Array(3)), pngChunk('PLTE', new Uint8Array(3)), idat),
    /more than one PLTE/,
  );
  expectPngError(assemble(ihdr(2, 1, 1, 3), idat, pngChunk('PLTE', new Uint8Array(6))), /PLTE chunk after image data/);
  expectPngError(buildPng({ ...spec, palette: Uint8Array.of(1, 2, 3) }), /pixel index 1 is past the 1-entry palette/);
  expectPngError(
    buildPng({ ...spec, transparency: Uint8Array.of(1, 2, 3) }),
    /tRNS chunk has 3 entries, more than the palette's 2/,
  );
  expectPngError(
    buildPng({ ...gray8(1, 1), transparency: Uint8Array.of(0) }),
    /tRNS chunk for grayscale is 1 bytes, not 2/,
  );
  expectPngError(
    buildPng({ width: 1, height: 1, colorType: 2, bitDepth: 8, samples: [0, 0, 0], transparency: new Uint8Array(2) }),
    /tRNS chunk for RGB is 2 bytes, not 6/,
  );
  expectPngError(
    assemble(ihdr(1, 1, 8, 0), idatOf(gray8(1, 1)), pngChunk('tRNS', new Uint8Array(2))),
    /tRNS chunk after image data/,
  );
});

test('decoding is the same on every call (no state between calls)', () => {
  const rng = new Rng(testSeed());
  const bytes = buildPng(randomSpec(rng, 3, 4, 19, 11, true));
  assertExactlyEqual(decodePng(bytes).pixels, decodePng(bytes).pixels, 'second decode');
});

test.run();
