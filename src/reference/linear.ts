// CPU references of shaders/matmul.wgsl and of the linear layer built on it (src/kernels/linear.ts),
// in float64. PyTorch layout: x [batch, in], W [out, in], b [out], y = x·Wᵀ + b.
import type { LinearShape, MatmulShape } from '../util/shapes.ts';

/** C[m,n] = op(A)·op(B) with A [m,k] (or [k,m] if transposeA) and B [k,n] (or [n,k] if transposeB). */
export function matmulReference(shape: MatmulShape, a: ArrayLike<number>, b: ArrayLike<number>): Float64Array {
  const { m, n, k } = shape;
  const at = (i: number, p: number) => (shape.transposeA ? a[p * m + i] : a[i * k + p]);
  const bt = (p: number, j: number) => (shape.transposeB ? b[j * k + p] : b[p * n + j]);
  const c = new Float64Array(m * n);
  for (let i = 0; i < m; i++) {
    for (let j = 0; j < n; j++) {
      let sum = 0;
      for (let p = 0; p < k; p++) sum += at(i, p) * bt(p, j);
      c[i * n + j] = sum;
    }
  }
  return c;
}

/** y[batch, out] = x·Wᵀ + b, then max(0, .) when relu. */
export function linearForwardReference(
  shape: LinearShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  relu = false,
): Float64Array {
  const { batch, inFeatures, outFeatures } = shape;
  const y = matmulReference({ m: batch, n: outFeatures, k: inFeatures, transposeB: true }, x, w);
  for (let i = 0; i < batch; i++) {
    for (let o = 0; o < outFeatures; o++) {
      const v = y[i * outFeatures + o] + b[o];
      y[i * outFeatures + o] = relu ? Math.max(0, v) : v;
    }
  }
  return y;
}

export interface LinearGradients {
  /** [batch, in] = gradOutput·W */
  gradInput: Float64Array;
  /** [out, in] = gradOutputᵀ·x */
  gradWeight: Float64Array;
  /** [out] = column sums of gradOutput */
  gradBias: Float64Array;
}

/** Gradients of y = x·Wᵀ + b given gradOutput = ∂L/∂y [batch, out] (w.r.t. the pre-activation output). */
export function linearBackwardReference(
  shape: LinearShape,
  x: ArrayLike<number>,
  w: ArrayLike<number>,
  gradOutput: ArrayLike<number>,
): LinearGradients {
  const { batch, inFeatures, outFeatures } = shape;
  const gradInput = matmulReference({ m: batch, n: inFeatures, k: outFeatures }, gradOutput, w);
  const gradWeight = matmulReference({ m: outFeatures, n: inFeatures, k: batch, transposeA: true }, gradOutput, x);
  const gradBias = new Float64Array(outFeatures);
  for (let o = 0; o < outFeatures; o++) {
    let sum = 0;
    for (let i = 0; i < batch; i++) sum += gradOutput[i * outFeatures + o];
    gradBias[o] = sum;
  }
  return { gradInput, gradWeight, gradBias };
}
