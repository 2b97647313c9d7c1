// Models from JSON files (`train --model path.json`): the same shape as spec.ts's descriptions, checked
// field by field so a mistake is reported with the layer, the field and what was expected.
import { type Field, isLayerKind, LAYER_KINDS, layerDefinition } from './layers/index.ts';
import { type ModelSpec, type ResolvedLayer, resolveLayers } from './spec.ts';

/** More layers than any network here needs; a file with 200,000 would spend minutes compiling kernels. */
export const MAX_LAYERS = 256;
/** Values in one tensor (an image's activations at one layer, or one weight): 256 MiB of float32. */
export const MAX_TENSOR_ELEMENTS = 2 ** 26;

export class ModelFileError extends Error {
  override name = 'ModelFileError';
}

const EXPECTED: Record<Field, string> = {
  int: 'an integer >= 1',
  count: 'an integer >= 0',
  name: 'a name of letters, digits and _ starting with a letter (PyTorch attribute names)',
  probability: 'a number in [0, 1)',
  positive: 'a number > 0',
  fraction: 'a number in [0, 1]',
  number: 'a finite number',
};

const isInteger = (value: unknown, least: number): boolean =>
  Number.isInteger(value) && (value as number) >= least && (value as number) <= 4096;

function fieldOk(field: Field, value: unknown): boolean {
  switch (field) {
    case 'int':
      return isInteger(value, 1);
    case 'count':
      return isInteger(value, 0);
    case 'name':
      return typeof value === 'string' && /^[A-Za-z][A-Za-z0-9_]{0,63}$/.test(value);
    case 'probability':
      return typeof value === 'number' && value >= 0 && value < 1;
    case 'positive':
      return typeof value === 'number' && Number.isFinite(value) && value > 0;
    case 'fraction':
      return typeof value === 'number' && value >= 0 && value <= 1;
    case 'number':
      return typeof value === 'number' && Number.isFinite(value);
  }
}

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Checks a parsed JSON value against the ModelSpec shape and that its layers fit together; `source` names the file. */
export function checkModelSpec(value: unknown, source: string): ModelSpec {
  function fail(where: string, message: string): never {
    throw new ModelFileError(`${source}: ${where}: ${message}`);
  }
  if (!isObject(value)) fail('the file', 'expected a JSON object {"name", "input", "classes", "layers"}');
  const model = value;
  for (const key of Object.keys(model)) {
    if (!['name', 'input', 'classes', 'layers'].includes(key)) {
      fail(`field "${key}"`, 'unknown field (name, input, classes, layers)');
    }
  }
  if (!fieldOk('name', model.name)) {
    fail('field "name"', `expected ${EXPECTED.name}, got ${JSON.stringify(model.name)}`);
  }
  const input = model.input;
  if (!Array.isArray(input) || input.length !== 3 || !input.every((d) => fieldOk('int', d))) {
    fail('field "input"', `expected [channels, height, width] of integers >= 1, got ${JSON.stringify(input)}`);
  }
  if (!fieldOk('int', model.classes)) {
    fail('field "classes"', `expected an integer >= 1, got ${JSON.stringify(model.classes)}`);
  }
  const layers: unknown[] = Array.isArray(model.layers) && model.layers.length > 0
    ? model.layers
    : fail('field "layers"', 'expected a non-empty list of layers');
  if (layers.length > MAX_LAYERS) {
    fail('field "layers"', `${layers.length} layers, more than the ${MAX_LAYERS} a model may have`);
  }
  const names = new Set<string>();
  layers.forEach((layer, index) => {
    const where = `layers[${index}]`;
    if (!isObject(layer)) return fail(where, 'expected an object with a "kind"');
    const kind = layer.kind;
    if (!isLayerKind(kind)) {
      return fail(`${where} field "kind"`, `expected one of ${LAYER_KINDS.join(', ')}, got ${JSON.stringify(kind)}`);
    }
    const fields = layerDefinition(kind).fields;
    const at = `${where} (${kind})`;
    for (const key of Object.keys(layer)) {
      if (key !== 'kind' && !Object.hasOwn(fields, key) && !Object.hasOwn(fields, `${key}?`)) {
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
      if (!Object.hasOwn(layer, key)) {
        if (!spec.endsWith('?')) fail(`${at} field "${key}"`, `missing; expected ${EXPECTED[field]}`);
        continue;
      }
      if (!fieldOk(field, layer[key])) {
        fail(`${at} field "${key}"`, `expected ${EXPECTED[field]}, got ${JSON.stringify(layer[key])}`);
      }
    }
    if (typeof layer.name === 'string') {
      if (names.has(layer.name)) fail(`${at} field "name"`, `"${layer.name}" is already the name of an earlier layer`);
      names.add(layer.name);
    }
  });
  // Every field was checked above: the values are what ModelSpec says.
  const spec: ModelSpec = {
    name: model.name as string,
    input: input as ModelSpec['input'],
    classes: model.classes as number,
    layers: model.layers as ModelSpec['layers'],
  };
  const inputSize = (input as number[]).reduce((a, b) => a * b, 1);
  if (inputSize > MAX_TENSOR_ELEMENTS) {
    fail(
      'field "input"',
      `[${input}] is ${inputSize} values per image, more than the ${MAX_TENSOR_ELEMENTS} a tensor may have`,
    );
  }
  let resolved: ResolvedLayer[] = [];
  try {
    resolved = resolveLayers(spec);
  } catch (err) {
    fail('layers', (err as Error).message);
  }
  // Sizes that would fail deep in an allocation ("Invalid typed array length"), said here instead.
  resolved.forEach((layer, index) => {
    const size = layer.outShape.reduce((a, b) => a * b, 1);
    if (size > MAX_TENSOR_ELEMENTS) {
      fail(
        `layers[${index}] (${layer.spec.kind})`,
        `outputs ${size} values per image, more than the ${MAX_TENSOR_ELEMENTS} a tensor may have`,
      );
    }
    for (const param of layer.params) {
      const count = param.shape.reduce((a, b) => a * b, 1);
      if (count > MAX_TENSOR_ELEMENTS) {
        fail(
          `layers[${index}] (${layer.spec.kind})`,
          `${param.name} has ${count} values, more than the ${MAX_TENSOR_ELEMENTS} a tensor may have`,
        );
      }
    }
  });
  return spec;
}
