// Model descriptions from JSON: presets round-trip; mistakes are named by layer index, field and expectation.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkModelSpec } from '../../src/nn/model-file.ts';
import { BEST, DIGIT, FAST } from '../../src/nn/spec.ts';

const test = suite('model file');

test('the presets pass as JSON', () => {
  for (const model of [DIGIT, FAST, BEST]) {
    assert.equal(checkModelSpec(JSON.parse(JSON.stringify(model)), 'm.json'), model);
  }
});

// deno-lint-ignore no-explicit-any -- each case edits the parsed JSON freely, as a user's file might be
const broken = (edit: (m: any) => void) => {
  const m = JSON.parse(JSON.stringify(FAST));
  edit(m);
  try {
    checkModelSpec(m, 'my.json');
  } catch (err) {
    return (err as Error).message;
  }
  return 'accepted';
};

test('errors name the layer, the field and what was expected', () => {
  assert.is(
    broken((m) => (m.layers[0].kernel = '3')),
    'my.json: layers[0] (conv2d) field "kernel": expected an integer >= 1, got "3"',
  );
  assert.is(
    broken((m) => delete m.layers[9].outFeatures),
    'my.json: layers[9] (linear) field "outFeatures": missing; expected an integer >= 1',
  );
  assert.match(
    broken((m) => (m.layers[2].kind = 'swish')),
    'my.json: layers[2] field "kind": expected one of conv2d, relu',
  );
  assert.is(
    broken((m) => (m.layers[12].p = 1)),
    'my.json: layers[12] (dropout) field "p": expected a number in [0, 1), got 1',
  );
  assert.match(
    broken((m) => (m.layers[1].momentum = 2)),
    'layers[1] (batchnorm2d) field "momentum": expected a number in [0, 1]',
  );
  assert.match(
    broken((m) => (m.layers[0].kernal = 3)),
    'layers[0] (conv2d) field "kernal": unknown field; conv2d takes name, outChannels, kernel',
  );
  assert.match(
    broken((m) => (m.layers[5].name = 'conv1')),
    'layers[5] (batchnorm2d) field "name": "conv1" is already the name',
  );
  assert.match(broken((m) => (m.input = [1, 28])), 'field "input": expected [channels, height, width]');
  assert.match(broken((m) => m.layers.splice(8, 1)), /layers: fast layer 8 \(linear\): linear needs a flat input/);
  assert.match(broken((m) => (m.layers[1].kind = 'batchnorm1d')), /batchnorm1d needs a flat \[features\] input/);
});

test('keys are checked as own properties: toString, __proto__ and constructor are unknown fields', () => {
  for (const key of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
    const text = `{"name":"m","input":[1,28,28],"classes":10,"layers":[{"kind":"flatten"},` +
      `{"kind":"linear","name":"fc","outFeatures":10,${JSON.stringify(key)}:1}]}`;
    assert.throws(
      () => checkModelSpec(JSON.parse(text), 'm.json'),
      new RegExp(`layers\\[1\\] \\(linear\\) field "${key}": unknown field`),
    );
  }
});

test('caps: more than 256 layers, or a tensor of more than 2^26 values, is refused with the number', () => {
  const model = (layers: unknown[], input = [1, 28, 28]) => ({ name: 'm', input, classes: 10, layers });
  const fc = { kind: 'linear', name: 'fc', outFeatures: 10 };
  assert.throws(
    () => checkModelSpec(model([{ kind: 'flatten' }, ...Array(300).fill({ kind: 'relu' }), fc]), 'm.json'),
    /m\.json: field "layers": 302 layers, more than the 256 a model may have/,
  );
  assert.throws(
    () => checkModelSpec(model([{ kind: 'flatten' }, fc], [4096, 4096, 4096]), 'm.json'),
    /is 68719476736 values per image/,
  );
  assert.throws(
    () =>
      checkModelSpec(
        model([
          { kind: 'flatten' },
          { kind: 'linear', name: 'big', outFeatures: 4096 },
          { kind: 'linear', name: 'big2', outFeatures: 4096 },
          { kind: 'linear', name: 'big3', outFeatures: 4096 },
          { kind: 'linear', name: 'big4', outFeatures: 10 },
        ], [64, 64, 64]),
        'm.json',
      ),
    /layers\[1\] \(linear\): big\.weight has 1073741824 values, more than the 67108864/,
  );
});

test.run();
