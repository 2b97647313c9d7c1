// CPU references of shaders/maxpool2d_forward.wgsl and shaders/maxpool2d_backward.wgsl.
import { maxPool2dOutputSize, type MaxPool2dShape } from '../util/shapes.ts';

/** Max of each window and the flat input index it came from; ties and NaN as PyTorch's CPU kernel. */
export function maxPool2dForwardReference(
  shape: MaxPool2dShape,
  input: ArrayLike<number>,
): { output: Float64Array; argmax: Uint32Array } {
  const { batch, channels, height: H, width: W, kernel: K } = shape;
  const S = shape.stride ?? K;
  const { outH, outW } = maxPool2dOutputSize(shape);
  const output = new Float64Array(batch * channels * outH * outW);
  const argmax = new Uint32Array(output.length);
  let o = 0;
  for (let plane = 0; plane < batch * channels; plane++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, o++) {
        let best = -Infinity;
        let at = plane * H * W + oy * S * W + ox * S;
        for (let ky = 0; ky < K; ky++) {
          for (let kx = 0; kx < K; kx++) {
            const i = plane * H * W + (oy * S + ky) * W + ox * S + kx;
            if (input[i] > best || Number.isNaN(input[i])) {
              best = input[i];
              at = i;
            }
          }
        }
        output[o] = best;
        argmax[o] = at;
      }
    }
  }
  return { output, argmax };
}

/** Scatters each window's gradient to the input element it chose, in output order. */
export function maxPool2dBackwardReference(
  shape: MaxPool2dShape,
  gradOutput: ArrayLike<number>,
  argmax: ArrayLike<number>,
): Float64Array {
  const gradInput = new Float64Array(shape.batch * shape.channels * shape.height * shape.width);
  for (let o = 0; o < gradOutput.length; o++) gradInput[argmax[o]] += gradOutput[o];
  return gradInput;
}
