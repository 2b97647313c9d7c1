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

/** Elements of a tensor of `shape` (1 for a scalar []). */
export const shapeSize = (shape: readonly number[]): number => shape.reduce((a, b) => a * b, 1);

/** Batch norm over [batch, channels, spatial] (batchnorm1d has spatial 1); eps and momentum as PyTorch's defaults if absent. */
export interface BatchNormShape {
  batch: number;
  channels: number;
  /** height * width for batchnorm2d, 1 for batchnorm1d. */
  spatial: number;
  eps?: number;
  momentum?: number;
}

// --- a layer's shape at a batch size, from its model-file fields and its per-sample input shape -----
// Shared by the planner, the network and the float64 reference network.

/** [C, H, W] of a layer that works on planes; throws naming the layer otherwise. */
export function needsPlanes(inShape: readonly number[], where: string, kind: string): [number, number, number] {
  if (inShape.length !== 3) throw new Error(`${where}: ${kind} needs a [C,H,W] input, got [${inShape}]`);
  return [inShape[0], inShape[1], inShape[2]];
}

export function conv2dShapeOf(
  layer: { outChannels: number; kernel: number; stride?: number; padding?: number },
  inShape: readonly number[],
  batch: number,
): Conv2dShape {
  const [inChannels, height, width] = inShape;
  return {
    batch,
    inChannels,
    height,
    width,
    outChannels: layer.outChannels,
    kernelH: layer.kernel,
    kernelW: layer.kernel,
    stride: layer.stride ?? 1,
    padding: layer.padding ?? 0,
  };
}

export function maxPool2dShapeOf(
  layer: { kernel: number; stride?: number },
  inShape: readonly number[],
  batch: number,
): MaxPool2dShape {
  const [channels, height, width] = inShape;
  return { batch, channels, height, width, kernel: layer.kernel, stride: layer.stride ?? layer.kernel };
}

/** Without a kernel: global pooling, one window the size of the (square) plane. */
export function avgPool2dShapeOf(
  layer: { kernel?: number; stride?: number },
  inShape: readonly number[],
  batch: number,
): AvgPool2dShape {
  const [channels, height, width] = inShape;
  const kernel = layer.kernel ?? height;
  return { batch, channels, height, width, kernel, stride: layer.stride ?? kernel };
}

export function batchNormShapeOf(
  layer: { eps?: number; momentum?: number },
  inShape: readonly number[],
  batch: number,
): BatchNormShape {
  return {
    batch,
    channels: inShape[0],
    spatial: shapeSize(inShape.slice(1)),
    eps: layer.eps,
    momentum: layer.momentum,
  };
}

export function linearShapeOf(inShape: readonly number[], outShape: readonly number[], batch: number): LinearShape {
  return { batch, inFeatures: inShape[0], outFeatures: outShape[0] };
}
