// CPU references of shaders/avgpool2d_forward.wgsl and avgpool2d_backward.wgsl (no padding, floor mode).
import { avgPool2dOutputSize, type AvgPool2dShape } from '../util/shapes.ts';

export function avgPool2dForwardReference(shape: AvgPool2dShape, input: ArrayLike<number>): Float64Array {
  const { batch, channels, height: H, width: W, kernel: K, stride: S } = shape;
  const { outH, outW } = avgPool2dOutputSize(shape);
  const out = new Float64Array(batch * channels * outH * outW);
  for (let plane = 0, o = 0; plane < batch * channels; plane++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, o++) {
        let sum = 0;
        for (let ky = 0; ky < K; ky++) {
          for (let kx = 0; kx < K; kx++) sum += input[plane * H * W + (oy * S + ky) * W + ox * S + kx];
        }
        out[o] = sum / (K * K);
      }
    }
  }
  return out;
}

/** Scatters each output's gradient evenly over its window. */
export function avgPool2dBackwardReference(shape: AvgPool2dShape, gradOutput: ArrayLike<number>): Float64Array {
  const { batch, channels, height: H, width: W, kernel: K, stride: S } = shape;
  const { outH, outW } = avgPool2dOutputSize(shape);
  const grad = new Float64Array(batch * channels * H * W);
  for (let plane = 0, o = 0; plane < batch * channels; plane++) {
    for (let oy = 0; oy < outH; oy++) {
      for (let ox = 0; ox < outW; ox++, o++) {
        for (let ky = 0; ky < K; ky++) {
          for (let kx = 0; kx < K; kx++) {
            grad[plane * H * W + (oy * S + ky) * W + ox * S + kx] += gradOutput[o] / (K * K);
          }
        }
      }
    }
  }
  return grad;
}
