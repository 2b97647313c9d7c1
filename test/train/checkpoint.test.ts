import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, copyFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { encodeSafetensors } from '../../src/io/safetensors.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs, type ModelSpec } from '../../src/nn/spec.ts';
import { CheckpointError, loadCheckpoint, optimizerPath, saveCheckpoint, stateFromCheckpoint } from '../../src/train/checkpoint.ts';
import { initialState, type TrainConfig } from '../../src/train/trainer.ts';
import { Rng } from '../../src/util/random.ts';

const test = suite('checkpoint');
const dir = mkdtempSync(join(tmpdir(), 'checkpoint-test-'));
const config: TrainConfig = { model: DIGIT, epochs: 20, batchSize: 64, seed: 9, shuffle: true, adam: ADAM_DEFAULTS };
const layout = new ParameterLayout(parameterSpecs(DIGIT));

function sampleState() {
  const state = initialState(initParameters(layout, 9));
  const rng = new Rng(1);
  state.adamM = rng.f32(layout.totalElements);
  state.adamV = rng.f32(layout.totalElements, 0, 1);
  for (const slot of layout.slots) {
    // Padding between tensors is not stored; keep it zero so the round trip is exact.
    const end = slot.offset + slot.count;
    const next = Math.ceil(end / 64) * 64;
    state.adamM.fill(0, end, next);
    state.adamV.fill(0, end, next);
  }
  Object.assign(state, { epoch: 3, batchInEpoch: 17, step: 2831, epochLossSum: 12.625, epochCorrect: 1070, epochSeen: 1088 });
  return state;
}

const expectError = (fn: () => unknown, pattern: RegExp) => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, CheckpointError);
    assert.match((err as Error).message, pattern);
    return;
  }
  assert.unreachable(`expected a CheckpointError matching ${pattern}`);
};

test('round trip keeps every value and the training position', async () => {
  const path = join(dir, 'a.safetensors');
  const state = sampleState();
  await saveCheckpoint(path, { config, state, withOptimizer: true });
  const loaded = loadCheckpoint(path, { expectModel: 'digit', withOptimizer: true });
  const back = stateFromCheckpoint(loaded);
  assert.equal(Array.from(back.params), Array.from(state.params));
  assert.equal(Array.from(back.adamM), Array.from(state.adamM));
  assert.equal(Array.from(back.adamV), Array.from(state.adamV));
  assert.equal([back.epoch, back.batchInEpoch, back.step, back.epochLossSum, back.epochCorrect, back.epochSeen],
    [3, 17, 2831, 12.625, 1070, 1088]);
  assert.is(loaded.metadata.seed, '9');
  assert.is(loaded.model.name, 'digit');
});

test('the same state gives the same bytes', async () => {
  const a = join(dir, 'same1.safetensors');
  const b = join(dir, 'same2.safetensors');
  await saveCheckpoint(a, { config, state: sampleState(), withOptimizer: false });
  await saveCheckpoint(b, { config, state: sampleState(), withOptimizer: false });
  assert.ok(readFileSync(a).equals(readFileSync(b)));
});

test('damaged, foreign and mismatched files are refused with the path', async () => {
  const path = join(dir, 'b.safetensors');
  await saveCheckpoint(path, { config, state: sampleState(), withOptimizer: true });
  const bytes = readFileSync(path);

  expectError(() => loadCheckpoint(join(dir, 'missing.safetensors')), /missing\.safetensors does not exist/);

  const flipped = Uint8Array.from(bytes);
  flipped[flipped.length - 5] ^= 0x40;
  writeFileSync(join(dir, 'flipped.safetensors'), flipped);
  expectError(() => loadCheckpoint(join(dir, 'flipped.safetensors')), /flipped\.safetensors.*damaged/);

  writeFileSync(join(dir, 'truncated.safetensors'), bytes.subarray(0, bytes.length - 100));
  expectError(() => loadCheckpoint(join(dir, 'truncated.safetensors')), /truncated\.safetensors/);

  writeFileSync(join(dir, 'text.safetensors'), 'hello, this is not a checkpoint');
  expectError(() => loadCheckpoint(join(dir, 'text.safetensors')), /text\.safetensors is not a valid safetensors file/);

  const foreign = encodeSafetensors({ 'conv1.weight': { shape: [2, 2], data: new Float32Array(4) } }, { format: 'other' });
  writeFileSync(join(dir, 'foreign.safetensors'), foreign);
  expectError(() => loadCheckpoint(join(dir, 'foreign.safetensors')), /not a checkpoint written by this tool/);

  expectError(() => loadCheckpoint(path, { expectModel: 'other' }), /holds model "digit", not "other"/);

  // Weights paired with another run's optimizer state.
  const other = join(dir, 'c.safetensors');
  const otherState = sampleState();
  otherState.step = 5;
  await saveCheckpoint(other, { config, state: otherState, withOptimizer: true });
  copyFileSync(optimizerPath(other), optimizerPath(path));
  expectError(() => loadCheckpoint(path, { withOptimizer: true }), /does not belong to/);
});

test('a checkpoint of another model is refused before use', async () => {
  const small: ModelSpec = { name: 'small', input: [1, 28, 28], classes: 10, layers: [
    { kind: 'flatten' }, { kind: 'linear', name: 'fc', outFeatures: 10 },
  ] };
  const smallLayout = new ParameterLayout(parameterSpecs(small));
  const path = join(dir, 'small.safetensors');
  await saveCheckpoint(path, { config: { ...config, model: small }, state: initialState(initParameters(smallLayout, 1)), withOptimizer: false });
  expectError(() => loadCheckpoint(path, { expectModel: 'digit' }), /holds model "small"/);
  assert.is(loadCheckpoint(path).model.name, 'small');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
