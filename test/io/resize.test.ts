import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { axisTaps, convertChannels, type RasterImage, resizeToPlanar } from '../../src/io/resize.ts';
import { Rng } from '../../src/util/random.ts';

const test = suite('resize');

test('same size is the identity, interleaved RGB becoming planar', () => {
  const image: RasterImage = { width: 2, height: 1, channels: 3, pixels: Uint8Array.of(1, 2, 3, 4, 5, 6) };
  assert.equal([...resizeToPlanar(image, 2, 1)], [1, 4, 2, 5, 3, 6]);
});

test('shrinking by an integer factor averages each block (area)', () => {
  const rng = new Rng(7);
  const pixels = new Uint8Array(8 * 6).map(() => rng.int(256));
  const out = resizeToPlanar({ width: 8, height: 6, channels: 1, pixels }, 4, 3);
  for (let y = 0; y < 3; y++) {
    for (let x = 0; x < 4; x++) {
      const block = [
        pixels[2 * y * 8 + 2 * x],
        pixels[2 * y * 8 + 2 * x + 1],
        pixels[(2 * y + 1) * 8 + 2 * x],
        pixels[(2 * y + 1) * 8 + 2 * x + 1],
      ];
      assert.is(out[y * 4 + x], Math.round(block.reduce((a, b) => a + b) / 4), `(${x}, ${y})`);
    }
  }
});

test('shrinking by a fractional factor weighs partly covered pixels by their overlap', () => {
  // 3 -> 2: output 0 covers [0, 1.5): all of pixel 0, half of pixel 1.
  const taps = axisTaps(3, 2);
  assert.equal([taps.first[0], taps.count[0], ...taps.weights[0]], [0, 2, 2 / 3, 1 / 3]);
  assert.equal([taps.first[1], taps.count[1], ...taps.weights[1]], [1, 2, 1 / 3, 2 / 3]);
  const out = resizeToPlanar({ width: 3, height: 1, channels: 1, pixels: Uint8Array.of(0, 90, 180) }, 2, 1);
  assert.equal([...out], [30, 150]);
});

test('enlarging interpolates bilinearly with half-pixel centres, edges clamped (as PIL)', () => {
  // 2 -> 4: centres map to -0.25, 0.25, 0.75, 1.25 -> clamped 0, 0.25, 0.75, 1.
  const out = resizeToPlanar({ width: 2, height: 1, channels: 1, pixels: Uint8Array.of(0, 200) }, 4, 1);
  assert.equal([...out], [0, 50, 150, 200]);
  const tall = resizeToPlanar({ width: 1, height: 2, channels: 1, pixels: Uint8Array.of(100, 0) }, 1, 4);
  assert.equal([...tall], [100, 75, 25, 0]);
});

test('a constant picture stays constant at any size, and weights always sum to 1', () => {
  for (const [from, to] of [[28, 32], [100, 32], [33, 32], [7, 3], [1, 5]]) {
    const taps = axisTaps(from, to);
    for (const w of taps.weights) assert.ok(Math.abs(w.reduce((a, b) => a + b) - 1) < 1e-12, `${from} -> ${to}`);
    const out = resizeToPlanar(
      { width: from, height: from, channels: 1, pixels: new Uint8Array(from * from).fill(77) },
      to,
      to,
    );
    assert.ok(out.every((v) => v === 77), `${from} -> ${to}`);
  }
});

test('gray becomes RGB by copying; RGB becomes gray by luminance', () => {
  const gray: RasterImage = { width: 2, height: 1, channels: 1, pixels: Uint8Array.of(10, 200) };
  assert.equal([...convertChannels(gray, 3).pixels], [10, 10, 10, 200, 200, 200]);
  const rgb: RasterImage = { width: 2, height: 1, channels: 3, pixels: Uint8Array.of(255, 0, 0, 10, 20, 30) };
  // 0.299 * 255 = 76.245; 0.299 * 10 + 0.587 * 20 + 0.114 * 30 = 18.15.
  assert.equal([...convertChannels(rgb, 1).pixels], [76, 18]);
  assert.is(convertChannels(rgb, 3), rgb, 'no copy when nothing changes');
});

test.run();
