// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or $CHROMIUM) driven by
// playwright-core, no browser download. WebGPU there runs on Chromium's SwiftShader (Vulkan on the CPU).
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { repoRoot } from './mnist.ts';

export const chromiumPath = (): string => process.env.CHROMIUM ?? '/usr/bin/chromium';
export const hasChromium = (): boolean => existsSync(chromiumPath());

/** Flags that gave headless Chromium 156 a WebGPU adapter (SwiftShader) on this CPU-only machine. */
export const WEBGPU_FLAGS = ['--enable-unsafe-webgpu', '--enable-features=Vulkan', '--use-vulkan'];

/** Screenshots and other files the browser tests leave for people to look at (git-ignored). */
export function testOutputDir(): string {
  const dir = join(repoRoot(), 'test-output');
  mkdirSync(dir, { recursive: true });
  return dir;
}

export async function launchChromium(webgpu: boolean) {
  const { chromium } = await import('playwright-core');
  return chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    // playwright adds --headless (the new headless mode in Chromium >= 132) and a fresh temporary
    // --user-data-dir itself (it refuses one in args); the network is closed here, so nothing phones home.
    args: [
      '--no-sandbox',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
      ...(webgpu ? WEBGPU_FLAGS : []),
    ],
  });
}
