// linear: PyTorch's Linear, y = x·Wᵀ + b with W [out, in] and b [out].
import { linearBackwardReference, linearForwardReference } from '../../reference/linear.ts';
import { defaultGemmTiles, type GemmTiles } from '../../kernels/gemm_tiles.ts';
import { createPackedMatrix, packFits } from '../../kernels/layout.ts';
import { linearBackwardInput, linearBackwardWeight, linearForward, packLinearWeight } from '../../kernels/linear.ts';
import { linearBackwardInputTiled, linearBackwardWeightTiled, linearForwardTiled } from '../../kernels/linear_tiled.ts';
import { DEFAULT_MATMUL_TILES, type MatmulTiles } from '../../kernels/matmul.ts';
import { DEFAULT_TEXTURE_MATMUL_TILES, matmulTexture } from '../../kernels/matmul_texture.ts';
import { linearShapeOf, shapeSize } from '../../util/shapes.ts';
import type { LinearVariant } from '../planner.ts';
import {
  type DraftNode,
  type KindNode,
  type LayerDefinition,
  notAVariant,
  onBuffers,
  type Op,
  planNode,
  type TileSite,
  typedTiles,
} from './types.ts';

export interface LinearLayer {
  kind: 'linear';
  name: string;
  outFeatures: number;
}

/**
 * A forward variant's tiles (F; I its input gradient's, which runs tiled when the forward does), forward
 * only or with each way the weight gradient may run: the register-block kernels' tiles or the tiled GEMM's.
 */
type LinearPart<V extends LinearVariant, F, I> =
  | { variant: V; weightGradient?: undefined; tiles: { forward: F } }
  | {
    variant: V;
    weightGradient: 'buffer' | 'texture';
    tiles: { forward: F; backwardWeight: MatmulTiles; backwardInput: I };
  }
  | { variant: V; weightGradient: 'tiled'; tiles: { forward: F; backwardWeight: GemmTiles; backwardInput: I } };

export type LinearNode = KindNode<
  'linear',
  LinearPart<'buffer' | 'texture', MatmulTiles, MatmulTiles> | LinearPart<'tiled', GemmTiles, GemmTiles>
>;

const VARIANTS = ['buffer', 'texture', 'tiled'] as const;

export const linear: LayerDefinition<LinearLayer, LinearNode> = {
  kind: 'linear',
  summary: '`linear` (`name`, `outFeatures`)',
  fields: { name: 'name', outFeatures: 'int' },
  resolve(spec, inShape, where) {
    if (inShape.length !== 1) throw new Error(`${where}: linear needs a flat input; add a flatten layer before it`);
    const fanIn = inShape[0];
    return {
      outShape: [spec.outFeatures],
      params: [
        { name: `${spec.name}.weight`, shape: [spec.outFeatures, inShape[0]], fanIn },
        { name: `${spec.name}.bias`, shape: [spec.outFeatures], fanIn },
      ],
    };
  },
  absorbsRelu: true,
  variants: VARIANTS,
  planning: {
    // Products big enough in both k and n run from textures (forward-only at big batches; the weight
    // gradient in training), if their textures fit the device.
    choose({ inShape, outShape }, { rules, training, bigForward, maxBatch, device }) {
      if (rules.tiled) return { variant: 'tiled', ...(training ? { weightGradient: 'tiled' } : {}) };
      const { inFeatures: k, outFeatures: n } = linearShapeOf(inShape, outShape, maxBatch);
      const big = Math.min(k, n) >= rules.packedLinearMinFeatures &&
        packFits(device.limits, Math.max(maxBatch, n, k), Math.max(k, maxBatch));
      return {
        ...(big && bigForward ? { variant: 'texture' } : {}),
        ...(big && training && rules.packedWeightGradient ? { weightGradient: 'texture' } : {}),
      };
    },
    // A texture product reads the packed matrix an implicit-GEMM convolution writes.
    layouts: (variant, previous) =>
      variant === 'texture' ? [previous === 'packed' ? 'packed' : 'nchw', 'nchw'] : ['nchw', 'nchw'],
    problem({ inShape, outShape }, node, { device, maxBatch }) {
      const { inFeatures: k, outFeatures: n } = linearShapeOf(inShape, outShape, maxBatch);
      if (node.variant === 'texture' && !packFits(device.limits, Math.max(maxBatch, n), k)) {
        return 'needs textures bigger than this device allows';
      }
      if (node.weightGradient === 'texture' && !packFits(device.limits, Math.max(n, k), maxBatch)) {
        return 'needs weight-gradient textures bigger than this device allows';
      }
    },
    weightGradientVariants: ['buffer', 'texture', 'tiled'],
    appliesReluBackward: true,
  },
  referenceForward: ({ spec, inShape, outShape }, input, { batch, param }) => ({
    output: linearForwardReference(
      linearShapeOf(inShape, outShape, batch),
      input,
      param(`${spec.name}.weight`),
      param(`${spec.name}.bias`),
    ),
  }),
  referenceBackward({ spec, inShape, outShape }, input, _forward, gradOutput, { batch, param, setGradient }) {
    const { gradInput, gradWeight, gradBias } = linearBackwardReference(
      linearShapeOf(inShape, outShape, batch),
      input,
      param(`${spec.name}.weight`),
      gradOutput,
    );
    setGradient(`${spec.name}.weight`, gradWeight);
    setGradient(`${spec.name}.bias`, gradBias);
    return gradInput;
  },
  // Gemm with transB=1 keeps PyTorch's [out, in] weight layout.
  onnx: (
    { spec },
  ) => [{ op: 'Gemm', inputs: [`${spec.name}.weight`, `${spec.name}.bias`], attributes: [{ name: 'transB', int: 1 }] }],
  pytorch: "nn.Linear(shape[0], layer['outFeatures'])",
  kernels: {
    // Each product's tiles by how it runs: matmul's, matmul_texture's, or gemm_tiles.ts's for the GPU class.
    node({ inShape, outShape }, draft, site) {
      const { inFeatures: k, outFeatures: n } = linearShapeOf(inShape, outShape, site.batch);
      const { batch, device } = site;
      const { variant } = draft;
      switch (variant) {
        case 'tiled': {
          const forward = typedTiles(defaultGemmTiles(device, batch, n, k), site.tuned('forward'));
          return linearNode(draft, variant, forward, () => defaultGemmTiles(device, batch, k, n), site, { n, k });
        }
        case 'buffer':
        case 'texture': {
          const forward = typedTiles(matmulTiles(variant), site.tuned('forward'));
          return linearNode(draft, variant, forward, () => DEFAULT_MATMUL_TILES, site, { n, k });
        }
      }
      throw new Error(notAVariant('linear', draft, VARIANTS));
    },
    output: () => 'own',
    packedInput: ({ inShape }, maxBatch) => ({ rows: maxBatch, k: shapeSize(inShape) }),
    allocate({ plan: p, layer, input }, { gpu, maxBatch, weightsPerUpload, texture }) {
      const { inFeatures: k, outFeatures: n } = linearShapeOf(layer.inShape, layer.outShape, maxBatch);
      const packed = (label: string, rows: number, length: number) =>
        texture(createPackedMatrix(gpu, `${p.name}.${label}`, rows, length));
      return {
        ...(p.variant === 'texture'
          ? {
            linearTextures: {
              // Its input tensor when that is packed (an implicit-GEMM convolution wrote it), else packed here.
              input: input.layout === 'packed' ? input.matrix : packed('input.packed', maxBatch, k),
              weight: packed('weight.packed', n, k),
              prepacked: { input: input.layout === 'packed', weight: weightsPerUpload },
            },
          }
          : {}),
        ...(p.weightGradient === 'texture'
          ? {
            weightGradientTextures: {
              gradOutputT: packed('output.grad.packedT', n, maxBatch),
              inputT: packed('input.packedT', k, maxBatch),
            },
          }
          : {}),
      };
    },
    async forward(node, context) {
      const { layer, input, output, plan: p, linearTextures } = node;
      const { gpu, batch } = context;
      if (output.layout !== 'nchw') throw new Error(`${p.name} writes a buffer, not ${output.layout}`);
      const spec = layer.spec;
      const shape = linearShapeOf(layer.inShape, layer.outShape, batch);
      const weights = shape.inFeatures * shape.outFeatures;
      const op = {
        name: `${layer.name} forward${p.relu ? '+relu' : ''}`,
        role: 'forward' as const,
        flops: 2 * batch * weights,
        bytes: 4 * (batch * shapeSize(layer.inShape) + weights + batch * shapeSize(layer.outShape)),
      };
      if (input.layout === 'packed') {
        // Multiplied from its packed input as it is (linearForward's texture path, less the input's packing).
        if (!linearTextures || p.variant === 'tiled') {
          throw new Error(`${p.name}: reading a packed input needs the texture variant`);
        }
        const weight = context.param(`${spec.name}.weight`);
        return [{
          ...op,
          dispatches: [
            ...(context.weightsPerUpload ? [] : [await packLinearWeight(gpu, shape, weight, linearTextures.weight)]),
            ...(await matmulTexture(
              gpu,
              { m: batch, n: shape.outFeatures, k: shape.inFeatures },
              {
                bias: context.param(`${spec.name}.bias`),
                relu: p.relu,
                tiles: p.tiles.forward,
              },
              input.matrix,
              linearTextures.weight,
              output.buffer,
            )),
          ],
        }];
      }
      if (input.layout !== 'nchw') throw new Error(`${p.name} reads a buffer or a packed matrix, not ${input.layout}`);
      const operands = [
        input.buffer,
        context.param(`${spec.name}.weight`),
        context.param(`${spec.name}.bias`),
        output.buffer,
      ] as const;
      if (p.variant === 'tiled') {
        return [{
          ...op,
          name: `${op.name} (tiled)`,
          dispatches: await linearForwardTiled(gpu, shape, {
            relu: p.relu,
            tiles: p.tiles.forward,
          }, ...operands),
        }];
      }
      return [{
        ...op,
        dispatches: await linearForward(gpu, shape, {
          relu: p.relu,
          tiles: p.tiles.forward,
          packed: linearTextures,
        }, ...operands),
      }];
    },
    async backward(node, context) {
      const { layer, plan: p, weightGradientTextures } = node;
      const { input, output } = onBuffers(node);
      const { gpu, batch, reluMask } = context;
      if (p.weightGradient === undefined) throw new Error(`${p.name}: a forward-only plan has no backward`);
      const spec = layer.spec;
      const gradOutput = output.grad;
      if (!gradOutput) return [];
      const shape = linearShapeOf(layer.inShape, layer.outShape, batch);
      const weights = shape.inFeatures * shape.outFeatures;
      const cost = {
        flops: 2 * batch * weights,
        bytes: 4 * (batch * shapeSize(layer.inShape) + weights + batch * shapeSize(layer.outShape)),
      };
      const gradWeight = context.grad(`${spec.name}.weight`);
      const gradBias = context.grad(`${spec.name}.bias`);
      const ops: Op[] = [{
        name: `${layer.name} backward weight`,
        role: 'backwardWeight' as const,
        ...cost,
        dispatches: p.weightGradient === 'tiled'
          ? await linearBackwardWeightTiled(gpu, shape, input.buffer, gradOutput, gradWeight, gradBias, {
            tiles: p.tiles.backwardWeight,
            subgroups: context.subgroups,
          })
          : await linearBackwardWeight(gpu, shape, input.buffer, gradOutput, gradWeight, gradBias, {
            packed: weightGradientTextures,
            tiles: p.tiles.backwardWeight,
          }),
      }];
      if (input.grad) {
        const weight = context.param(`${spec.name}.weight`);
        ops.push({
          name: `${layer.name} backward input${reluMask ? '+relu' : ''}`,
          role: 'backwardInput' as const,
          ...cost,
          dispatches: p.variant === 'tiled'
            ? await linearBackwardInputTiled(gpu, shape, gradOutput, weight, input.grad, {
              reluOutput: reluMask,
              tiles: p.tiles.backwardInput,
            })
            : await linearBackwardInput(gpu, shape, gradOutput, weight, input.grad, {
              reluOutput: reluMask,
              tiles: p.tiles.backwardInput,
            }),
        });
      }
      return ops;
    },
    async packWeights({ layer, linearTextures }, { gpu, param }) {
      if (!linearTextures) return [];
      return [
        await packLinearWeight(
          gpu,
          linearShapeOf(layer.inShape, layer.outShape, 1),
          param(`${layer.spec.name}.weight`),
          linearTextures.weight,
        ),
      ];
    },
  },
};

/**
 * A linear node with its forward's tiles, and in training those of its weight gradient (as the draft
 * says it runs: [n, k] = [n, batch]·[batch, k]) and of its input gradient (`inputDefaults`).
 */
function linearNode<V extends LinearVariant, F extends object, I extends object>(
  draft: DraftNode,
  variant: V,
  forward: F,
  inputDefaults: () => I,
  { batch, device, training, tuned }: TileSite,
  { n, k }: { n: number; k: number },
): KindNode<'linear', LinearPart<V, F, I>> {
  const { weightGradient } = draft;
  if (!training || weightGradient === undefined) return planNode('linear', draft, variant, { forward }, {});
  const backwardInput = typedTiles(inputDefaults(), tuned('backwardInput'));
  if (weightGradient === 'tiled') {
    const backwardWeight = typedTiles(defaultGemmTiles(device, n, k, batch), tuned('backwardWeight'));
    return planNode('linear', draft, variant, { forward, backwardWeight, backwardInput }, { weightGradient });
  }
  const backwardWeight = typedTiles(matmulTiles(weightGradient), tuned('backwardWeight'));
  return planNode('linear', draft, variant, { forward, backwardWeight, backwardInput }, { weightGradient });
}

/** The register-block kernels' tiles: from textures, or from buffers. */
function matmulTiles(variant: LinearVariant): MatmulTiles {
  return variant === 'texture' ? DEFAULT_TEXTURE_MATMUL_TILES : DEFAULT_MATMUL_TILES;
}
