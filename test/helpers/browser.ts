// Headless Chromium for the browser tests: Debian's /usr/bin/chromium (or $CHROMIUM) driven by
// playwright-core, no browser download. WebGPU there runs on Chromium's SwiftShader (Vulkan on the CPU).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { cliCommand, thisRuntime } from './cli.ts';
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

type Browser = Awaited<ReturnType<typeof launchChromium>>;
type Page = Awaited<ReturnType<Browser['newPage']>>;

/**
 * Opens `url` in a new page and waits until the page has its engine (or says why not). `problems`
 * collects console errors and uncaught exceptions, for the caller to assert empty at the end; with
 * `expect` 'ready' (the default), a page in any other state fails here with its own message.
 */
export async function openReadyPage(
  browser: Browser,
  url: string,
  options: {
    viewport?: { width: number; height: number };
    /** The state to wait for: 'ready' by default; null takes whatever the page settles in. */
    expect?: string | null;
    timeoutMs?: number;
    /** Runs in the page before its own scripts (e.g. to take WebGPU away). */
    init?: () => void;
  } = {},
): Promise<{ page: Page; problems: string[] }> {
  const page = await browser.newPage({ viewport: options.viewport ?? { width: 900, height: 640 } });
  if (options.init) await page.addInitScript(options.init);
  const problems: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error') problems.push(m.text());
  });
  page.on('pageerror', (e) => problems.push(e.message));
  await page.goto(url);
  await page.waitForFunction(
    () => (globalThis as { digits?: { state: string } }).digits?.state !== 'loading',
    null,
    { timeout: options.timeoutMs ?? 120_000 },
  );
  const [state, message] = await page.evaluate(() => {
    const digits = (globalThis as unknown as { digits: { state: string; message: string } }).digits;
    return [digits.state, digits.message];
  });
  const expected = options.expect === undefined ? 'ready' : options.expect;
  if (expected !== null && state !== expected) {
    throw new Error(`page state ${state}, expected ${expected}: ${message}`);
  }
  return { page, problems };
}

/** Traces an MNIST image on the page's pad with the mouse: a stroke over every run of ink, 10 canvas pixels per pixel. */
export async function traceDigit(page: Page, ink: Uint8Array): Promise<void> {
  const box = (await page.locator('#pad').boundingBox())!;
  for (let y = 0; y < 28; y++) {
    for (let x = 0; x < 28; x++) {
      if (ink[y * 28 + x] < 128 || (x > 0 && ink[y * 28 + x - 1] >= 128)) continue;
      let end = x;
      while (end + 1 < 28 && ink[y * 28 + end + 1] >= 128) end++;
      await page.mouse.move(box.x + x * 10 + 5, box.y + y * 10 + 5);
      await page.mouse.down();
      await page.mouse.move(box.x + end * 10 + 5, box.y + y * 10 + 5, { steps: Math.max(1, end - x) });
      await page.mouse.up();
    }
  }
}

/** The pad as the PNG bytes the page makes of it (what the tests hand to `predict`). */
export async function padPng(page: Page): Promise<Uint8Array> {
  const dataUrl: string = await page.evaluate(() =>
    (globalThis as unknown as { digits: { padPng(): string } }).digits.padPng()
  );
  return Uint8Array.from(atob(dataUrl.split(',')[1]), (c) => c.charCodeAt(0));
}

/** Starts `serve` on a free port (with `--checkpoint` when given); resolves with its URL once it listens. */
export function startServe(
  checkpoint: string | undefined,
  env: Record<string, string>,
): Promise<{ child: ChildProcess; url: string }> {
  const [command, ...prefix] = cliCommand(thisRuntime);
  const child = spawn(
    command,
    [...prefix, 'serve', ...(checkpoint === undefined ? [] : ['--checkpoint', checkpoint]), '--port', '0'],
    { cwd: repoRoot(), env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => reject(new Error(`serve did not start: ${text}`)), 120_000);
    const onData = (d: unknown) => {
      text += String(d);
      const url = /serving (http:\S+)/.exec(text)?.[1];
      if (url) {
        clearTimeout(timer);
        resolve({ child, url });
      }
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.on('exit', (code) => reject(new Error(`serve exited with ${code}: ${text}`)));
  });
}
