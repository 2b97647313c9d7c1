// `serve`: a small static server for the browser page (web/): the page, the engine bundled for the
// browser from the same src/ (esbuild, at start-up), a checkpoint's parameters, and MNIST's files.
import { createServer, type ServerResponse } from 'node:http';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { projectRoot, resolveDataDir } from '../data/mnist.ts';
import { datasetFiles, MNIST } from '../data/datasets.ts';
import { loadCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.ts';
import { intOption, parseCommandArgs, UsageError } from './args.ts';
import { defaultCheckpointPath } from './common.ts';
import { bundleWebPage, modelJson, paramsBin } from './web-page.ts';

export const SERVE_HELP = `Usage: serve [options]

Serves the browser page on http://HOST:PORT/: train a model on MNIST in the page, draw a digit and
watch the network's probabilities update as you draw. The page runs the engine's own WGSL kernels and
its trainer through the browser's WebGPU (navigator.gpu); a browser without WebGPU is told so. It
fetches MNIST's four .gz files from /mnist/, served from the folder train reads them from ($MNIST_DIR,
else data/mnist), and checks them against the same SHA-256 values. "Download checkpoint" saves what
train writes (eval, predict and train --resume take it, with the optimizer state beside it); "Open"
loads a checkpoint or a PyTorch state_dict. The pad starts with --checkpoint's model. A model
trained on --dataset folder gets the drawing as predict takes a picture for it: in its channels (the
drawing copied into R, G and B for a color model), at its input size, normalized with the checkpoint's
recorded constants, with its class names.

Options:
  --checkpoint PATH    checkpoint the pad starts with (default: data/checkpoints/digit.safetensors
                       when it exists; else none until one is trained or opened in the page)
  --port N             port (default: 8080; 0 picks a free one)
  --host HOST          address to listen on (default: 127.0.0.1, this machine only)
  -h, --help           show this help

Ctrl-C stops the server.`;

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
  // Without --checkpoint, the default one if it is there; else the page starts with no model (train one).
  const defaultPath = defaultCheckpointPath('digit');
  const checkpoint: LoadedCheckpoint | null = values.checkpoint !== undefined || existsSync(defaultPath)
    ? loadCheckpoint(values.checkpoint ?? defaultPath)
    : null;
  const root = projectRoot();
  const bundle = await bundleWebPage(root);
  const html = readFileSync(join(root, 'web', 'index.html'));
  const files: Record<string, [string, string | Uint8Array]> = {
    '/': ['text/html; charset=utf-8', html],
    '/index.html': ['text/html; charset=utf-8', html],
    '/main.js': ['text/javascript; charset=utf-8', bundle],
    '/model.json': ['application/json', modelJson(checkpoint)],
    ...(checkpoint
      ? { '/params.bin': ['application/octet-stream', paramsBin(checkpoint)] as [string, Uint8Array] }
      : {}),
  };
  // The page trains on MNIST's four .gz files from the folder train reads them from ($MNIST_DIR, data/mnist).
  const mnistDir = resolveDataDir(undefined, MNIST);
  const mnistFile = (path: string): [string, Uint8Array] | string | undefined => {
    const name = /^\/mnist\/([a-z0-9-]+\.gz)$/.exec(path)?.[1];
    if (!name || !datasetFiles(MNIST).some((f) => `${f.name}.gz` === name)) return undefined;
    const file = join(mnistDir, name);
    if (!existsSync(file)) {
      return `${file} is not there: train once from the command line (it downloads MNIST there), or set MNIST_DIR`;
    }
    return ['application/gzip', readFileSync(file)];
  };
  const send = (res: ServerResponse, status: number, type: string, body: string | Uint8Array) => {
    res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' });
    res.end(body);
  };
  const server = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    const file = files[path] ?? mnistFile(path);
    if (req.method !== 'GET' && req.method !== 'HEAD') send(res, 405, 'text/plain', 'GET only\n');
    else if (typeof file === 'string') send(res, 404, 'text/plain', `${file}\n`);
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
  console.log(
    `serving http://${host}:${actualPort}/ (${
      checkpoint ? `checkpoint ${checkpoint.path}` : 'no checkpoint: train one in the page'
    }, MNIST from ${mnistDir}); Ctrl-C to stop`,
  );
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
