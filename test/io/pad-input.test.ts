// The page's drawing as a model's input (src/io/pad-input.ts): MNIST's digit for a digit model, and
// for a folder-trained color model the same bytes predict makes from the same picture.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { padToModelInput, pageInputOf } from '../../src/io/pad-input.ts';
import { toMnistDigit } from '../../src/io/digit-image.ts';
import { encodePngGray } from '../../src/io/png.ts';
import { MNIST_NORMALIZATION } from '../../src/kernels/normalize.ts';
import { DIGIT, type ModelSpec } from '../../src/nn/spec.ts';
import { pictureForModel } from '../../src/cli/folder-data.ts';

const test = suite('io/pad-input');

const COLOR: ModelSpec = {
  name: 'color8',
  input: [3, 8, 12],
  classes: 2,
  layers: [{ kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 2 }],
};

/** A 280x280 white pad with a black stroke: a thick vertical bar and a short diagonal. */
function drawnPad() {
  const [width, height] = [280, 280];
  const pixels = new Uint8Array(width * height).fill(255);
  for (let y = 60; y < 220; y++) {
    for (let x = 120; x < 150; x++) pixels[y * width + x] = 0;
    const d = y - 60;
    if (d < 60) { for (let x = 90 + d; x < 100 + d; x++) pixels[y * width + x] = 20; }
  }
  return { width, height, pixels };
}

test('a digit model: MNIST preprocessing, its constants, digits as class names; the pad becomes toMnistDigit', () => {
  const page = pageInputOf(DIGIT, { folder: false });
  assert.equal(page.input, [1, 28, 28]);
  assert.is(page.preprocessing, 'mnist-digit');
  assert.equal(page.normalization, MNIST_NORMALIZATION);
  assert.equal(page.classes, ['0', '1', '2', '3', '4', '5', '6', '7', '8', '9']);
  const pad = drawnPad();
  assert.equal(padToModelInput(pad, page), toMnistDigit(pad));
  const fashion = pageInputOf(DIGIT, { folder: false }, ['T-shirt', 'Trouser', 'a', 'b', 'c', 'd', 'e', 'f', 'g', 'h']);
  assert.is(fashion.classes[1], 'Trouser');
});

test('a color folder model: its recorded constants and classes; the drawing in R, G and B at its size, as predict reads it', () => {
  const normalization = { mean: [0.5, 0.4, 0.3], std: [0.2, 0.25, 0.3] };
  const page = pageInputOf(COLOR, { folder: true, normalization, classes: ['blue', 'red'] });
  assert.equal(page.input, [3, 8, 12]);
  assert.is(page.preprocessing, 'picture');
  assert.equal(page.normalization, normalization);
  assert.equal(page.classes, ['blue', 'red']);
  const pad = drawnPad();
  const input = padToModelInput(pad, page);
  assert.is(input.length, 3 * 8 * 12);
  const plane = 8 * 12;
  assert.equal(input.subarray(0, plane), input.subarray(plane, 2 * plane), 'G is the drawing');
  assert.equal(input.subarray(0, plane), input.subarray(2 * plane), 'B is the drawing');
  assert.ok(Math.min(...input) < 60 && Math.max(...input) === 255, 'ink and paper both survive the resize');
  // predict's path for the same picture saved as a PNG file: the same bytes.
  assert.equal(input, pictureForModel(encodePngGray(pad), 'pad.png', COLOR));
});

test.run();
