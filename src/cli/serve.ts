// `serve`: a small static server for the browser page (web/): the page, the engine bundled for the
// browser from the same src/ (esbuild, at start-up), and a checkpoint's parameters.
import { createServer, type ServerResponse } from 'node:http';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { projectRoot } from '../data/mnist.ts';
import { ParameterLayout } from '../nn/parameters.ts';
import { parameterSpecs } from '../nn/spec.ts';
import { loadCheckpoint } from '../train/checkpoint.ts';
import { intOption, parseCommandArgs, UsageError } from './args.ts';
import { defaultCheckpointPath } from './common.ts';
import { FOLDER_DATASET, recordedPreprocessing } from './folder-data.ts';
import { DATASETS } from '../data/datasets.ts';
import { pageInputOf } from '../io/pad-input.ts';

export const SERVE_HELP = `Usage: serve [options]

Serves the browser page on http://HOST:PORT/: draw a digit and watch the network's probabilities
update as you draw. The page runs the engine's own WGSL kernels through the browser's WebGPU
(navigator.gpu), on the parameters of --checkpoint; a browser without WebGPU is told so. A model
trained on --dataset folder gets the drawing as predict takes a picture for it: in its channels (the
drawing copied into R, G and B for a color model), at its input size, normalized with the checkpoint's
recorded constants, with its class names.

Options:
  --checkpoint PATH    checkpoint to serve (default: data/checkpoints/digit.safetensors)
  --port N             port (default: 8080; 0 picks a free one)
  --host HOST          address to listen on (default: 127.0.0.1, this machine only)
  -h, --help           show this help

Ctrl-C stops the server.`;

/** Modules that only Node runs, replaced in the browser bundle by what stands in for them there. */
const NODE_ONLY: Record<string, string> = {
  // Mutes Dawn's stderr notices under Node (node:fs); in a browser there is nothing to mute.
  'src/gpu/quiet-stderr.ts': 'export async function withStderrMuted(work) { return await work(); }',
};

const nodeOnlyModules = {
  name: 'node-only-modules',
  setup(build: import('esbuild').PluginBuild) {
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
};

/** Bundles web/main.ts with the engine for browsers; a node: import reaching it fails here, loudly. */
export async function bundleWebPage(root = projectRoot()): Promise<string> {
  const esbuild = await import('esbuild');
  const result = await esbuild.build({
    entryPoints: [join(root, 'web', 'main.ts')],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    target: 'es2022',
    write: false,
    sourcemap: 'inline',
    // Dawn's Node bindings: device.ts imports them only under Node.
    external: ['webgpu'],
    plugins: [nodeOnlyModules],
    logLevel: 'silent',
  });
  return result.outputFiles[0].text;
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    checkpoint: { type: 'string' } as const,
    port: { type: 'string', default: '8080' } as const,
    host: { type: 'string', default: '127.0.0.1' } as const,
    help: { type: 'boolean', short: 'h', default: false } as const,
  });
  if (values.help) {
    console.log(SERVE_HELP);
    return 0;
  }
  const port = intOption(values.port, 'port', 0, 65535);
  // An empty --host (an unset shell variable) would listen on every interface.
  if (values.host!.trim() === '') {
    throw new UsageError('--host is empty; give an address (127.0.0.1, or 0.0.0.0 for every interface)');
  }
  const checkpoint = loadCheckpoint(values.checkpoint ?? defaultCheckpointPath('digit'));
  const root = projectRoot();
  let bundle: string;
  try {
    bundle = await bundleWebPage(root);
  } catch (err) {
    throw new Error(`bundling web/main.ts failed: ${(err as Error).message}`);
  }
  const html = readFileSync(join(root, 'web', 'index.html'));
  const model = JSON.stringify({
    model: checkpoint.model.name,
    // The page builds the network from this, not from a preset of the same name.
    model_spec: checkpoint.model,
    checkpoint: checkpoint.path,
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
  const params = new Uint8Array(checkpoint.params.buffer, checkpoint.params.byteOffset, checkpoint.params.byteLength);
  const files: Record<string, [string, string | Uint8Array]> = {
    '/': ['text/html; charset=utf-8', html],
    '/index.html': ['text/html; charset=utf-8', html],
    '/main.js': ['text/javascript; charset=utf-8', bundle],
    '/model.json': ['application/json', model],
    // Float32, little-endian, in the engine's parameter layout (what Network.setParameters takes).
    '/params.bin': ['application/octet-stream', params],
  };
  const send = (res: ServerResponse, status: number, type: string, body: string | Uint8Array) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const file = files[path];
    if (req.method !== 'GET' && req.method !== 'HEAD') send(res, 405, 'text/plain', 'GET only\n');
    else if (file) send(res, 200, file[0], file[1]);
    else send(res, 404, 'text/plain', `not found: ${path}\n`);
  });
  await new Promise<void>((resolve, reject) => {
    server.once(
      'error',
      (err: NodeJS.ErrnoException) =>
        reject(
          new Error(
            err.code === 'EADDRINUSE'
              ? `port ${port} is in use: pass --port N (or --port 0 for any free one)`
              : err.message,
          ),
        ),
    );
    server.listen(port, values.host, () => resolve());
  });
  const address = server.address();
  const actualPort = typeof address === 'object' && address ? address.port : port;
  const host = values.host!.includes(':') ? `[${values.host}]` : values.host;
  console.log(`serving http://${host}:${actualPort}/ (checkpoint ${checkpoint.path}); Ctrl-C to stop`);
  await new Promise<void>((resolve) => {
    const stop = () => {
      server.close(() => resolve());
      // close() waits for open connections: a client holding a half-sent request would keep us up.
      server.closeAllConnections?.();
      // Where the runtime cannot drop them (no closeAllConnections), exit anyway within a second.
      setTimeout(() => process.exit(0), 1000).unref?.();
    };
    // on, not once: under Deno, removing the last listener while its signal is delivered ends the
    // process by the signal instead of this clean exit.
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
  return 0;
}
