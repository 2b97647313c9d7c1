// conv2d: PyTorch's Conv2d (square kernel, zero padding), weights [out, in, k, k] and bias [out].
import {
  conv2dBackwardInputReference,
  conv2dBackwardWeightReference,
  conv2dForwardReference,
} from '../../reference/conv2d.ts';
import { conv2dBackwardInput, conv2dBackwardWeight, conv2dForward } from '../../kernels/conv2d.ts';
import {
  conv2dBackwardInputTiled,
  conv2dBackwardWeightTiled,
  conv2dForwardTiled,
} from '../../kernels/conv2d_gemm_tiled.ts';
import { conv2dForwardImplicitGemm } from '../../kernels/conv2d_implicit_gemm.ts';
import { conv2dForwardTexture, packConv2dTextureWeight } from '../../kernels/conv2d_texture.ts';
import {
  conv2dBackwardInputTextureGemm,
  conv2dBackwardWeightTextureGemm,
  conv2dForwardTextureGemm,
  createTextureGemmOperands,
  defaultTextureGemmTiles,
  defaultTextureGemmWeightTiles,
  packTextureGemmWeight,
  type TextureGemmOperands,
  textureGemmSuits,
  textureGemmTextures,
  type TextureGemmTiles,
  type TextureGemmWeightTiles,
} from '../../kernels/conv2d_texture_gemm.ts';
import {
  type Conv2dBackwardInputTiles,
  type Conv2dBackwardWeightTiles,
  type Conv2dForwardTiles,
  conv2dTexturePoolSuits,
  conv2dTextureSuits,
  type Conv2dTextureTiles,
  defaultBackwardInputTiles,
  defaultBackwardWeightTiles,
  defaultForwardTiles,
  defaultImplicitGemmTiles,
  defaultTexturePoolTiles,
  defaultTextureTiles,
  implicitGemmSuits,
  type ImplicitGemmTiles,
} from '../../kernels/conv2d_tiles.ts';
import { conv2dGemmShape, defaultGemmTiles, type GemmTiles } from '../../kernels/gemm_tiles.ts';
import { createChannelsLastTexture, createPackedMatrix, packChannelsLast } from '../../kernels/layout.ts';
import { conv2dOutputSize, type Conv2dShape, conv2dShapeOf, needsPlanes, shapeSize } from '../../util/shapes.ts';
import {
  type KindNode,
  type LayerDefinition,
  needTiles,
  notAVariant,
  onBuffers,
  type Op,
  planNode,
  type TileSite,
  typedTiles,
} from './types.ts';
import type { DeviceKind } from '../../gpu/profile.ts';
import type { PlanRules } from '../planner.ts';

export interface Conv2dLayer {
  kind: 'conv2d';
  name: string;
  outChannels: number;
  kernel: number;
  stride?: number;
  padding?: number;
}

/** A variant's tiles: its forward kernel's, and in training its weight gradient's and (but the first layer's) input gradient's. */
interface ConvPart<V extends Conv2dVariant, F, W, I> {
  variant: V;
  tiles: { forward: F; backwardWeight?: W; backwardInput?: I };
}

type Conv2dVariant = typeof VARIANTS[number];
const VARIANTS = ['buffer', 'texture', 'texture+pool', 'implicit-gemm', 'texture-gemm', 'tiled-gemm'] as const;

/**
 * Buffer, texture and implicit-GEMM forwards have tiles of their own; their backward runs the buffer
 * kernels. texture-gemm runs its forward and both gradients as products from textures.
 */
export type Conv2dNode = KindNode<
  'conv2d',
  | ConvPart<'buffer', Conv2dForwardTiles, Conv2dBackwardWeightTiles, Conv2dBackwardInputTiles>
  | ConvPart<'texture' | 'texture+pool', Conv2dTextureTiles, Conv2dBackwardWeightTiles, Conv2dBackwardInputTiles>
  | ConvPart<'implicit-gemm', ImplicitGemmTiles, Conv2dBackwardWeightTiles, Conv2dBackwardInputTiles>
  | ConvPart<'texture-gemm', TextureGemmTiles, TextureGemmWeightTiles, TextureGemmTiles>
  | ConvPart<'tiled-gemm', GemmTiles, GemmTiles, GemmTiles>
>;

export const conv2d: LayerDefinition<Conv2dLayer, Conv2dNode> = {
  kind: 'conv2d',
  summary: '`conv2d` (`name`, `outChannels`, `kernel`, optional `stride`, `padding`)',
  fields: { name: 'name', outChannels: 'int', kernel: 'int', 'stride?': 'int', 'padding?': 'count' },
  resolve(spec, inShape, where) {
    const [c, h, w] = needsPlanes(inShape, where, 'conv2d');
    const { outH, outW } = conv2dOutputSize(conv2dShapeOf(spec, inShape, 1));
    if (outH < 1 || outW < 1) throw new Error(`${where}: kernel ${spec.kernel} does not fit a ${h}x${w} input`);
    const fanIn = c * spec.kernel * spec.kernel;
    return {
      outShape: [spec.outChannels, outH, outW],
      params: [
        { name: `${spec.name}.weight`, shape: [spec.outChannels, c, spec.kernel, spec.kernel], fanIn },
        { name: `${spec.name}.bias`, shape: [spec.outChannels], fanIn },
      ],
    };
  },
  absorbsRelu: true,
  variants: VARIANTS,
  planning: {
    choose({ spec, inShape }, { rules, bigForward, maxBatch, training, device }) {
      if (rules.tiled) return { variant: 'tiled-gemm' };
      const shape = conv2dShapeOf(spec, inShape, maxBatch);
      if (bigForward && conv2dTextureSuits(shape)) return { variant: 'texture' };
      if (trainsFromTextures(shape, rules, device.limits, training)) return { variant: 'texture-gemm' };
    },
    // A forward-only conv feeding a texture product runs as an implicit GEMM into that product's packed
    // input; a texture conv whose max-pool is done inside it (in-conv) pools as it writes.
    fuse({ spec, inShape }, choice, site) {
      if (!site.bigForward || site.rules.tiled) return;
      if (choice.variant === 'texture') {
        return site.neighbour(1)?.choice.variant === 'in-conv' ? { variant: 'texture+pool' } : undefined;
      }
      if (
        site.reads(site.consumer(), 'packed') &&
        implicitGemmSuits(site.device.limits, conv2dShapeOf(spec, inShape, site.maxBatch))
      ) return { variant: 'implicit-gemm' };
    },
    layouts(variant, previous, first) {
      switch (variant) {
        // As the first node, a texture conv reads the pixels packed straight into its input.
        case 'texture':
          return [first && previous === 'packed' ? 'packed' : 'nchw', 'nchw'];
        case 'texture+pool':
          return [first && previous === 'packed' ? 'packed' : 'nchw', 'channels-last'];
        case 'implicit-gemm':
          return [previous === 'channels-last' ? 'channels-last' : 'nchw', 'packed'];
        default:
          return ['nchw', 'nchw'];
      }
    },
    readsPackedPixels: (variant) => variant === 'texture' || variant === 'texture+pool',
    problem({ spec, inShape }, node, { device, maxBatch, neighbour, training }) {
      const shape = conv2dShapeOf(spec, inShape, maxBatch);
      switch (node.variant) {
        case 'texture':
        case 'texture+pool':
          if (!conv2dTextureSuits(shape)) return 'needs stride 1, no padding and a kernel 4 to 8 wide';
          if (node.variant === 'texture+pool') {
            if (!conv2dTexturePoolSuits(shape)) return 'pools only up to 10 channels of outputs at least 2x2';
            if (neighbour(1)?.variant !== 'in-conv') {
              return 'pools for the max-pool after it, which must then be in-conv';
            }
          }
          return;
        case 'implicit-gemm':
          if (!implicitGemmSuits(device.limits, shape)) {
            return 'needs stride 1, no padding, output positions a multiple of 4, and textures this device allows';
          }
          return;
        case 'texture-gemm':
          if (!textureGemmSuits(device.limits, shape, training)) {
            return 'needs stride 1, a padding below the kernel size, and textures this device allows at this batch';
          }
      }
    },
    poolsOutput: ({ spec, inShape }, choice, { maxBatch }) =>
      choice.variant === 'texture' && conv2dTexturePoolSuits(conv2dShapeOf(spec, inShape, maxBatch)),
  },
  referenceForward: ({ spec, inShape }, input, { batch, param }) => ({
    output: conv2dForwardReference(
      conv2dShapeOf(spec, inShape, batch),
      input,
      param(`${spec.name}.weight`),
      param(`${spec.name}.bias`),
    ),
  }),
  referenceBackward({ spec, inShape }, input, _forward, gradOutput, { batch, param, setGradient }) {
    const shape = conv2dShapeOf(spec, inShape, batch);
    const { gradWeight, gradBias } = conv2dBackwardWeightReference(shape, input, gradOutput);
    setGradient(`${spec.name}.weight`, gradWeight);
    setGradient(`${spec.name}.bias`, gradBias);
    return conv2dBackwardInputReference(shape, gradOutput, param(`${spec.name}.weight`));
  },
  onnx({ spec }) {
    const stride = spec.stride ?? 1;
    const pad = spec.padding ?? 0;
    return [{
      op: 'Conv',
      inputs: [`${spec.name}.weight`, `${spec.name}.bias`],
      attributes: [
        { name: 'kernel_shape', ints: [spec.kernel, spec.kernel] },
        { name: 'strides', ints: [stride, stride] },
        { name: 'pads', ints: [pad, pad, pad, pad] },
      ],
    }];
  },
  pytorch:
    "nn.Conv2d(shape[0], layer['outChannels'], layer['kernel'], layer.get('stride', 1), layer.get('padding', 0))",
  kernels: {
    // The rules of src/kernels/conv2d_tiles.ts (or gemm_tiles.ts for the GPU class) at the node's batch.
    node({ spec, inShape }, draft, site) {
      const shape = conv2dShapeOf(spec, inShape, site.batch);
      const { variant } = draft;
      const forward = <F extends object>(defaults: F) => typedTiles(defaults, site.tuned('forward'));
      const buffers = () =>
        backwardTiles(draft, site, () => defaultBackwardWeightTiles(shape), () => defaultBackwardInputTiles(shape));
      switch (variant) {
        case 'tiled-gemm': {
          const gemm = (pass: 'backwardWeight' | 'backwardInput') => () => gemmTiles(shape, site.device, pass);
          const backward = backwardTiles(draft, site, gemm('backwardWeight'), gemm('backwardInput'));
          const tiles = { forward: forward(gemmTiles(shape, site.device, 'forward')), ...backward };
          return planNode('conv2d', draft, variant, tiles, {});
        }
        case 'texture':
          return planNode('conv2d', draft, variant, { forward: forward(defaultTextureTiles(shape)), ...buffers() }, {});
        case 'texture+pool': {
          const tiles = { forward: forward(defaultTexturePoolTiles(shape)), ...buffers() };
          return planNode('conv2d', draft, variant, tiles, {});
        }
        case 'implicit-gemm': {
          const tiles = { forward: forward(defaultImplicitGemmTiles(shape)), ...buffers() };
          return planNode('conv2d', draft, variant, tiles, {});
        }
        case 'texture-gemm': {
          const { outH, outW } = conv2dOutputSize(shape);
          const gemm = () => defaultTextureGemmTiles(shape.height * shape.width, shape.inChannels);
          const backward = backwardTiles(draft, site, () => defaultTextureGemmWeightTiles(shape), gemm);
          const tiles = { forward: forward(defaultTextureGemmTiles(outH * outW, shape.outChannels)), ...backward };
          return planNode('conv2d', draft, variant, tiles, {});
        }
        case 'buffer':
          return planNode('conv2d', draft, variant, { forward: forward(defaultForwardTiles(shape)), ...buffers() }, {});
      }
      throw new Error(notAVariant('conv2d', draft, VARIANTS));
    },
    output: () => 'own',
    // A packed input is the pixels as rows of one image row each (the first node's, normalized straight in).
    packedInput: ({ inShape: [channels, height, width] }, maxBatch) => ({
      rows: maxBatch * channels * height,
      k: width,
      paged: true,
    }),
    allocate({ plan: p, layer, input, output }, { gpu, maxBatch, texture, f32, training }) {
      if (p.variant === 'texture-gemm') {
        const shape = conv2dShapeOf(layer.spec, layer.inShape, maxBatch);
        const operands = createTextureGemmOperands(
          gpu,
          p.name,
          shape,
          !training ? 'none' : p.tiles.backwardInput !== undefined ? 'both' : 'weight',
        );
        for (const made of textureGemmTextures(operands)) texture(made);
        return { textureGemm: operands };
      }
      const { inChannels, height, width, outChannels, kernelH, kernelW } = conv2dShapeOf(
        layer.spec,
        layer.inShape,
        maxBatch,
      );
      if (p.variant === 'texture' || p.variant === 'texture+pool') {
        // conv2dForwardTexture binds an input and an output buffer even when it reads a packed input or
        // writes a pooled one; those get buffers of their own that nothing reads.
        const inCount = maxBatch * shapeSize(layer.inShape);
        const outCount = maxBatch * shapeSize(layer.outShape);
        return {
          packedConv: {
            input: input.layout === 'packed'
              ? input.matrix
              : texture(createPackedMatrix(gpu, `${p.name}.input.packed`, maxBatch * inChannels * height, width, {
                paged: true,
              })),
            weight: texture(
              createPackedMatrix(gpu, `${p.name}.weight.packed`, outChannels * inChannels * kernelH, kernelW),
            ),
          },
          boundOnly: {
            input: input.layout === 'nchw' ? input.buffer : f32(`${p.name}.input (bound only)`, inCount),
            output: output.layout === 'nchw' ? output.buffer : f32(`${p.name}.output (bound only)`, outCount),
          },
        };
      }
      if (p.variant === 'implicit-gemm') {
        return {
          channelsLast: {
            // Its input tensor when a max-pool wrote it channels-last, else packed here from the buffer.
            input: input.layout === 'channels-last' ? input.texture : texture(
              createChannelsLastTexture(gpu, `${p.name}.input.channels-last`, maxBatch, inChannels, height, width),
            ),
            weight: texture(
              createChannelsLastTexture(
                gpu,
                `${p.name}.weight.channels-last`,
                outChannels,
                inChannels,
                kernelH,
                kernelW,
              ),
            ),
          },
        };
      }
      return {};
    },
    async forward(node, context) {
      const { gpu, batch } = context;
      const { layer, input, output, plan: p } = node;
      const spec = layer.spec;
      const shape = conv2dShapeOf(spec, layer.inShape, batch);
      const inCount = batch * shapeSize(layer.inShape);
      const outCount = batch * shapeSize(layer.outShape);
      const weights = shapeSize(layer.params[0].shape);
      const weight = context.param(`${spec.name}.weight`);
      const bias = context.param(`${spec.name}.bias`);
      const op = {
        name: `${layer.name} forward${p.relu ? '+relu' : ''}`,
        role: 'forward' as const,
        flops: convFlops(shape, outCount),
        bytes: 4 * (inCount + weights + outCount),
      };
      switch (p.variant) {
        case 'texture':
        case 'texture+pool': {
          const { packedConv, boundOnly } = node;
          if (!packedConv || !boundOnly) throw new Error(`${p.name}: no packed operands allocated`);
          const pooled = output.layout === 'channels-last' ? output.texture : undefined;
          if (p.variant === 'texture+pool' && !pooled) {
            throw new Error(`${p.name}: texture+pool writes the channels-last output of the max-pool after it`);
          }
          return [{
            ...op,
            name: pooled ? `${op.name}+maxpool2d (channels-last)` : op.name,
            dispatches: await conv2dForwardTexture(
              gpu,
              shape,
              {
                relu: p.relu,
                tiles: p.tiles.forward,
                inputPrepacked: input.layout === 'packed',
                weightPrepacked: context.weightsPerUpload,
                pooled,
              },
              boundOnly.input,
              weight,
              bias,
              boundOnly.output,
              packedConv,
            ),
          }];
        }
        case 'implicit-gemm': {
          const cl = node.channelsLast;
          if (!cl || output.layout !== 'packed') {
            throw new Error(`${p.name}: implicit-gemm needs its channels-last operands and writes a packed matrix`);
          }
          const [channels, height, width] = layer.inShape;
          const packInput = input.layout === 'nchw'
            ? [await packChannelsLast(gpu, { items: batch, channels, height, width }, input.buffer, cl.input)]
            : [];
          return [{
            ...op,
            name: `${op.name} (implicit GEMM)`,
            dispatches: [
              ...packInput,
              await conv2dForwardImplicitGemm(
                gpu,
                shape,
                { relu: p.relu, tiles: p.tiles.forward },
                cl.input,
                cl.weight,
                bias,
                output.matrix,
              ),
            ],
          }];
        }
      }
      const buffers = onBuffers(node);
      const args = [buffers.input.buffer, weight, bias, buffers.output.buffer] as const;
      if (p.variant === 'texture-gemm') {
        const operands = textureOperands(node);
        return [{
          ...op,
          name: `${op.name} (texture GEMM)`,
          dispatches: await conv2dForwardTextureGemm(
            gpu,
            shape,
            {
              relu: p.relu,
              tiles: p.tiles.forward,
              weightPrepacked: context.weightsPerUpload,
            },
            ...args,
            operands,
          ),
        }];
      }
      if (p.variant === 'tiled-gemm') {
        return [{
          ...op,
          name: `${op.name} (tiled GEMM)`,
          dispatches: await conv2dForwardTiled(gpu, shape, {
            relu: p.relu,
            tiles: p.tiles.forward,
          }, ...args),
        }];
      }
      return [{
        ...op,
        dispatches: await conv2dForward(gpu, shape, {
          relu: p.relu,
          tiles: p.tiles.forward,
        }, ...args),
      }];
    },
    async backward(node, context) {
      const { layer, plan: p } = node;
      const { input, output } = onBuffers(node);
      const { gpu, batch } = context;
      const spec = layer.spec;
      const shape = conv2dShapeOf(spec, layer.inShape, batch);
      const gradOutput = output.grad;
      if (!gradOutput) return [];
      const inCount = batch * shapeSize(layer.inShape);
      const outCount = batch * shapeSize(layer.outShape);
      const weights = shapeSize(layer.params[0].shape);
      const gradWeight = context.grad(`${spec.name}.weight`);
      const gradBias = context.grad(`${spec.name}.bias`);
      const cost = { flops: convFlops(shape, outCount), bytes: 4 * (inCount + weights + outCount) };
      // texture-gemm: the weight gradient packs the output gradient, and the input gradient after it reads that.
      const ops: Op[] = [{
        name: `${layer.name} backward weight${p.variant === 'texture-gemm' ? ' (texture GEMM)' : ''}`,
        role: 'backwardWeight' as const,
        ...cost,
        dispatches: p.variant === 'texture-gemm'
          ? await conv2dBackwardWeightTextureGemm(
            gpu,
            shape,
            { tiles: needTiles(p.tiles.backwardWeight, p, 'backwardWeight') },
            gradOutput,
            gradWeight,
            gradBias,
            textureOperands(node),
          )
          : p.variant === 'tiled-gemm'
          ? await conv2dBackwardWeightTiled(gpu, shape, input.buffer, gradOutput, gradWeight, gradBias, {
            tiles: needTiles(p.tiles.backwardWeight, p, 'backwardWeight'),
            subgroups: context.subgroups,
          })
          : await conv2dBackwardWeight(
            gpu,
            shape,
            input.buffer,
            gradOutput,
            gradWeight,
            gradBias,
            needTiles(p.tiles.backwardWeight, p, 'backwardWeight'),
          ),
      }];
      if (input.grad && p.variant === 'texture-gemm') {
        ops.push({
          name: `${layer.name} backward input (texture GEMM)`,
          role: 'backwardInput' as const,
          ...cost,
          dispatches: await conv2dBackwardInputTextureGemm(
            gpu,
            shape,
            { tiles: needTiles(p.tiles.backwardInput, p, 'backwardInput'), gradOutputPacked: true },
            gradOutput,
            context.param(`${spec.name}.weight`),
            input.grad,
            textureOperands(node),
          ),
        });
      } else if (input.grad) {
        const weight = context.param(`${spec.name}.weight`);
        ops.push({
          name: `${layer.name} backward input`,
          role: 'backwardInput' as const,
          ...cost,
          dispatches: p.variant === 'tiled-gemm'
            ? await conv2dBackwardInputTiled(
              gpu,
              shape,
              gradOutput,
              weight,
              input.grad,
              needTiles(p.tiles.backwardInput, p, 'backwardInput'),
            )
            : await conv2dBackwardInput(
              gpu,
              shape,
              gradOutput,
              weight,
              input.grad,
              needTiles(p.tiles.backwardInput, p, 'backwardInput'),
            ),
        });
      }
      return ops;
    },
    async packWeights({ layer, packedConv, channelsLast, textureGemm }, { gpu, param }) {
      const weight = param(`${layer.spec.name}.weight`);
      const shape = conv2dShapeOf(layer.spec, layer.inShape, 1);
      if (textureGemm) return [await packTextureGemmWeight(gpu, shape, weight, textureGemm)];
      if (packedConv) return [await packConv2dTextureWeight(gpu, shape, weight, packedConv)];
      if (channelsLast) {
        const { outChannels: items, inChannels: channels, kernelH: height, kernelW: width } = shape;
        return [await packChannelsLast(gpu, { items, channels, height, width }, weight, channelsLast.weight)];
      }
      return [];
    },
  },
};

/** Training: the tiles of the weight gradient and (but the first layer, whose input needs no gradient) the input's. */
function backwardTiles<W extends object, I extends object>(
  draft: { layer: number },
  { training, tuned }: TileSite,
  weight: () => W,
  input: () => I,
): { backwardWeight?: W; backwardInput?: I } {
  const inputGradient = draft.layer > 0;
  return {
    ...(training ? { backwardWeight: typedTiles(weight(), tuned('backwardWeight')) } : {}),
    ...(training && inputGradient ? { backwardInput: typedTiles(input(), tuned('backwardInput')) } : {}),
  };
}

/** The GPU-class tiles of one pass as an implicit GEMM (the weight gradient's split over k). */
function gemmTiles(
  shape: Conv2dShape,
  device: DeviceKind,
  pass: 'forward' | 'backwardInput' | 'backwardWeight',
): GemmTiles {
  const [m, n, k] = conv2dGemmShape(shape, pass);
  return defaultGemmTiles(device, m, n, k, pass === 'backwardWeight');
}

function convFlops(shape: Conv2dShape, outCount: number): number {
  return 2 * outCount * shape.inChannels * shape.kernelH * shape.kernelW;
}

/** A texture-gemm node's operands, which its allocate made. */
function textureOperands(node: { plan: { name: string }; textureGemm?: TextureGemmOperands }): TextureGemmOperands {
  if (!node.textureGemm) throw new Error(`${node.plan.name}: no texture operands allocated`);
  return node.textureGemm;
}

/**
 * Whether the CPU-driver rules train (and evaluate) `shape` from textures: wide convolutions, where a texel
 * fetch brings 4 channels that the buffer kernels load one by one. bench/conv-shapes.ts times by it too.
 */
export const trainsFromTextures = (
  shape: Conv2dShape,
  rules: PlanRules,
  limits: { maxTextureDimension2D: number },
  training: boolean,
): boolean => shape.inChannels >= rules.textureGemmMinChannels && textureGemmSuits(limits, shape, training);
