// src/gpu/shaders.gen.ts embeds shaders/**/*.wgsl for every runtime (the browser cannot read files):
// it must be what `npm run gen:shaders` writes now, or kernels would run stale code.
import { readFileSync } from 'node:fs';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generateShaderModule, shaderPaths } from '../../scripts/gen-shaders.ts';
import { shaderSource } from '../../src/gpu/kernel.ts';
import { SHADER_SOURCES } from '../../src/gpu/shaders.gen.ts';

test('src/gpu/shaders.gen.ts is up to date with shaders/ (else run `npm run gen:shaders`)', () => {
  const { shaderDir, moduleFile } = shaderPaths();
  const committed = readFileSync(moduleFile, 'utf8');
  assert.ok(
    committed === generateShaderModule(shaderDir),
    'src/gpu/shaders.gen.ts is stale: run `npm run gen:shaders` and commit it',
  );
});

test('shaderSource pastes // #include files in from the embedded sources', () => {
  const source = shaderSource('matmul_texture');
  assert.ok(SHADER_SOURCES.matmul_texture.includes('// #include "register_block.wgsl"'));
  assert.not.ok(/^\/\/ #include "/m.test(source), 'the include line is replaced');
  assert.ok(source.includes(SHADER_SOURCES['include/register_block']), 'by the included file');
});

test('shaderSource names the missing kernel and the fix', () => {
  assert.throws(() => shaderSource('no_such_kernel'), /no_such_kernel.*gen:shaders/);
  assert.throws(() => shaderSource('constructor'), /not found/);
});

test.run();
