// `export --format web`: a folder that classifies drawn digits in any WebGPU browser from any static host,
// with no process of ours: index.html (the pad of serve's page, web/export.html), main.js (the engine
// bundled for browsers), model.json and params.bin (the checkpoint as the page reads it). Written into a
// temporary folder beside --out and renamed into place, so --out is either absent or complete.
import { mkdirSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import process from 'node:process';
import { projectRoot } from '../data/mnist.ts';
import { ensureDir, errorCode, syncDirectory } from '../io/files.ts';
import type { LoadedCheckpoint } from '../train/checkpoint.ts';
import { UsageError } from './args.ts';
import { bundleWebPage, modelJson, paramsBin } from './web-page.ts';

/** Refuses an --out that exists (unless `overwrite` and it is a folder this command wrote). */
export function checkWebTarget(out: string, overwrite: boolean): void {
  let stats;
  try {
    stats = statSync(out);
  } catch (err) {
    if (errorCode(err) === 'ENOENT') return;
    throw err;
  }
  if (!stats.isDirectory()) throw new UsageError(`--out ${out} is a file; give the path of a folder to create`);
  if (!overwrite) throw new UsageError(`--out ${out} exists; pass --overwrite to replace it, or another --out`);
  let index = '';
  try {
    index = readFileSync(join(out, 'index.html'), 'utf8');
  } catch {
    // No index.html: not one of ours.
  }
  if (!index.includes('webgpu-digits')) {
    throw new UsageError(`--out ${out} is a folder that export --format web did not write; it is left as it is`);
  }
}

/** Writes the page for `checkpoint` into the folder `out` (created, or replaced with `overwrite`). */
export async function exportWebPage(checkpoint: LoadedCheckpoint, out: string, overwrite: boolean): Promise<number> {
  const root = projectRoot();
  const text = (s: string) => new TextEncoder().encode(s);
  const files: [string, Uint8Array][] = [
    ['index.html', new Uint8Array(readFileSync(join(root, 'web', 'export.html')))],
    ['main.js', text(await bundleWebPage(root, { sourcemap: false }))],
    // The page names the checkpoint by its file name: the folder may be published anywhere.
    ['model.json', text(modelJson(checkpoint, basename(checkpoint.path)))],
    ['params.bin', paramsBin(checkpoint)],
  ];
  ensureDir(dirname(out));
  const temp = join(dirname(out), `.${basename(out)}.tmp-${process.pid}`);
  rmSync(temp, { recursive: true, force: true });
  mkdirSync(temp);
  try {
    for (const [name, bytes] of files) writeFileSync(join(temp, name), bytes);
    await syncDirectory(temp);
    checkWebTarget(out, overwrite); // again: something may have appeared there meanwhile
    if (overwrite) rmSync(out, { recursive: true, force: true });
    renameSync(temp, out);
    await syncDirectory(dirname(out));
  } catch (err) {
    rmSync(temp, { recursive: true, force: true });
    throw err;
  }
  return files.reduce((sum, [, bytes]) => sum + bytes.length, 0);
}
