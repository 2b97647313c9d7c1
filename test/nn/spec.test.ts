import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { DIGIT, type ModelSpec, parameterSpecs, resolveLayers } from '../../src/nn/spec.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';

const test = suite('model description');

test('digit has the tutorial network shapes and PyTorch state_dict names', () => {
  const shapes = Object.fromEntries(parameterSpecs(DIGIT).map((p) => [p.name, p.shape]));
  assert.equal(shapes, {
    'conv1.weight': [10, 1, 5, 5],
    'conv1.bias': [10],
    'conv2.weight': [20, 10, 3, 3],
    'conv2.bias': [20],
    'fc1.weight': [500, 2000],
    'fc1.bias': [500],
    'fc2.weight': [10, 500],
    'fc2.bias': [10],
  });
  const outShapes = resolveLayers(DIGIT).map((l) => l.outShape);
  assert.equal(outShapes, [[10, 24, 24], [10, 24, 24], [10, 12, 12], [20, 10, 10], [20, 10, 10], [2000], [500], [500], [
    10,
  ]]);
});

test('stride and padding are part of conv output shapes', () => {
  const model: ModelSpec = {
    name: 'padded',
    input: [3, 9, 7],
    classes: 4,
    layers: [
      { kind: 'conv2d', name: 'c', outChannels: 5, kernel: 3, stride: 2, padding: 1 },
      { kind: 'flatten' },
      { kind: 'linear', name: 'fc', outFeatures: 4 },
    ],
  };
  assert.equal(resolveLayers(model)[0].outShape, [5, 5, 4]);
});

test('a model that does not end in class scores is rejected with its name', () => {
  const bad: ModelSpec = { name: 'bad', input: [1, 4, 4], classes: 10, layers: [{ kind: 'flatten' }] };
  assert.throws(() => resolveLayers(bad), /bad: the last layer must output \[10\]/);
  const noFlatten: ModelSpec = {
    name: 'nf',
    input: [1, 4, 4],
    classes: 2,
    layers: [{ kind: 'linear', name: 'fc', outFeatures: 2 }],
  };
  assert.throws(() => resolveLayers(noFlatten), /add a flatten layer/);
});

test('flat parameter layout aligns every tensor to 256 bytes', () => {
  const layout = new ParameterLayout(parameterSpecs(DIGIT));
  for (const slot of layout.slots) assert.is(slot.offset % 64, 0, slot.name);
  assert.is(layout.parameterCount, 250 + 10 + 1800 + 20 + 1000000 + 500 + 5000 + 10);
  const flat = initParameters(layout, 7);
  const back = layout.join(layout.split(flat), 'test');
  assert.equal(Array.from(back), Array.from(flat));
});

test('initialisation is U(±1/sqrt(fan_in)), seeded, and padding stays zero', () => {
  const layout = new ParameterLayout(parameterSpecs(DIGIT));
  const a = initParameters(layout, 3);
  const b = initParameters(layout, 3);
  assert.equal(Array.from(a.subarray(0, 1000)), Array.from(b.subarray(0, 1000)));
  for (const slot of layout.slots) {
    const bound = 1 / Math.sqrt(slot.fanIn);
    let max = 0;
    for (let i = 0; i < slot.count; i++) max = Math.max(max, Math.abs(a[slot.offset + i]));
    assert.ok(max <= bound, `${slot.name}: max |w| ${max} > bound ${bound}`);
    if (slot.count >= 200) assert.ok(max > 0.95 * bound, `${slot.name}: max |w| ${max} far below bound ${bound}`);
  }
  const conv1Bias = layout.slot('conv1.bias');
  for (let i = conv1Bias.offset + conv1Bias.count; i < conv1Bias.offset + 64; i++) assert.is(a[i], 0);
});

test('join names a missing or mis-sized tensor', () => {
  const layout = new ParameterLayout(parameterSpecs(DIGIT));
  const tensors = layout.split(initParameters(layout, 1));
  tensors.delete('fc2.bias');
  assert.throws(() => layout.join(tensors, 'ckpt'), /ckpt: missing tensor "fc2.bias"/);
  tensors.set('fc2.bias', new Float32Array(3));
  assert.throws(() => layout.join(tensors, 'ckpt'), /"fc2.bias" has 3 elements, expected 10/);
});

test.run();
