import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { ADAM_DEFAULTS } from '../../src/kernels/adam.ts';
import { decodeSafetensors, encodeSafetensors } from '../../src/io/safetensors.ts';
import { initParameters, ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, type ModelSpec, parameterSpecs } from '../../src/nn/spec.ts';
import {
  CheckpointError,
  legacyOptimizerPath,
  loadCheckpoint,
  NonFiniteStateError,
  optimizerPath,
  peekMetadata,
  removeStaleCheckpointFiles,
  saveCheckpoint,
  sealMetadata,
  stateFromCheckpoint,
  tensorsDigest,
} from '../../src/train/checkpoint.ts';
import { initialState, type TrainConfig } from '../../src/train/trainer.ts';
import { Rng } from '../../src/util/random.ts';
import { assertThrows } from '../helpers/compare.ts';

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
  Object.assign(state, {
    epoch: 3,
    batchInEpoch: 17,
    step: 2831,
    epochLossSum: 12.625,
    epochCorrect: 1070,
    epochSeen: 1088,
  });
  return state;
}

const expectError = (fn: () => unknown, pattern: RegExp) => assertThrows(fn, CheckpointError, pattern);

test('round trip keeps every value and the training position', async () => {
  const path = join(dir, 'a.safetensors');
  const state = sampleState();
  await saveCheckpoint(path, { config, state, withOptimizer: true });
  const loaded = loadCheckpoint(path, { expectModel: 'digit', withOptimizer: true });
  const back = stateFromCheckpoint(loaded);
  assert.equal(Array.from(back.params), Array.from(state.params));
  assert.equal(Array.from(back.adamM), Array.from(state.adamM));
  assert.equal(Array.from(back.adamV), Array.from(state.adamV));
  assert.equal([back.epoch, back.batchInEpoch, back.step, back.epochLossSum, back.epochCorrect, back.epochSeen], [
    3,
    17,
    2831,
    12.625,
    1070,
    1088,
  ]);
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

  const foreign = encodeSafetensors({ 'conv1.weight': { shape: [2, 2], data: new Float32Array(4) } }, {
    format: 'other',
  });
  writeFileSync(join(dir, 'foreign.safetensors'), foreign);
  expectError(() => loadCheckpoint(join(dir, 'foreign.safetensors')), /not a checkpoint written by this tool/);

  expectError(() => loadCheckpoint(path, { expectModel: 'other' }), /holds model "digit", not "other"/);

  // Weights of a checkpoint from before hashed optimizer names, beside another run's optimizer state.
  const legacy = join(dir, 'legacy.safetensors');
  writeLegacy(path, legacy);
  const other = join(dir, 'c.safetensors');
  const otherState = sampleState();
  otherState.step = 5;
  await saveCheckpoint(other, { config, state: otherState, withOptimizer: true });
  copyFileSync(optimizerPath(other, peekMetadata(other)), legacyOptimizerPath(legacy));
  expectError(
    () => loadCheckpoint(legacy, { withOptimizer: true }),
    /legacy\.adam\.safetensors does not belong to .*legacy\.safetensors \(SHA-256 mismatch: it holds the optimizer state of step 5, the weights are of step 2831\)/,
  );
});

/** Rewrites the checkpoint at `from` as one written before optimizer files had hashed names. */
function writeLegacy(from: string, to: string): void {
  const { tensors, metadata } = decodeSafetensors(readFileSync(from), from);
  const adam = optimizerPath(from, metadata);
  // Both came later than the legacy name.
  delete metadata.optimizer_file;
  delete metadata.metadata_sha256;
  writeFileSync(to, encodeSafetensors(Object.fromEntries(tensors), metadata));
  copyFileSync(adam, legacyOptimizerPath(to));
}

test('the metadata is sealed by metadata_sha256: an edited entry is refused, a file without the digest loads', async () => {
  const path = join(dir, 'sealed.safetensors');
  await saveCheckpoint(path, { config, state: sampleState(), withOptimizer: true, run: { dataset: 'mnist' } });
  const { tensors, metadata } = decodeSafetensors(readFileSync(path), path);
  assert.match(metadata.metadata_sha256, /^[0-9a-f]{64}$/);
  assert.is(stateFromCheckpoint(loadCheckpoint(path, { withOptimizer: true })).step, 2831);
  // Every entry is covered, the data digest and the run's own entries included.
  for (const key of ['epoch', 'dataset', 'tensors_sha256', 'model_spec']) {
    const edited = join(dir, `edited-${key}.safetensors`);
    writeFileSync(edited, encodeSafetensors(Object.fromEntries(tensors), { ...metadata, [key]: metadata[key] + ' ' }));
    expectError(
      () => loadCheckpoint(edited),
      new RegExp(`edited-${key}\\.safetensors: metadata does not match its recorded SHA-256.*edited or is damaged`),
    );
  }
  const added = join(dir, 'added.safetensors');
  writeFileSync(added, encodeSafetensors(Object.fromEntries(tensors), { ...metadata, note: 'x' }));
  expectError(() => loadCheckpoint(added), /added\.safetensors: metadata does not match/);
  // Written before the digest existed: loads, and its resume state is still range-checked.
  const older = join(dir, 'older.safetensors');
  const { metadata_sha256: _, ...unsealed } = metadata;
  writeFileSync(older, encodeSafetensors(Object.fromEntries(tensors), unsealed));
  assert.is(stateFromCheckpoint(loadCheckpoint(older, { withOptimizer: true })).step, 2831);
  writeFileSync(older, encodeSafetensors(Object.fromEntries(tensors), { ...unsealed, epoch: '21' }));
  expectError(
    () => stateFromCheckpoint(loadCheckpoint(older, { withOptimizer: true })),
    /older\.safetensors: metadata epoch is "21", expected an integer in \[0, epochs = 20\]/,
  );
});

test('checkpoints written before hashed optimizer names still resume', async () => {
  const path = join(dir, 'new.safetensors');
  await saveCheckpoint(path, { config, state: sampleState(), withOptimizer: true });
  const legacy = join(dir, 'old-style.safetensors');
  writeLegacy(path, legacy);
  const back = stateFromCheckpoint(loadCheckpoint(legacy, { withOptimizer: true }));
  assert.equal(Array.from(back.adamV), Array.from(sampleState().adamV));
});

test('the optimizer file is named by its hash and committed with the weights; a save removes the one before', async () => {
  const sub = join(dir, 'pair');
  const path = join(sub, 'run.safetensors');
  const first = sampleState();
  await saveCheckpoint(path, { config, state: first, withOptimizer: true });
  const firstAdam = optimizerPath(path, peekMetadata(path));
  assert.match(firstAdam, /run\.adam\.[0-9a-f]{16}\.safetensors$/);
  const second = { ...sampleState(), step: 2832, adamM: sampleState().adamM.map((x) => x / 2) };
  await saveCheckpoint(path, { config, state: second, withOptimizer: true });
  const secondAdam = optimizerPath(path, peekMetadata(path));
  assert.is.not(secondAdam, firstAdam);
  assert.equal(readdirSync(sub).sort(), [basename(secondAdam), 'run.safetensors'].sort());
  assert.is(stateFromCheckpoint(loadCheckpoint(path, { withOptimizer: true })).step, 2832);
});

test('killed between the optimizer write and the weights rename: the previous pair loads; the next run clears the debris', async () => {
  const sub = join(dir, 'killed');
  const path = join(sub, 'run.safetensors');
  await saveCheckpoint(path, { config, state: sampleState(), withOptimizer: true });
  // What a kill after the optimizer file's rename leaves: the next save's optimizer file, and temp files.
  const elsewhere = join(dir, 'elsewhere', 'run.safetensors');
  await saveCheckpoint(elsewhere, {
    config,
    state: { ...sampleState(), step: 2832, adamV: sampleState().adamV.map((x) => x / 4) },
    withOptimizer: true,
  });
  const orphan = basename(optimizerPath(elsewhere, peekMetadata(elsewhere)));
  copyFileSync(join(dir, 'elsewhere', orphan), join(sub, orphan));
  writeFileSync(join(sub, '.run.safetensors.4242.abc123.tmp'), 'partial');
  writeFileSync(join(sub, `.${orphan}.4242.def456.tmp`), 'partial');
  writeFileSync(join(sub, 'runner.safetensors'), 'not ours');
  assert.is(stateFromCheckpoint(loadCheckpoint(path, { withOptimizer: true })).step, 2831);
  assert.is(removeStaleCheckpointFiles(path).length, 3);
  assert.equal(
    readdirSync(sub).sort(),
    [basename(optimizerPath(path, peekMetadata(path))), 'run.safetensors', 'runner.safetensors'].sort(),
  );
  assert.is(stateFromCheckpoint(loadCheckpoint(path, { withOptimizer: true })).step, 2831);
});

test('damaged, missing, directory and symlink-loop optimizer files are each named as such', async () => {
  const path = join(dir, 'opt.safetensors');
  await saveCheckpoint(path, { config, state: sampleState(), withOptimizer: true });
  const adam = optimizerPath(path, peekMetadata(path));
  const good = readFileSync(adam);
  const flipped = Uint8Array.from(good);
  flipped[flipped.length - 9] ^= 0x10;
  writeFileSync(adam, flipped);
  expectError(
    () => loadCheckpoint(path, { withOptimizer: true }),
    /optimizer state .*opt\.adam\.[0-9a-f]{16}\.safetensors is damaged \(its tensor data/,
  );
  writeFileSync(adam, good.subarray(0, 1000));
  expectError(() => loadCheckpoint(path, { withOptimizer: true }), /is damaged \(not a valid safetensors file/);
  rmSync(adam);
  expectError(
    () => loadCheckpoint(path, { withOptimizer: true }),
    /optimizer state .*opt\.adam\.[0-9a-f]{16}\.safetensors is missing/,
  );
  mkdirSync(adam);
  expectError(
    () => loadCheckpoint(path, { withOptimizer: true }),
    /Optimizer state .*opt\.adam\.[0-9a-f]{16}\.safetensors is a directory, not a file/,
  );
  const loop = join(dir, 'loop.safetensors');
  symlinkSync(loop, loop);
  expectError(() => loadCheckpoint(loop), /loop\.safetensors cannot be read: is a symbolic link loop/);
});

test('non-finite values are never written, and a checkpoint holding them is refused', async () => {
  const path = join(dir, 'nan.safetensors');
  const state = sampleState();
  state.params[layout.slot('fc1.weight').offset + 7] = Number.POSITIVE_INFINITY;
  await saveCheckpoint(path, { config, state, withOptimizer: true }).then(
    () => assert.unreachable('saved a non-finite state'),
    (err) => {
      assert.instance(err, NonFiniteStateError);
      assert.match(err.message, /fc1\.weight holds NaN or Infinity/);
    },
  );
  assert.not.ok(existsSync(path), 'nothing written');
  const adamNaN = sampleState();
  adamNaN.adamV[3] = Number.NaN;
  await saveCheckpoint(path, { config, state: adamNaN, withOptimizer: true }).then(
    () => assert.unreachable('saved NaN moments'),
    () => {},
  );
  assert.not.ok(existsSync(path), 'nothing written');
  // A file from elsewhere (an older version) holding NaN: loading refuses it.
  await saveCheckpoint(join(dir, 'good.safetensors'), { config, state: sampleState(), withOptimizer: false });
  writeNonFinite(join(dir, 'good.safetensors'), path);
  expectError(() => loadCheckpoint(path), /nan\.safetensors: conv2\.bias holds NaN or Infinity .*diverged run/);
});

/** Copies a checkpoint with one value of conv2.bias set to NaN and the data digest updated, as a careless writer would. */
function writeNonFinite(from: string, to: string): void {
  const { tensors, metadata } = decodeSafetensors(Uint8Array.from(readFileSync(from)), from);
  (tensors.get('conv2.bias')!.data as Float32Array)[1] = Number.NaN;
  metadata.tensors_sha256 = tensorsDigest(tensors);
  writeFileSync(to, encodeSafetensors(Object.fromEntries(tensors), sealMetadata(metadata)));
}

test('an optimizer file given as a checkpoint is named as such', async () => {
  const path = join(dir, 'which.safetensors');
  await saveCheckpoint(path, { config, state: sampleState(), withOptimizer: true });
  expectError(
    () => loadCheckpoint(optimizerPath(path, peekMetadata(path))),
    /is an optimizer-state file \(Adam's moments\), not a model checkpoint/,
  );
});

test('a checkpoint of another model is refused before use', async () => {
  const small: ModelSpec = {
    name: 'small',
    input: [1, 28, 28],
    classes: 10,
    layers: [
      { kind: 'flatten' },
      { kind: 'linear', name: 'fc', outFeatures: 10 },
    ],
  };
  const smallLayout = new ParameterLayout(parameterSpecs(small));
  const path = join(dir, 'small.safetensors');
  await saveCheckpoint(path, {
    config: { ...config, model: small },
    state: initialState(initParameters(smallLayout, 1)),
    withOptimizer: false,
  });
  expectError(() => loadCheckpoint(path, { expectModel: 'digit' }), /holds model "small"/);
  assert.is(loadCheckpoint(path).model.name, 'small');
});

test.after(() => rmSync(dir, { recursive: true, force: true }));
test.run();
