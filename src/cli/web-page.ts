// The browser page's files, shared by `serve` and `export --format web`: web/main.ts bundled with the
// engine for browsers (esbuild), and a checkpoint as the page reads it (model.json, params.bin).
import { join } from 'node:path';
import { projectRoot } from '../data/mnist.ts';
import { DATASETS } from '../data/datasets.ts';
import { pageInputOf } from '../io/pad-input.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { parameterSpecs } from '../nn/spec.ts';
import type { LoadedCheckpoint } from '../train/checkpoint.ts';
import { FOLDER_DATASET, recordedPreprocessing } from './folder-data.ts';

/** Modules that only Node runs, replaced in the browser bundle by what stands in for them there. */
const NODE_ONLY: Record<string, string> = {
  // Mutes Dawn's stderr notices under Node (node:fs); in a browser there is nothing to mute.
  'src/gpu/quiet-stderr.ts': 'export async function withStderrMuted(work) { return await work(); }',
};

const nodeOnlyModules = (root: string) => ({
  name: 'node-only-modules',
  setup(build: import('esbuild').PluginBuild) {
    // Checkpoint and dataset digests hash synchronously (node:crypto); browsers' crypto.subtle is async.
    build.onResolve({ filter: /^node:crypto$/ }, () => ({ path: join(root, 'src', 'util', 'sha256.ts') }));
    build.onResolve({ filter: /\.ts$/ }, (args: { path: string; resolveDir: string }) => {
      const path = join(args.resolveDir, args.path).split('\\').join('/');
      const key = Object.keys(NODE_ONLY).find((k) => path.endsWith(`/${k}`));
      return key ? { path: key, namespace: 'node-only' } : undefined;
    });
    build.onLoad(
      { filter: /.*/, namespace: 'node-only' },
      (args: { path: string }) => ({ contents: NODE_ONLY[args.path], loader: 'js' }),
    );
  },
});

/**
 * Bundles web/main.ts with the engine for browsers; any other node: import reaching it fails here,
 * loudly. `sourcemap` inlines the sources (for serve; an exported page leaves them out).
 */
export async function bundleWebPage(root = projectRoot(), options: { sourcemap?: boolean } = {}): Promise<string> {
  const esbuild = await import('esbuild');
  let result;
  try {
    result = await esbuild.build({
      entryPoints: [join(root, 'web', 'main.ts')],
      bundle: true,
      format: 'esm',
      platform: 'browser',
      target: 'es2022',
      write: false,
      sourcemap: options.sourcemap === false ? false : 'inline',
      minify: options.sourcemap === false,
      // Dawn's Node bindings: device.ts imports them only under Node.
      external: ['webgpu'],
      plugins: [nodeOnlyModules(root)],
      logLevel: 'silent',
    });
  } catch (err) {
    throw new Error(`bundling web/main.ts failed: ${(err as Error).message}`);
  }
  return result.outputFiles[0].text;
}

/** /model.json: the checkpoint's model and how the page turns the drawing into its input (null: none). */
export function modelJson(checkpoint: LoadedCheckpoint | null, shownPath = checkpoint?.path): string {
  if (!checkpoint) return 'null';
  return JSON.stringify({
    model: checkpoint.model.name,
    // The page builds the network from this, not from a preset of the same name.
    model_spec: checkpoint.model,
    checkpoint: shownPath,
    epoch: checkpoint.metadata.epoch ?? null,
    parameters: new ParameterLayout(parameterSpecs(checkpoint.model)).parameterCount,
    elements: checkpoint.params.length,
    // How the page turns the drawing into input: the checkpoint's channels, size, constants and classes.
    ...pageInputOf(
      checkpoint.model,
      { folder: checkpoint.metadata.dataset === FOLDER_DATASET, ...recordedPreprocessing(checkpoint.metadata) },
      DATASETS.get(checkpoint.metadata.dataset ?? '')?.classes,
    ),
  });
}

/** /params.bin: float32, little-endian, in the engine's parameter layout (what Network.setParameters takes). */
export function paramsBin(checkpoint: LoadedCheckpoint): Uint8Array {
  const { params } = checkpoint;
  return new Uint8Array(params.buffer, params.byteOffset, params.byteLength);
}
