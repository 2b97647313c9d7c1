// `--model NAME|FILE`: a preset's name, or a model description in a JSON file (src/nn/model-file.ts).
import { readRegularFile } from '../io/files.ts';
import { checkModelSpec } from '../nn/model-file.ts';
import { getModel, type ModelSpec } from '../nn/spec.ts';
import { UsageError } from './args.ts';

/** Whether --model names a file rather than a preset (a file's model brings no preset recipe). */
export function isModelFile(value: string): boolean {
  return /\.json$/i.test(value);
}

/** The model --model names; an unknown name or a bad file is a usage error naming it. */
export function modelOption(value: string): ModelSpec {
  try {
    return isModelFile(value) ? modelFromFile(value) : getModel(value);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

/** A model description from a JSON file, checked (see src/nn/model-file.ts). */
export function modelFromFile(path: string): ModelSpec {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(readRegularFile(path, 'Model file')));
  } catch (err) {
    throw new Error(err instanceof SyntaxError ? `${path} is not valid JSON: ${err.message}` : (err as Error).message);
  }
  return checkModelSpec(parsed, path);
}
