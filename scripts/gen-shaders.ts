// Writes src/gpu/shaders.gen.ts: every shaders/**/*.wgsl as a string, so that kernels load the same
// way in Node, Deno and the browser (which cannot read shaders/ from disk).
//   npm run gen:shaders        (deno run --allow-read --allow-write scripts/gen-shaders.ts)
// test/gpu/shaders-gen.test.ts fails when the committed module differs from what this writes.
import { readdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';

/** shaders/ and src/gpu/shaders.gen.ts of the repository that holds this script (from scripts/ or build/scripts/). */
export function shaderPaths(): { shaderDir: string; moduleFile: string } {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!readdirSync(dir).includes('package.json')) {
    if (dirname(dir) === dir) throw new Error('gen-shaders: no package.json above this script');
    dir = dirname(dir);
  }
  return { shaderDir: join(dir, 'shaders'), moduleFile: join(dir, 'src', 'gpu', 'shaders.gen.ts') };
}

function wgslFiles(dir: string): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : 1))) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) out.push(...wgslFiles(path));
    else if (entry.name.endsWith('.wgsl')) out.push(path);
  }
  return out;
}

/** The module's text: keys are paths under shaders/ without `.wgsl` ("adam", "include/register_block"). */
export function generateShaderModule(shaderDir: string): string {
  const entries = wgslFiles(shaderDir).map((path) => {
    const key = relative(shaderDir, path).split('\\').join('/').replace(/\.wgsl$/, '');
    return `  ${JSON.stringify(key)}:\n    ${JSON.stringify(readFileSync(path, 'utf8'))},`;
  });
  return [
    '// Generated from shaders/**/*.wgsl by `npm run gen:shaders` (scripts/gen-shaders.ts); do not edit.',
    '// Kernels load their WGSL from here under every runtime, the browser included.',
    'export const SHADER_SOURCES: Readonly<Record<string, string>> = {',
    ...entries,
    '};',
    '',
  ].join('\n');
}

const isMain = (() => {
  const argv1 = process.argv[1];
  return argv1 !== undefined &&
    fileURLToPath(import.meta.url).replace(/\.[jt]s$/, '') === argv1.replace(/\.[jt]s$/, '');
})();

if (isMain) {
  const { shaderDir, moduleFile } = shaderPaths();
  const text = generateShaderModule(shaderDir);
  // Written beside, then renamed: an interrupted run leaves the old module whole.
  writeFileSync(`${moduleFile}.tmp`, text);
  renameSync(`${moduleFile}.tmp`, moduleFile);
  console.log(`wrote ${relative(process.cwd(), moduleFile)} (${text.length} characters)`);
}
