// Dispatches shaders/normalize.wgsl: uint8 pixels -> normalized f32 activations.
import type { Gpu } from '../gpu/device.ts';
import { type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv, MNIST_MEAN, MNIST_STD } from '../util/shapes.ts';
import { grid } from './checks.ts';

export { MNIST_MEAN, MNIST_STD };

export interface NormalizeShape {
  count: number;
  mean?: number;
  std?: number;
}

/** `pixels` holds `count` bytes packed into u32 words; `output` receives `count` f32 values. */
export async function normalize(
  gpu: Gpu,
  shape: NormalizeShape,
  pixels: GPUBuffer,
  output: GPUBuffer,
): Promise<Dispatch> {
  const workgroup = 256;
  const kernel = await getKernel(gpu, {
    shader: 'normalize',
    bindings: ['read', 'read_write'],
    constants: {
      COUNT: shape.count,
      MEAN: shape.mean ?? MNIST_MEAN,
      STD: shape.std ?? MNIST_STD,
      WORKGROUP: workgroup,
    },
  });
  return {
    kernel,
    bindGroup: kernel.bind(gpu, [pixels, output]),
    workgroups: grid('normalize', ceilDiv(shape.count, workgroup)),
  };
}
