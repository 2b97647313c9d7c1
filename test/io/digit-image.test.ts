import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Rng } from '../../src/util/random.ts';
import { DigitImageError, terminalArt, toMnistDigit } from '../../src/io/digit-image.ts';
import type { GrayImage } from '../../src/io/png.ts';
import { assertExactlyEqual, testSeed } from '../helpers/compare.ts';

const test = suite('digit-image');

type Segment = [x0: number, y0: number, x1: number, y1: number];

/** Stroke shapes in a unit box, roughly like handwritten digits. */
const SHAPES: Record<string, Segment[]> = {
  seven: [[0, 0, 1, 0], [1, 0, 0.35, 1]],
  four: [[0.7, 0, 0, 0.65], [0, 0.65, 1, 0.65], [0.75, 0.3, 0.75, 1]],
  zero: Array.from({ length: 24 }, (_, i) => {
    const a = (i / 24) * 2 * Math.PI;
    const b = ((i + 1) / 24) * 2 * Math.PI;
    return [
      0.5 + 0.5 * Math.cos(a),
      0.5 + 0.5 * Math.sin(a),
      0.5 + 0.5 * Math.cos(b),
      0.5 + 0.5 * Math.sin(b),
    ] as Segment;
  }),
  two: [[0, 0.2, 0.5, 0], [0.5, 0, 1, 0.25], [1, 0.25, 0, 1], [0, 1, 1, 1]],
};

function distanceToSegment(px: number, py: number, [x0, y0, x1, y1]: Segment): number {
  const dx = x1 - x0;
  const dy = y1 - y0;
  const t = Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / (dx * dx + dy * dy || 1)));
  return Math.hypot(px - (x0 + t * dx), py - (y0 + t * dy));
}

interface Drawing {
  width: number;
  height: number;
  /** Where the shape's unit box goes, in pixels. */
  box: { left: number; top: number; width: number; height: number };
  thickness: number;
  segments: Segment[];
}

/** Ink coverage in [0, 1] per pixel: strokes of the given thickness, lightly anti-aliased. */
function drawInk(d: Drawing): Float64Array {
  const ink = new Float64Array(d.width * d.height);
  const segments = d.segments.map(([x0, y0, x1, y1]) =>
    [
      d.box.left + x0 * d.box.width,
      d.box.top + y0 * d.box.height,
      d.box.left + x1 * d.box.width,
      d.box.top + y1 * d.box.height,
    ] as Segment
  );
  for (let y = 0; y < d.height; y++) {
    for (let x = 0; x < d.width; x++) {
      const dist = Math.min(...segments.map((s) => distanceToSegment(x + 0.5, y + 0.5, s)));
      ink[y * d.width + x] = Math.max(0, Math.min(1, d.thickness / 2 + 0.5 - dist));
    }
  }
  return ink;
}

function render(ink: Float64Array, width: number, height: number, background: number, foreground: number): GrayImage {
  const pixels = new Uint8Array(ink.length);
  for (let i = 0; i < ink.length; i++) pixels[i] = Math.round(background + (foreground - background) * ink[i]);
  return { width, height, pixels };
}

/** Nonzero bounding box and intensity center of mass (pixel-index coordinates) of a 28x28 result. */
function measure(digit: Uint8Array) {
  let [left, right, top, bottom] = [28, -1, 28, -1];
  let [mass, mx, my] = [0, 0, 0];
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      const v = digit[y * 28 + x];
      if (v === 0) continue;
      [left, right, top, bottom] = [Math.min(left, x), Math.max(right, x), Math.min(top, y), Math.max(bottom, y)];
      mass += v;
      mx += v * x;
      my += v * y;
    }
  }
  return { left, right, top, bottom, width: right - left + 1, height: bottom - top + 1, cx: mx / mass, cy: my / mass };
}

function randomDrawing(rng: Rng, shape: Segment[]): Drawing {
  const width = 30 + rng.int(170);
  const height = 30 + rng.int(170);
  const boxWidth = 12 + rng.int(Math.max(1, width - 20));
  const boxHeight = 12 + rng.int(Math.max(1, height - 20));
  const thickness = 1.5 + rng.next() * Math.max(0, Math.min(boxWidth, boxHeight) / 8);
  const pad = Math.ceil(thickness / 2) + 2;
  const boxW = Math.min(boxWidth, width - 2 * pad);
  const boxH = Math.min(boxHeight, height - 2 * pad);
  return {
    width,
    height,
    thickness,
    segments: shape,
    box: {
      left: pad + rng.int(width - 2 * pad - boxW + 1),
      top: pad + rng.int(height - 2 * pad - boxH + 1),
      width: boxW,
      height: boxH,
    },
  };
}

test('centers a digit drawn at any position, size and polarity: box side 20, center of mass at (14, 14)', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  let centered = 0;
  for (let trial = 0; trial < 24; trial++) {
    const name = Object.keys(SHAPES)[trial % 4];
    const drawing = randomDrawing(rng, SHAPES[name]);
    const darkInk = rng.next() < 0.5;
    const paper = darkInk ? 170 + rng.int(86) : rng.int(70);
    const pen = darkInk ? rng.int(60) : 190 + rng.int(66);
    const image = render(drawInk(drawing), drawing.width, drawing.height, paper, pen);
    const digit = toMnistDigit(image);
    const what = `${name} #${trial} on ${drawing.width}x${drawing.height}, box ${JSON.stringify(drawing.box)}, ` +
      `${darkInk ? 'dark on light' : 'light on dark'} (${pen} on ${paper}), seed=${seed}`;
    assert.is(digit.length, 784, what);
    const m = measure(digit);
    assert.is(Math.max(m.width, m.height), 20, `${what}: box ${m.width}x${m.height}`);
    // Within 0.5 px, unless centering would push ink off the canvas: then the digit sits against
    // the edge (all ink kept) and the center of mass is as close as that allows.
    const offX = m.cx - 14;
    const offY = m.cy - 14;
    const atEdgeX = (offX < 0 && m.right === 27) || (offX > 0 && m.left === 0);
    const atEdgeY = (offY < 0 && m.bottom === 27) || (offY > 0 && m.top === 0);
    assert.ok(Math.abs(offX) <= 0.5 || (atEdgeX && Math.abs(offX) < 2), `${what}: center of mass x ${m.cx}`);
    assert.ok(Math.abs(offY) <= 0.5 || (atEdgeY && Math.abs(offY) < 2), `${what}: center of mass y ${m.cy}`);
    if (Math.abs(offX) <= 0.5 && Math.abs(offY) <= 0.5) centered++;
    assert.is(Math.max(...digit), 255, `${what}: strokes peak at white`);
    // The corners stay background (0).
    for (const i of [0, 27, 27 * 28, 783]) assert.is(digit[i], 0, `${what}: corner ${i}`);
  }
  assert.ok(centered >= 20, `only ${centered} of 24 digits centered within 0.5 px, seed=${seed}`);
});

test('dark-on-light and light-on-dark versions of a drawing give the same digit', () => {
  const rng = new Rng(testSeed());
  const drawing = randomDrawing(rng, SHAPES.two);
  const ink = drawInk(drawing);
  const a = toMnistDigit(render(ink, drawing.width, drawing.height, 0, 255));
  const b = toMnistDigit(render(ink, drawing.width, drawing.height, 255, 0));
  assertExactlyEqual(b, a, 'inverted drawing');
  assertExactlyEqual(toMnistDigit(render(ink, drawing.width, drawing.height, 0, 255)), a, 'repeat call');
});

test('aspect ratio is kept: a tall stroke stays thin, a wide one flat', () => {
  const tall = new Uint8Array(40 * 100).fill(255);
  for (let y = 20; y < 80; y++) for (let x = 17; x < 23; x++) tall[y * 40 + x] = 0; // 6 x 60 black bar
  let m = measure(toMnistDigit({ width: 40, height: 100, pixels: tall }));
  assert.equal([m.width, m.height], [2, 20]);
  const wide = new Uint8Array(100 * 40);
  for (let y = 17; y < 23; y++) for (let x = 20; x < 80; x++) wide[y * 100 + x] = 255;
  m = measure(toMnistDigit({ width: 100, height: 40, pixels: wide }));
  assert.equal([m.width, m.height], [20, 2]);
});

test('a small drawing is scaled up; a single dot fills the 20x20 box', () => {
  const small = new Uint8Array(9 * 11);
  for (let y = 2; y < 9; y++) small[y * 9 + 4] = 255;
  for (let x = 2; x < 7; x++) small[2 * 9 + x] = 255;
  let m = measure(toMnistDigit({ width: 9, height: 11, pixels: small }));
  assert.is(m.height, 20);
  const dot = new Uint8Array(25).fill(230);
  dot[12] = 20;
  const digit = toMnistDigit({ width: 5, height: 5, pixels: dot });
  m = measure(digit);
  assert.equal([m.width, m.height], [20, 20]);
  assert.is(digit.filter((v) => v === 255).length, 400);
});

test('a gray, noisy photo background is removed by the contrast stretch', () => {
  const seed = testSeed();
  const rng = new Rng(seed);
  const drawing: Drawing = {
    width: 120,
    height: 90,
    box: { left: 40, top: 15, width: 35, height: 60 },
    thickness: 6,
    segments: SHAPES.seven,
  };
  const ink = drawInk(drawing);
  const clean = toMnistDigit(render(ink, 120, 90, 255, 0));
  const photo = render(ink, 120, 90, 185, 70);
  for (let i = 0; i < photo.pixels.length; i++) {
    photo.pixels[i] = Math.max(0, Math.min(255, photo.pixels[i] + rng.int(21) - 10));
  }
  const digit = toMnistDigit(photo);
  const a = measure(clean);
  const b = measure(digit);
  assert.is(Math.max(b.width, b.height), 20, `seed=${seed}`);
  assert.ok(Math.abs(a.cx - b.cx) < 1 && Math.abs(a.cy - b.cy) < 1, `seed=${seed}: ${JSON.stringify([a, b])}`);
  let diff = 0;
  for (let i = 0; i < 784; i++) diff += Math.abs(clean[i] - digit[i]);
  assert.ok(diff / 784 < 20, `mean difference ${diff / 784} from the clean version, seed=${seed}`);
});

test('an MNIST-style digit that is already centered stays put', () => {
  const drawing: Drawing = {
    width: 28,
    height: 28,
    box: { left: 8, top: 4, width: 12, height: 20 },
    thickness: 2.5,
    segments: SHAPES.zero,
  };
  const source = render(drawInk(drawing), 28, 28, 0, 255);
  const before = measure(source.pixels);
  const after = measure(toMnistDigit(source));
  assert.ok(
    Math.abs(before.cx - after.cx) <= 1 && Math.abs(before.cy - after.cy) <= 1,
    JSON.stringify([before, after]),
  );
});

test('blank pictures are refused with a clear error', () => {
  const rng = new Rng(testSeed());
  const blank = (fill: (i: number) => number) => ({
    width: 30,
    height: 20,
    pixels: new Uint8Array(600).map((_, i) => fill(i)),
  });
  for (
    const image of [blank(() => 255), blank(() => 0), blank(() => 128), blank(() => 200 + rng.int(25)), {
      width: 1,
      height: 1,
      pixels: Uint8Array.of(9),
    }]
  ) {
    assert.throws(
      () => toMnistDigit(image),
      (err: Error) => err instanceof DigitImageError && /blank: no ink stands out/.test(err.message),
    );
  }
  assert.throws(
    () => toMnistDigit({ width: 3, height: 3, pixels: new Uint8Array(8) }),
    (err: Error) => err instanceof DigitImageError && /3x3 with 8 pixels/.test(err.message),
  );
  assert.throws(
    () => toMnistDigit({ width: 0, height: 0, pixels: new Uint8Array(0) }),
    (err: Error) => err instanceof DigitImageError,
  );
});

test('terminalArt maps dark to space and light to @, one line per row', () => {
  assert.is(terminalArt(Uint8Array.of(0, 128, 255, 255, 0, 25), 3, 2), ' +@\n@  ');
  const ramp = terminalArt(Uint8Array.from({ length: 10 }, (_, i) => Math.floor((i * 256) / 10) + 1), 10, 1);
  assert.is(ramp, ' .:-=+*#%@');
  const art = terminalArt(new Uint8Array(784), 28, 28).split('\n');
  assert.is(art.length, 28);
  assert.ok(art.every((line) => line.length === 28));
  assert.throws(() => terminalArt(new Uint8Array(5), 3, 2), /5 pixels for a 3x2 image/);
});

test.run();
