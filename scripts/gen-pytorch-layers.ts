// Writes bench/pytorch_layers.py: each layer kind's torch.nn module (its definition's `pytorch`, in
// src/nn/layers/), so bench/pytorch_digit.py builds any model description with no list of its own.
//   npm run gen:pytorch        (deno run --allow-read --allow-write scripts/gen-pytorch-layers.ts)
// test/nn/layers.test.ts fails when the committed file differs from what this writes.
import { readdirSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { LAYER_KINDS, layerDefinition } from '../src/nn/layers/index.ts';

/** bench/pytorch_layers.py of the repository that holds this script (from scripts/ or build/scripts/). */
export function pytorchLayersPath(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!readdirSync(dir).includes('package.json')) {
    if (dirname(dir) === dir) throw new Error('gen-pytorch-layers: no package.json above this script');
    dir = dirname(dir);
  }
  return join(dir, 'bench', 'pytorch_layers.py');
}

/** The module's text: LAYERS maps each kind to a function of (layer, per-sample input shape). */
export function generatePytorchLayers(): string {
  return [
    '# Generated from src/nn/layers/ by `npm run gen:pytorch` (scripts/gen-pytorch-layers.ts); do not edit.',
    '# Each layer kind as a torch.nn module, from its model-file object and its per-sample input shape.',
    'import torch.nn as nn',
    '',
    'LAYERS = {',
    ...LAYER_KINDS.map((kind) => `    ${JSON.stringify(kind)}: lambda layer, shape: ${layerDefinition(kind).pytorch},`),
    '}',
    '',
  ].join('\n');
}

const isMain = (() => {
  const argv1 = process.argv[1];
  return argv1 !== undefined &&
    fileURLToPath(import.meta.url).replace(/\.[jt]s$/, '') === argv1.replace(/\.[jt]s$/, '');
})();

if (isMain) {
  const path = pytorchLayersPath();
  // Written beside, then renamed: an interrupted run leaves the old file whole.
  writeFileSync(`${path}.tmp`, generatePytorchLayers());
  renameSync(`${path}.tmp`, path);
  console.log(`wrote ${path}`);
}
