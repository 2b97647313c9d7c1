// Shapes of the kernels' tensors and the arithmetic on them (output sizes, blocks, texels). GPU-free,
// so that the float64 references (src/reference/) and the planner (src/nn/planner.ts) share it with the
// kernel modules without importing anything from the GPU side.

export const ceilDiv = (a: number, b: number): number => Math.ceil(a / b);

/** Splits `total` into the fewest blocks of at most `max`, as even as possible; returns the block size. */
export function evenBlock(total: number, max: number): number {
  return Math.ceil(total / Math.ceil(total / max));
}

/** Texels (4 floats) per packed row of `k` floats. */
export const texelsPerRow = (k: number): number => ceilDiv(k, 4);

/** PyTorch's Conv2d on NCHW tensors: weights [outC, inC, kH, kW], bias [outC]. */
export interface Conv2dShape {
  batch: number;
  inChannels: number;
  height: number;
  width: number;
  outChannels: number;
  kernelH: number;
  kernelW: number;
  /** Default 1. */
  stride?: number;
  /** Zero padding on every side; default 0. */
  padding?: number;
}

export function conv2dOutputSize(shape: Conv2dShape): { outH: number; outW: number } {
  const stride = shape.stride ?? 1;
  const padding = shape.padding ?? 0;
  return {
    outH: Math.floor((shape.height + 2 * padding - shape.kernelH) / stride) + 1,
    outW: Math.floor((shape.width + 2 * padding - shape.kernelW) / stride) + 1,
  };
}

/** PyTorch's MaxPool2d: square kernel, no padding, floor mode. */
export interface MaxPool2dShape {
  batch: number;
  channels: number;
  height: number;
  width: number;
  kernel: number;
  /** Default: kernel (non-overlapping windows). */
  stride?: number;
}

export function maxPool2dOutputSize(shape: MaxPool2dShape): { outH: number; outW: number } {
  const stride = shape.stride ?? shape.kernel;
  return {
    outH: Math.floor((shape.height - shape.kernel) / stride) + 1,
    outW: Math.floor((shape.width - shape.kernel) / stride) + 1,
  };
}

/** PyTorch's AvgPool2d: square kernel, no padding, floor mode; a kernel the size of the plane is global pooling. */
export interface AvgPool2dShape {
  batch: number;
  channels: number;
  height: number;
  width: number;
  kernel: number;
  stride: number;
}

export function avgPool2dOutputSize(shape: AvgPool2dShape): { outH: number; outW: number } {
  return {
    outH: Math.floor((shape.height - shape.kernel) / shape.stride) + 1,
    outW: Math.floor((shape.width - shape.kernel) / shape.stride) + 1,
  };
}

/** PyTorch's Linear: x [batch, in], W [out, in], b [out], y = x·Wᵀ + b. */
export interface LinearShape {
  batch: number;
  inFeatures: number;
  outFeatures: number;
}

/** A is [m,k] (or [k,m] if transposeA), B is [k,n] (or [n,k] if transposeB), C is [m,n], all row-major. */
export interface MatmulShape {
  m: number;
  n: number;
  k: number;
  transposeA?: boolean;
  transposeB?: boolean;
}

/** Logits [batch, classes]. */
export interface LossShape {
  batch: number;
  classes: number;
}

/** torch.optim.Adam's hyper-parameters (amsgrad off). */
export interface AdamOptions {
  lr: number;
  beta1: number;
  beta2: number;
  eps: number;
  weightDecay: number;
  /** torch.optim.AdamW: weight decay decoupled from the gradient (absent: Adam's L2 decay). */
  decoupled?: boolean;
}

/** torchvision's MNIST normalization, which the tutorial applies to every image. */
export const MNIST_MEAN = 0.1307;
export const MNIST_STD = 0.3081;
