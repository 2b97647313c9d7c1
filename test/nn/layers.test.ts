// The layer registry (src/nn/layers/): every kind is defined, documented where users read about kinds,
// and its PyTorch module is what bench/pytorch_layers.py holds.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { generatePytorchLayers, pytorchLayersPath } from '../../scripts/gen-pytorch-layers.ts';
import { LAYER_KINDS, layerDefinition } from '../../src/nn/layers/index.ts';
import { BEST, DIGIT, FAST, resolveLayers } from '../../src/nn/spec.ts';
import { repoRoot } from '../helpers/mnist.ts';

const test = suite('layer registry');

test('each kind is defined by its own module under its own name', () => {
  for (const kind of LAYER_KINDS) assert.is(layerDefinition(kind).kind, kind);
  assert.throws(() => layerDefinition('swish' as never), /no layer kind "swish"/);
});

test("defineModel's doc lists every kind with its fields, in the registry's order", () => {
  const mod = readFileSync(join(repoRoot(), 'src', 'mod.ts'), 'utf8');
  const listed = [...mod.matchAll(/^ \* - (`\w+`.*)$/gm)].map((m) => m[1]);
  assert.equal(listed, LAYER_KINDS.map((kind) => layerDefinition(kind).summary));
});

test('bench/pytorch_layers.py is up to date with src/nn/layers/ (else run `npm run gen:pytorch`)', () => {
  assert.ok(
    readFileSync(pytorchLayersPath(), 'utf8') === generatePytorchLayers(),
    'run `npm run gen:pytorch` and commit it',
  );
});

test('layers without a name are named by kind and ordinal', () => {
  assert.equal(resolveLayers(FAST).filter((l) => l.spec.kind === 'maxpool2d').map((l) => l.name), [
    'maxpool2d#1',
    'maxpool2d#2',
  ]);
  assert.equal(resolveLayers(DIGIT).map((l) => l.name).slice(0, 3), ['conv1', 'relu#1', 'maxpool2d#1']);
  assert.equal(new Set(resolveLayers(BEST).map((l) => l.name)).size, BEST.layers.length);
});

test.run();
