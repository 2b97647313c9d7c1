// PyTorch state_dicts as safetensors.torch.save_file writes them: no __metadata__, tensors ordered by
// (alignment, name), the header padded with spaces. The tests write such files byte by byte.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importStateDict, StateDictError } from '../../src/io/state-dict.ts';
import { ParameterLayout } from '../../src/nn/parameters.ts';
import { DIGIT, parameterSpecs } from '../../src/nn/spec.ts';
import { loadCheckpoint } from '../../src/train/checkpoint.ts';
import { Rng } from '../../src/util/random.ts';
import { runCli } from '../helpers/cli.ts';

const test = suite('io/state-dict');
const layout = new ParameterLayout(parameterSpecs(DIGIT));

interface RawTensor {
  dtype: string;
  shape: number[];
  bytes: Uint8Array;
}

/** The bytes save_file writes for `tensors`. */
function saveFile(tensors: Record<string, RawTensor>): Uint8Array {
  const align: Record<string, number> = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8 };
  const names = Object.keys(tensors).sort((a, b) =>
    (align[tensors[b].dtype] - align[tensors[a].dtype]) || (a < b ? -1 : a > b ? 1 : 0)
  );
  const header: Record<string, unknown> = {};
  let offset = 0;
  for (const name of names) {
    const t = tensors[name];
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + t.bytes.length] };
    offset += t.bytes.length;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const text = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + text.length + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.length), true);
  out.set(text, 8);
  let at = 8 + text.length;
  for (const name of names) {
    out.set(tensors[name].bytes, at);
    at += tensors[name].bytes.length;
  }
  return out;
}

const f32 = (values: Float32Array): Uint8Array =>
  new Uint8Array(values.buffer.slice(values.byteOffset, values.byteOffset + values.byteLength));

/** A random state_dict of digit: name -> values, and the file. */
function digitStateDict(seed: number): { values: Map<string, Float32Array>; tensors: Record<string, RawTensor> } {
  const rng = new Rng(seed);
  const values = new Map<string, Float32Array>();
  const tensors: Record<string, RawTensor> = {};
  for (const slot of layout.slots) {
    const v = new Float32Array(slot.count).map(() => rng.uniform(-0.2, 0.2));
    values.set(slot.name, v);
    tensors[slot.name] = { dtype: 'F32', shape: slot.shape, bytes: f32(v) };
  }
  return { values, tensors };
}

function problemsOf(bytes: Uint8Array): string[] {
  try {
    importStateDict(bytes, DIGIT, 'sd.safetensors');
  } catch (err) {
    assert.instance(err, StateDictError);
    return [...(err as StateDictError).problems];
  }
  assert.unreachable('imported');
  return [];
}

test('a save_file state_dict of digit imports: every tensor lands in its slot, bit for bit', () => {
  const { values, tensors } = digitStateDict(7);
  const { params, metadata } = importStateDict(saveFile(tensors), DIGIT, 'sd.safetensors');
  assert.equal(metadata, {});
  for (const slot of layout.slots) {
    assert.equal([...params.subarray(slot.offset, slot.offset + slot.count)], [...values.get(slot.name)!], slot.name);
  }
});

test('each mismatch is named: missing, extra, shape, dtype, DataParallel prefix, non-finite', () => {
  const { tensors } = digitStateDict(8);
  const broken = { ...tensors };
  delete broken['fc2.bias'];
  broken['fc3.weight'] = { dtype: 'F32', shape: [2, 2], bytes: new Uint8Array(16) };
  broken['conv2.weight'] = { dtype: 'F32', shape: [20, 10, 5, 5], bytes: new Uint8Array(20 * 10 * 25 * 4) };
  broken['conv1.bias'] = { dtype: 'F16', shape: [10], bytes: new Uint8Array(20) };
  const nan = new Float32Array(500);
  nan[3] = Number.NaN;
  broken['fc1.bias'] = { dtype: 'F32', shape: [500], bytes: f32(nan) };
  const problems = problemsOf(saveFile(broken));
  assert.equal(problems, [
    '"conv1.bias" is F16, expected F32 (save model.float().state_dict())',
    '"conv2.weight" has shape [20, 10, 5, 5], expected [20, 10, 3, 3]',
    '"fc1.bias" holds NaN at element 3: the model diverged',
    'missing "fc2.bias" ([10] F32)',
    'unexpected "fc3.weight" [2, 2] F32: digit has no such parameter',
  ]);

  const wrapped = Object.fromEntries(Object.entries(tensors).map(([name, t]) => [`module.${name}`, t]));
  const prefixed = problemsOf(saveFile(wrapped));
  assert.ok(
    prefixed[0].startsWith(
      'missing "conv1.weight" ([10, 1, 5, 5] F32); the file has "module.conv1.weight": strip the prefix',
    ),
    prefixed[0],
  );
  assert.match(problemsOf(new TextEncoder().encode('PK\u0003\u0004 a torch.save zip'))[0], /not a safetensors file/);
});

test('CLI import writes a checkpoint eval reads, recording the dataset; a bad file exits 1 listing the problems', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'state-dict-'));
  try {
    const { values, tensors } = digitStateDict(9);
    writeFileSync(join(dir, 'sd.safetensors'), saveFile(tensors));
    const out = join(dir, 'out', 'digit.safetensors');
    const imported = await runCli([
      'import',
      '--model',
      'digit',
      join(dir, 'sd.safetensors'),
      '--out',
      out,
      '--dataset',
      'fashion-mnist',
    ]);
    assert.is(imported.code, 0, imported.stderr);
    const checkpoint = loadCheckpoint(out);
    assert.is(checkpoint.metadata.dataset, 'fashion-mnist');
    assert.equal([...layout.split(checkpoint.params).get('fc2.weight')!], [...values.get('fc2.weight')!]);
    const again = await runCli(['import', join(dir, 'sd.safetensors'), '--out', out]);
    assert.is(again.code, 2);
    assert.match(again.stderr, /exists; pass --overwrite/);

    const bad = { ...tensors, 'fc1.weight': { dtype: 'F32', shape: [500, 720], bytes: new Uint8Array(500 * 720 * 4) } };
    writeFileSync(join(dir, 'bad.safetensors'), saveFile(bad));
    const refused = await runCli(['import', join(dir, 'bad.safetensors'), '--out', join(dir, 'bad-out.safetensors')]);
    assert.is(refused.code, 1);
    assert.match(refused.stderr, /"fc1\.weight" has shape \[500, 720\], expected \[500, 2000\]/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
