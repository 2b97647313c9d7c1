// decodePngColor keeps color (RGB, RGBA, palette; every bit depth and interlacing), gray files stay
// gray and decode as decodePng does; encodePng writes RGB that decodes back exactly.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePng, decodePngColor, encodePng } from '../../src/io/png.ts';
import { Rng } from '../../src/util/random.ts';
import { testSeed } from '../helpers/compare.ts';
import { buildPng, CHANNELS, DEPTHS, expectedGray, randomSpec } from './png-fixtures.ts';

const test = suite('png-color');

/** One channel's 8-bit value from exact arithmetic: v / max composited over white by alpha, rounded half up. */
function over(v: number, max: number, alpha: number, alphaMax: number): number {
  const num = 255 * (v * alpha + max * (alphaMax - alpha));
  const den = max * alphaMax;
  return Math.floor((2 * num + den) / (2 * den));
}

for (const colorType of [2, 3, 6]) {
  for (const bitDepth of DEPTHS[colorType]) {
    for (const interlaced of [false, true]) {
      test(`color type ${colorType}, ${bitDepth}-bit${interlaced ? ', Adam7' : ''}: RGB as specified`, () => {
        const seed = testSeed();
        const rng = new Rng(seed);
        const spec = randomSpec(rng, colorType, bitDepth, 1 + rng.int(9), 1 + rng.int(9), interlaced);
        const image = decodePngColor(buildPng(spec), 'random.png');
        assert.is(image.channels, 3);
        const max = 2 ** bitDepth - 1;
        const channels = CHANNELS[colorType];
        for (let p = 0; p < spec.width * spec.height; p++) {
          for (let c = 0; c < 3; c++) {
            const expected = colorType === 3
              ? spec.palette![3 * spec.samples[p] + c]
              : colorType === 6
              ? over(spec.samples[p * channels + c], max, spec.samples[p * channels + 3], max)
              : over(spec.samples[p * channels + c], max, 1, 1);
            assert.is(image.pixels[3 * p + c], expected, `pixel ${p} channel ${c} seed=${seed}`);
          }
        }
      });
    }
  }
}

for (const colorType of [0, 4]) {
  test(`color type ${colorType} stays gray, as decodePng decodes it`, () => {
    const rng = new Rng(testSeed());
    const spec = randomSpec(rng, colorType, 8, 6, 5, false);
    const bytes = buildPng(spec);
    const image = decodePngColor(bytes, 'gray.png');
    assert.is(image.channels, 1);
    assert.equal([...image.pixels], [...expectedGray(spec)]);
    assert.equal([...image.pixels], [...decodePng(bytes).pixels]);
  });
}

test('encodePng writes RGB and gray that decode back exactly', () => {
  const rng = new Rng(testSeed());
  const rgb = { width: 7, height: 4, channels: 3 as const, pixels: new Uint8Array(84).map(() => rng.int(256)) };
  const back = decodePngColor(encodePng(rgb));
  assert.equal([back.width, back.height, back.channels], [7, 4, 3]);
  assert.equal([...back.pixels], [...rgb.pixels]);
  const gray = { width: 3, height: 3, channels: 1 as const, pixels: new Uint8Array(9).map(() => rng.int(256)) };
  assert.equal([...decodePngColor(encodePng(gray)).pixels], [...gray.pixels]);
  assert.throws(() => encodePng({ ...rgb, pixels: rgb.pixels.subarray(1) }), /83 pixels for a 7x4 image/);
});

test.run();
