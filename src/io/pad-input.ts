// The browser page's drawing pad as a model's input. What the page needs to know comes from serve's
// /model.json (pageInputOf): an MNIST-shaped model gets the digit as predict makes it (ink cropped,
// fitted to 20x20, centred in 28x28); a model trained on --dataset folder gets the pad as a picture,
// as predict takes one for it: converted to its channels (the gray drawing copied into R, G and B) and
// resized to its input size. Pure code, shared by serve (Node, Deno) and the page (bundled).
import { toMnistDigit } from './digit-image.ts';
import type { GrayImage } from './png.ts';
import { convertChannels, resizeToPlanar } from './resize.ts';
import { MNIST_NORMALIZATION, type Normalization } from '../kernels/normalize.ts';
import type { ModelSpec } from '../nn/spec.ts';

/** How the page turns the pad into input. */
export type PadPreprocessing = 'mnist-digit' | 'picture';

/** The page's side of /model.json. */
export interface PageInput {
  /** [channels, height, width], the model's input. */
  input: readonly [number, number, number];
  preprocessing: PadPreprocessing;
  /** Per-channel mean and std of pixel / 255 that the network normalizes with (the checkpoint's). */
  normalization: Normalization;
  /** Class names, index = label. */
  classes: readonly string[];
}

/**
 * What the page needs for `model`: a checkpoint trained on a folder (`recorded` normalization and
 * class names) takes the pad as a picture; any other takes MNIST's digit with MNIST's constants.
 */
export function pageInputOf(
  model: ModelSpec,
  recorded: { folder: boolean; normalization?: Normalization; classes?: readonly string[] },
  datasetClasses?: readonly string[],
): PageInput {
  const [channels, height, width] = model.input;
  const names = recorded.classes ?? datasetClasses;
  return {
    input: [channels, height, width],
    preprocessing: recorded.folder ? 'picture' : 'mnist-digit',
    normalization: recorded.normalization ?? MNIST_NORMALIZATION,
    classes: Array.from({ length: model.classes }, (_, label) => names?.[label] ?? String(label)),
  };
}

/** The pad (8-bit gray, composited over white) as input bytes, planar [C, H, W]; throws DigitImageError on a blank pad for a digit model. */
export function padToModelInput(pad: GrayImage, page: Pick<PageInput, 'input' | 'preprocessing'>): Uint8Array {
  if (page.preprocessing === 'mnist-digit') return toMnistDigit(pad);
  const [channels, height, width] = page.input;
  if (channels !== 1 && channels !== 3) {
    throw new RangeError(`padToModelInput: a model with ${channels} input channels; 1 (gray) or 3 (RGB) are drawn`);
  }
  return resizeToPlanar(convertChannels({ ...pad, channels: 1 }, channels), width, height);
}
