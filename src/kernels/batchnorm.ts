// Dispatches shaders/batchnorm_stats.wgsl, batchnorm_forward.wgsl, batchnorm_backward_reduce.wgsl and
// batchnorm_backward_input.wgsl: batch norm over [batch, channels, spatial] (batchnorm1d: spatial 1).
// Planes of a multiple of 4 values (conv outputs of even width or height) run the elementwise passes
// (forward, input gradient) in their `_vec4` forms: four values of a channel per step, its statistics
// loaded once for the four, each value by the same expression (2-3x faster on lavapipe, where every
// load is a gather). The reductions keep their scalar order: vec4 loads did not speed them up.
import type { Gpu } from '../gpu/device.ts';
import { type BufferArg, type Dispatch, getKernel } from '../gpu/kernel.ts';
import { ceilDiv } from '../util/shapes.ts';
import { checkIntegers, checkSize, grid } from './checks.ts';
import type { BatchNormShape } from '../reference/batchnorm.ts';

export type { BatchNormShape };

const PER = 4;
const WG = 64;

/** Where a range holds its second (and third) tensor, in words from its start: the layout's slot offsets. */
export interface BatchNormOffsets {
  /** stats / running range: the variance, after the means. */
  variance: number;
  /** running range: num_batches_tracked. */
  count?: number;
}

function checkShape(what: string, shape: BatchNormShape): number {
  checkIntegers(what, { batch: shape.batch, channels: shape.channels, spatial: shape.spatial });
  const { eps = 1e-5, momentum = 0.1 } = shape;
  if (!(eps > 0 && Number.isFinite(eps))) throw new RangeError(`${what}: eps must be a finite number > 0, got ${eps}`);
  if (!(momentum >= 0 && momentum <= 1)) throw new RangeError(`${what}: momentum must be in [0, 1], got ${momentum}`);
  return shape.batch * shape.channels * shape.spatial;
}

/** The elementwise shader of `name` for this shape: its vec4 form where every plane is whole vec4s. */
function batchNormShader(name: string, shape: BatchNormShape): string {
  return shape.spatial % 4 === 0 ? `${name}_vec4` : name;
}

/** Values each forward / input-gradient invocation step covers: 4 in the vec4 forms. */
const valuesPerStep = (shape: BatchNormShape) => (shape.spatial % 4 === 0 ? 4 : 1);

const base = (s: BatchNormShape) => ({ BATCH: s.batch, CHANNELS: s.channels, SPATIAL: s.spatial });

/**
 * Training: the batch mean and biased variance into `stats` ([mean(C), variance(C)]), and the running
 * statistics updated in `running` (running_mean at 0, running_var at offsets.variance, num_batches_tracked at
 * offsets.count) unless `updateRunning` is false.
 */
export async function batchNormStats(
  gpu: Gpu,
  shape: BatchNormShape,
  input: BufferArg,
  stats: BufferArg,
  running: BufferArg,
  offsets: Required<BatchNormOffsets>,
  updateRunning = true,
): Promise<Dispatch[]> {
  const count = checkShape('batchNormStats', shape);
  const C = shape.channels;
  checkSize('batchNormStats', 'input', input, count);
  checkSize('batchNormStats', 'stats', stats, 2 * C);
  checkSize('batchNormStats', 'running', running, Math.max(offsets.variance + C, offsets.count + 1));
  const kernel = await getKernel(gpu, {
    shader: 'batchnorm_stats',
    bindings: ['read', 'read_write', 'read_write'],
    constants: {
      ...base(shape),
      MOMENTUM: shape.momentum ?? 0.1,
      UPDATE_RUNNING: updateRunning ? 1 : 0,
      VAR_OFFSET: offsets.variance,
      COUNT_OFFSET: offsets.count,
    },
  });
  return [{ kernel, bindGroup: kernel.bind(gpu, [input, stats, running]), workgroups: grid('batchNormStats', C) }];
}

/** output = normalized input (with the mean at stats[0..C), the variance at stats[offsets.variance..]), scaled, shifted, ReLU'd if asked. */
export async function batchNormForward(
  gpu: Gpu,
  shape: BatchNormShape,
  options: { relu?: boolean; offsets: BatchNormOffsets },
  input: BufferArg,
  stats: BufferArg,
  weight: BufferArg,
  bias: BufferArg,
  output: BufferArg,
): Promise<Dispatch[]> {
  const count = checkShape('batchNormForward', shape);
  const C = shape.channels;
  for (
    const [name, arg, n] of [['input', input, count], ['output', output, count], ['weight', weight, C], [
      'bias',
      bias,
      C,
    ], ['stats', stats, options.offsets.variance + C]] as const
  ) checkSize('batchNormForward', name, arg, n);
  const kernel = await getKernel(gpu, {
    shader: batchNormShader('batchnorm_forward', shape),
    bindings: ['read', 'read', 'read', 'read', 'read_write'],
    constants: {
      ...base(shape),
      VAR_OFFSET: options.offsets.variance,
      EPS: shape.eps ?? 1e-5,
      RELU: options.relu ? 1 : 0,
      PER,
      WG,
    },
  });
  return [{
    kernel,
    bindGroup: kernel.bind(gpu, [input, stats, weight, bias, output]),
    workgroups: grid('batchNormForward', ceilDiv(count, valuesPerStep(shape) * PER * WG)),
  }];
}

/**
 * Training backward from the batch statistics in `stats`: the weight and bias gradients into `paramGrads`
 * (weight's at 0, bias's at biasOffset), then, if `gradInput` is given, the input gradient.
 */
export async function batchNormBackward(
  gpu: Gpu,
  shape: BatchNormShape,
  biasOffset: number,
  input: BufferArg,
  gradOutput: BufferArg,
  stats: BufferArg,
  weight: BufferArg,
  paramGrads: BufferArg,
  gradInput?: BufferArg,
): Promise<Dispatch[]> {
  const count = checkShape('batchNormBackward', shape);
  const C = shape.channels;
  checkIntegers('batchNormBackward', { biasOffset }, C);
  for (
    const [name, arg, n] of [['input', input, count], ['gradOutput', gradOutput, count], ['stats', stats, 2 * C], [
      'weight',
      weight,
      C,
    ], ['paramGrads', paramGrads, biasOffset + C]] as const
  ) checkSize('batchNormBackward', name, arg, n);
  const constants = { ...base(shape), BIAS_OFFSET: biasOffset, EPS: shape.eps ?? 1e-5 };
  const reduce = await getKernel(gpu, {
    shader: 'batchnorm_backward_reduce',
    bindings: ['read', 'read', 'read', 'read_write'],
    constants,
  });
  const out: Dispatch[] = [{
    kernel: reduce,
    bindGroup: reduce.bind(gpu, [input, gradOutput, stats, paramGrads]),
    workgroups: grid('batchNormBackward', C),
  }];
  if (gradInput) {
    checkSize('batchNormBackward', 'gradInput', gradInput, count);
    const kernel = await getKernel(gpu, {
      shader: batchNormShader('batchnorm_backward_input', shape),
      bindings: ['read', 'read', 'read', 'read', 'read', 'read_write'],
      constants: { ...constants, PER, WG },
    });
    out.push({
      kernel,
      bindGroup: kernel.bind(gpu, [input, gradOutput, stats, weight, paramGrads, gradInput]),
      workgroups: grid('batchNormBackward', ceilDiv(count, valuesPerStep(shape) * PER * WG)),
    });
  }
  return out;
}
