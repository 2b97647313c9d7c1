// CPU references of the conv2d kernels: plain loops in float64 over NCHW tensors, weights
// [outC, inC, kH, kW], PyTorch's cross-correlation with zero padding.
import { conv2dOutputSize, type Conv2dShape } from '../util/shapes.ts';

/** input[n, c, y, x], or 0 in the zero padding around it. */
function inputAt(shape: Conv2dShape, input: ArrayLike<number>, n: number, c: number, y: number, x: number): number {
  if (y < 0 || y >= shape.height || x < 0 || x >= shape.width) return 0;
  return input[((n * shape.inChannels + c) * shape.height + y) * shape.width + x];
}

export function conv2dForwardReference(
  shape: Conv2dShape,
  input: ArrayLike<number>,
  weight: ArrayLike<number>,
  bias: ArrayLike<number>,
  relu = false,
): Float64Array {
  const { batch, inChannels, outChannels, kernelH, kernelW } = shape;
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  const { outH, outW } = conv2dOutputSize(shape);
  const output = new Float64Array(batch * outChannels * outH * outW);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outChannels; o++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          let sum = bias[o];
          for (let c = 0; c < inChannels; c++) {
            for (let ky = 0; ky < kernelH; ky++) {
              for (let kx = 0; kx < kernelW; kx++) {
                const x = inputAt(shape, input, n, c, oy * stride - padding + ky, ox * stride - padding + kx);
                sum += weight[((o * inChannels + c) * kernelH + ky) * kernelW + kx] * x;
              }
            }
          }
          output[((n * outChannels + o) * outH + oy) * outW + ox] = relu ? Math.max(0, sum) : sum;
        }
      }
    }
  }
  return output;
}

/** d(loss)/d(input) given d(loss)/d(pre-activation output): scatters each output gradient back. */
export function conv2dBackwardInputReference(
  shape: Conv2dShape,
  gradOutput: ArrayLike<number>,
  weight: ArrayLike<number>,
): Float64Array {
  const { batch, inChannels, height, width, outChannels, kernelH, kernelW } = shape;
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  const { outH, outW } = conv2dOutputSize(shape);
  const gradInput = new Float64Array(batch * inChannels * height * width);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outChannels; o++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const g = gradOutput[((n * outChannels + o) * outH + oy) * outW + ox];
          for (let c = 0; c < inChannels; c++) {
            for (let ky = 0; ky < kernelH; ky++) {
              for (let kx = 0; kx < kernelW; kx++) {
                const y = oy * stride - padding + ky;
                const x = ox * stride - padding + kx;
                if (y < 0 || y >= height || x < 0 || x >= width) continue;
                gradInput[((n * inChannels + c) * height + y) * width + x] += g *
                  weight[((o * inChannels + c) * kernelH + ky) * kernelW + kx];
              }
            }
          }
        }
      }
    }
  }
  return gradInput;
}

/** d(loss)/d(weight) and d(loss)/d(bias) given d(loss)/d(pre-activation output). */
export function conv2dBackwardWeightReference(
  shape: Conv2dShape,
  input: ArrayLike<number>,
  gradOutput: ArrayLike<number>,
): { gradWeight: Float64Array; gradBias: Float64Array } {
  const { batch, inChannels, outChannels, kernelH, kernelW } = shape;
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  const { outH, outW } = conv2dOutputSize(shape);
  const gradWeight = new Float64Array(outChannels * inChannels * kernelH * kernelW);
  const gradBias = new Float64Array(outChannels);
  for (let n = 0; n < batch; n++) {
    for (let o = 0; o < outChannels; o++) {
      for (let oy = 0; oy < outH; oy++) {
        for (let ox = 0; ox < outW; ox++) {
          const g = gradOutput[((n * outChannels + o) * outH + oy) * outW + ox];
          gradBias[o] += g;
          for (let c = 0; c < inChannels; c++) {
            for (let ky = 0; ky < kernelH; ky++) {
              for (let kx = 0; kx < kernelW; kx++) {
                const x = inputAt(shape, input, n, c, oy * stride - padding + ky, ox * stride - padding + kx);
                gradWeight[((o * inChannels + c) * kernelH + ky) * kernelW + kx] += g * x;
              }
            }
          }
        }
      }
    }
  }
  return { gradWeight, gradBias };
}
