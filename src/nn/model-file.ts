// Models from JSON files (`train --model path.json`): the same shape as spec.ts's descriptions, checked
// field by field so a mistake is reported with the layer, the field and what was expected.
import { type LayerSpec, type ModelSpec, resolveLayers } from './spec.ts';

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

type Field = 'int' | 'name' | 'probability' | 'positive' | 'fraction';

/** Fields of each kind: required ones, and optional ones (marked with ?). */
const KINDS: Record<LayerSpec['kind'], Record<string, Field>> = {
  conv2d: { name: 'name', outChannels: 'int', kernel: 'int', 'stride?': 'int', 'padding?': 'int' },
  relu: {},
  maxpool2d: { kernel: 'int', 'stride?': 'int' },
  avgpool2d: { 'kernel?': 'int', 'stride?': 'int' },
  flatten: {},
  linear: { name: 'name', outFeatures: 'int' },
  batchnorm2d: { name: 'name', 'eps?': 'positive', 'momentum?': 'fraction' },
  batchnorm1d: { name: 'name', 'eps?': 'positive', 'momentum?': 'fraction' },
  dropout: { p: 'probability' },
};

const expected = (
  field: Field,
  key: string,
) => (field === 'int' && key === 'padding' ? 'an integer >= 0' : EXPECTED[field]);
const EXPECTED: Record<Field, string> = {
  int: 'an integer >= 1',
  name: 'a name of letters, digits and _ starting with a letter (PyTorch attribute names)',
  probability: 'a number in [0, 1)',
  positive: 'a number > 0',
  fraction: 'a number in [0, 1]',
};

function fieldOk(field: Field, key: string, value: unknown): boolean {
  switch (field) {
    case 'int':
      return Number.isInteger(value) && (value as number) >= (key === 'padding' ? 0 : 1) && (value as number) <= 4096;
    case 'name':
      return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(value);
    case 'probability':
      return typeof value === 'number' && value >= 0 && value < 1;
    case 'positive':
      return typeof value === 'number' && Number.isFinite(value) && value > 0;
    case 'fraction':
      return typeof value === 'number' && value >= 0 && value <= 1;
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed JSON value against the ModelSpec shape and that its layers fit together; `source` names the file. */
export function checkModelSpec(value: unknown, source: string): ModelSpec {
  const fail = (where: string, message: string): never => {
    throw new ModelFileError(`${source}: ${where}: ${message}`);
  };
  if (!isObject(value)) fail('the file', 'expected a JSON object {"name", "input", "classes", "layers"}');
  const model = value as Record<string, unknown>;
  for (const key of Object.keys(model)) {
    if (!['name', 'input', 'classes', 'layers'].includes(key)) {
      fail(`field "${key}"`, 'unknown field (name, input, classes, layers)');
    }
  }
  if (!fieldOk('name', 'name', model.name)) {
    fail('field "name"', `expected ${EXPECTED.name}, got ${JSON.stringify(model.name)}`);
  }
  const input = model.input;
  if (!Array.isArray(input) || input.length !== 3 || !input.every((d) => fieldOk('int', 'input', d))) {
    fail('field "input"', `expected [channels, height, width] of integers >= 1, got ${JSON.stringify(input)}`);
  }
  if (!fieldOk('int', 'classes', model.classes)) {
    fail('field "classes"', `expected an integer >= 1, got ${JSON.stringify(model.classes)}`);
  }
  if (!Array.isArray(model.layers) || model.layers.length === 0) {
    fail('field "layers"', 'expected a non-empty list of layers');
  }
  const names = new Set<string>();
  (model.layers as unknown[]).forEach((layer, index) => {
    const where = `layers[${index}]`;
    if (!isObject(layer)) return fail(where, 'expected an object with a "kind"');
    const kind = layer.kind as LayerSpec['kind'];
    const fields = Object.hasOwn(KINDS, String(kind)) ? KINDS[kind] : undefined;
    if (!fields) {
      return fail(
        `${where} field "kind"`,
        `expected one of ${Object.keys(KINDS).join(', ')}, got ${JSON.stringify(layer.kind)}`,
      );
    }
    const at = `${where} (${kind})`;
    for (const key of Object.keys(layer)) {
      if (key !== 'kind' && !(key in fields) && !(`${key}?` in fields)) {
        fail(
          `${at} field "${key}"`,
          `unknown field; ${kind} takes ${
            Object.keys(fields).map((f) => f.replace('?', ' (optional)')).join(', ') || 'no fields'
          }`,
        );
      }
    }
    for (const [spec, field] of Object.entries(fields)) {
      const key = spec.replace('?', '');
      if (!(key in layer)) {
        if (!spec.endsWith('?')) fail(`${at} field "${key}"`, `missing; expected ${expected(field, key)}`);
        continue;
      }
      if (!fieldOk(field, key, layer[key])) {
        fail(`${at} field "${key}"`, `expected ${expected(field, key)}, got ${JSON.stringify(layer[key])}`);
      }
    }
    if (typeof layer.name === 'string') {
      if (names.has(layer.name)) fail(`${at} field "name"`, `"${layer.name}" is already the name of an earlier layer`);
      names.add(layer.name);
    }
  });
  const spec = value as unknown as ModelSpec;
  try {
    resolveLayers(spec);
  } catch (err) {
    fail('layers', (err as Error).message);
  }
  return spec;
}
