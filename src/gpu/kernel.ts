// Loads WGSL kernels (shaders/, embedded in shaders.gen.ts so the browser has them too), compiles them
// once per (file, override constants), and gives each an explicit bind group layout so that a binding
// a specialization leaves unused still binds.
import type { Gpu } from './device.ts';
import { SHADER_SOURCES } from './shaders.gen.ts';

/** A whole buffer, or a range of one (offsets must be multiples of 256 bytes). */
export type BufferArg = GPUBuffer | GPUBufferBinding;

/** What a binding holds: a buffer (range), or a view of a texture (see BindingKind). */
export type BindingArg = BufferArg | GPUTextureView;

const isTextureView = (arg: BindingArg): arg is GPUTextureView => !('buffer' in arg) && !('size' in arg);

const bindingLabel = (arg: BindingArg): string =>
  isTextureView(arg) ? arg.label : 'buffer' in arg ? arg.buffer.label : arg.label;

/**
 * How a kernel sees each binding, in @binding order of @group(0): storage buffers read-only or
 * read-write, a uniform buffer, a `texture_2d<f32>` read with textureLoad (unfilterable float), or a
 * write-only `texture_storage_2d<rgba32float, write>`.
 */
export type BindingKind = 'read' | 'read_write' | 'uniform' | 'texture' | 'rgba32float_write';

export interface KernelSpec {
  /** File name in shaders/ without `.wgsl`. */
  readonly shader: string;
  readonly entryPoint?: string;
  readonly bindings: readonly BindingKind[];
  /** WGSL `override` constants; booleans are passed as 0/1. */
  readonly constants?: Readonly<Record<string, number>>;
}

export class ShaderCompileError extends Error {
  override name = 'ShaderCompileError';
}

/** A shader's source, its includes pasted in, and where each of its lines came from (for error messages). */
interface ShaderSource {
  code: string;
  /** origins[i]: file (relative to the project) and 1-based line of line i + 1 of `code`. */
  origins: { file: string; line: number }[];
}

const sourceCache = new Map<string, ShaderSource>();

/** shaders/<key>.wgsl as embedded in shaders.gen.ts, or undefined. */
const embedded = (
  key: string,
): string | undefined => (Object.hasOwn(SHADER_SOURCES, key) ? SHADER_SOURCES[key] : undefined);

/**
 * A line `// #include "file.wgsl"` stands for shaders/include/file.wgsl: code that kernels share (WGSL
 * has no includes). As a comment, it leaves the kernel's own file valid to WGSL tooling.
 */
const INCLUDE_LINE = /^\/\/ #include "([\w.-]+\.wgsl)"$/;

function loadShader(name: string): ShaderSource {
  let source = sourceCache.get(name);
  if (source === undefined) {
    const own = embedded(name);
    if (own === undefined) {
      throw new Error(
        `Kernel "${name}" not found in src/gpu/shaders.gen.ts: expected shaders/${name}.wgsl, then \`npm run gen:shaders\``,
      );
    }
    const lines: string[] = [];
    const origins: ShaderSource['origins'] = [];
    own.split('\n').forEach((text, i) => {
      const include = INCLUDE_LINE.exec(text);
      if (!include) {
        lines.push(text);
        origins.push({ file: `shaders/${name}.wgsl`, line: i + 1 });
        return;
      }
      const included = embedded(`include/${include[1].replace(/\.wgsl$/, '')}`);
      if (included === undefined) {
        throw new Error(
          `shaders/${name}.wgsl includes "${include[1]}", but shaders/include/${include[1]} does not exist`,
        );
      }
      included.replace(/\n$/, '').split('\n').forEach((line, j) => {
        lines.push(line);
        origins.push({ file: `shaders/include/${include[1]}`, line: j + 1 });
      });
    });
    source = { code: lines.join('\n'), origins };
    sourceCache.set(name, source);
  }
  return source;
}

/** The source of shaders/<name>.wgsl, its includes pasted in. */
export function shaderSource(name: string): string {
  return loadShader(name).code;
}

/** Where line `line` (1-based) of shaderSource(name) was written: `shaders/<file>.wgsl:<line>`. */
export function shaderLineOrigin(name: string, line: number): string {
  const origin = loadShader(name).origins[line - 1];
  return origin ? `${origin.file}:${origin.line}` : `shaders/${name}.wgsl:${line}`;
}

export class Kernel {
  private compiled: GPUComputePipeline | null = null;
  /** Resolves once the pipeline is compiled (see compileTogether); rejects with its ShaderCompileError. */
  readonly ready: Promise<void>;

  constructor(
    readonly label: string,
    pipeline: Promise<GPUComputePipeline>,
    readonly layout: GPUBindGroupLayout,
    readonly bindingCount: number,
  ) {
    this.ready = pipeline.then((p) => {
      this.compiled = p;
    });
  }

  get pipeline(): GPUComputePipeline {
    if (!this.compiled) {
      throw new Error(`Kernel ${this.label} is still compiling: record it after compileTogether() returns`);
    }
    return this.compiled;
  }

  /** Binds buffers and texture views in @binding order. Create bind groups once, at plan time, not per step. */
  bind(gpu: Gpu, args: readonly BindingArg[]): GPUBindGroup {
    if (args.length !== this.bindingCount) {
      throw new Error(`Kernel ${this.label} takes ${this.bindingCount} bindings, got ${args.length}`);
    }
    return gpu.device.createBindGroup({
      label: `${this.label}(${args.map(bindingLabel).join(', ')})`,
      layout: this.layout,
      entries: args.map((arg, binding) => ({
        binding,
        resource: isTextureView(arg) ? arg : 'buffer' in arg ? arg : { buffer: arg },
      })),
    });
  }
}

const kernelCache = new WeakMap<GPUDevice, Map<string, Kernel>>();
const moduleCache = new WeakMap<GPUDevice, Map<string, GPUShaderModule>>();

function layoutEntry(kind: BindingKind, binding: number): GPUBindGroupLayoutEntry {
  const visibility = 0x4; /* GPUShaderStage.COMPUTE */
  switch (kind) {
    case 'texture':
      return { binding, visibility, texture: { sampleType: 'unfilterable-float', viewDimension: '2d' } };
    case 'rgba32float_write':
      return {
        binding,
        visibility,
        storageTexture: { access: 'write-only', format: 'rgba32float', viewDimension: '2d' },
      };
    default:
      return {
        binding,
        visibility,
        buffer: { type: kind === 'read' ? 'read-only-storage' : kind === 'read_write' ? 'storage' : 'uniform' },
      };
  }
}

async function compileModule(gpu: Gpu, name: string): Promise<GPUShaderModule> {
  let modules = moduleCache.get(gpu.device);
  if (!modules) moduleCache.set(gpu.device, modules = new Map());
  const cached = modules.get(name);
  if (cached) return cached;

  const code = shaderSource(name);
  gpu.device.pushErrorScope('validation');
  const module = gpu.device.createShaderModule({ label: `shaders/${name}.wgsl`, code });
  const scopeError = await gpu.device.popErrorScope();
  const info = typeof module.getCompilationInfo === 'function' ? await module.getCompilationInfo() : undefined;
  const errors = (info?.messages ?? []).filter((m) => m.type === 'error');
  if (errors.length > 0) {
    // Named by the file and line they were written on, an included file's included.
    const lines = errors.map((m) => `${shaderLineOrigin(name, m.lineNum)}:${m.linePos}: ${m.message}`);
    throw new ShaderCompileError(lines.join('\n'));
  }
  if (scopeError) throw new ShaderCompileError(`shaders/${name}.wgsl: ${scopeError.message}`);
  modules.set(name, module);
  return module;
}

/**
 * Compile scopes, innermost last, per device: while one is open, getKernel starts a pipeline compiling
 * and returns without waiting, and the scope waits for all of them at its end.
 */
const compileScopes = new WeakMap<GPUDevice, Promise<void>[][]>();

/**
 * Runs `build` (which gets kernels, binds them and records dispatches, but submits nothing) with every
 * pipeline it asks for compiling at once (createComputePipelineAsync), and returns when all are ready.
 * A plan's two dozen pipelines then compile in parallel where the implementation allows, instead of
 * one after another.
 */
export async function compileTogether<T>(gpu: Gpu, build: () => Promise<T>): Promise<T> {
  let scopes = compileScopes.get(gpu.device);
  if (!scopes) compileScopes.set(gpu.device, scopes = []);
  const pending: Promise<void>[] = [];
  scopes.push(pending);
  let result: T;
  try {
    result = await build();
  } catch (err) {
    await Promise.allSettled(pending); // reported by `err`; nothing is left to reject unhandled
    throw err;
  } finally {
    scopes.splice(scopes.lastIndexOf(pending), 1);
  }
  await Promise.all(pending);
  return result;
}

/** Waits for `kernel`'s pipeline, or leaves that to the open compile scope. */
async function settle(gpu: Gpu, kernel: Kernel): Promise<Kernel> {
  const scope = compileScopes.get(gpu.device)?.at(-1);
  if (scope) scope.push(kernel.ready);
  else await kernel.ready;
  return kernel;
}

async function createPipeline(
  gpu: Gpu,
  descriptor: GPUComputePipelineDescriptor,
  shader: string,
): Promise<GPUComputePipeline> {
  const what = `shaders/${shader}.wgsl (pipeline ${descriptor.label})`;
  if (typeof gpu.device.createComputePipelineAsync === 'function') {
    try {
      return await gpu.device.createComputePipelineAsync(descriptor);
    } catch (err) {
      throw new ShaderCompileError(`${what}: ${(err as Error).message}`);
    }
  }
  gpu.device.pushErrorScope('validation');
  const pipeline = gpu.device.createComputePipeline(descriptor);
  const error = await gpu.device.popErrorScope();
  if (error) throw new ShaderCompileError(`${what}: ${error.message}`);
  return pipeline;
}

/**
 * Returns the kernel for `spec`, from cache when this device has built the same specialization. Its
 * pipeline is ready on return, unless a compileTogether scope is open (then it is at the scope's end).
 */
export async function getKernel(gpu: Gpu, spec: KernelSpec): Promise<Kernel> {
  const constants = spec.constants ?? {};
  const key = `${spec.shader}:${spec.entryPoint ?? 'main'}:${
    JSON.stringify(
      Object.keys(constants).sort().map((k) => [k, constants[k]]),
    )
  }`;
  let kernels = kernelCache.get(gpu.device);
  if (!kernels) kernelCache.set(gpu.device, kernels = new Map());
  const cached = kernels.get(key);
  if (cached) return settle(gpu, cached);

  const module = await compileModule(gpu, spec.shader);
  const label = `${spec.shader}${Object.keys(constants).length ? JSON.stringify(constants) : ''}`;
  const layout = gpu.device.createBindGroupLayout({
    label,
    entries: spec.bindings.map(layoutEntry),
  });
  const pipeline = createPipeline(gpu, {
    label,
    layout: gpu.device.createPipelineLayout({ label, bindGroupLayouts: [layout] }),
    compute: { module, entryPoint: spec.entryPoint ?? 'main', constants: { ...constants } },
  }, spec.shader);
  const kernel = new Kernel(label, pipeline, layout, spec.bindings.length);
  kernels.set(key, kernel);
  // A failed pipeline leaves the cache, so asking again reports the error again.
  kernel.ready.catch(() => kernels.get(key) === kernel && kernels.delete(key));
  return settle(gpu, kernel);
}

/** How many distinct pipelines this device has built so far (see getKernel's cache). */
export function compiledKernelCount(gpu: Gpu): number {
  return kernelCache.get(gpu.device)?.size ?? 0;
}

/** One kernel launch with its buffers already bound. */
export interface Dispatch {
  readonly kernel: Kernel;
  readonly bindGroup: GPUBindGroup;
  readonly workgroups: readonly [number, number?, number?];
}

export function recordDispatches(pass: GPUComputePassEncoder, dispatches: readonly Dispatch[]): void {
  for (const { kernel, bindGroup, workgroups } of dispatches) {
    pass.setPipeline(kernel.pipeline);
    pass.setBindGroup(0, bindGroup);
    pass.dispatchWorkgroups(workgroups[0], workgroups[1] ?? 1, workgroups[2] ?? 1);
  }
}

/** Records and submits dispatches in one compute pass (tests and one-off work). */
export function submitDispatches(gpu: Gpu, dispatches: readonly Dispatch[], label = 'dispatches'): void {
  const encoder = gpu.device.createCommandEncoder({ label });
  const pass = encoder.beginComputePass({ label });
  recordDispatches(pass, dispatches);
  pass.end();
  gpu.device.queue.submit([encoder.finish()]);
}

/**
 * Splits a 1-D workgroup count over x and y so that neither exceeds the 65535 per-dimension limit.
 * Kernels dispatched this way compute `wid.x + wid.y * nwg.x` and skip ids past their end.
 */
export function workgroupGrid(count: number, maxPerDimension = 65535): [number, number] {
  if (count <= maxPerDimension) return [Math.max(1, count), 1];
  const y = Math.ceil(count / maxPerDimension);
  return [Math.ceil(count / y), y];
}
