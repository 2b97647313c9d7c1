// Fetches a dataset file from a list of mirrors with retries, checks its content before it is
// saved, and saves it atomically (temp file + rename), so an interrupted or corrupt download never
// leaves behind a file that looks valid. Uses the global fetch of Node 20 and Deno.
import { basename, dirname } from 'node:path';
import { writeFileAtomicSync } from '../io/files.ts';
import { DataError } from './idx.ts';

/** The mirrors torchvision uses, in the order it tries them. */
export const MNIST_MIRRORS: readonly string[] = [
  'https://ossci-datasets.s3.amazonaws.com/mnist/',
  'http://yann.lecun.com/exdb/mnist/',
];

export interface DownloadOptions {
  /** Base URLs; the file name is appended. Defaults to MNIST_MIRRORS. */
  mirrors?: readonly string[];
  /** Tries per mirror before moving to the next one (default 2). */
  attemptsPerMirror?: number;
  /** Wait before retrying the same mirror, doubled on each retry (default 1000 ms). */
  retryDelayMs?: number;
  /** Abandon a download that receives nothing for this long (default 30 s). */
  idleTimeoutMs?: number;
  onProgress?: (message: string) => void;
}

/** Every mirror failed; `failures` holds one line per attempt, the message one per URL. */
export class DownloadError extends DataError {
  override name = 'DownloadError';

  constructor(path: string, readonly failures: readonly string[], advice: string) {
    super(path, `could not be downloaded (${summarize(failures)})`, advice);
  }
}

/** "url: reason" lines, each distinct one once, with how often it happened. */
function summarize(failures: readonly string[]): string {
  const counts = new Map<string, number>();
  for (const line of failures) counts.set(line, (counts.get(line) ?? 0) + 1);
  return [...counts].map(([line, n]) => (n > 1 ? `${line} (${n} times)` : line)).join('; ');
}

/**
 * Downloads `fileName` into `destination`. `check` receives the downloaded bytes and throws a
 * DataError if they are not the expected content; such a download counts as a failed attempt
 * and is never written. Throws DownloadError (with `advice` as its advice) when all attempts fail.
 */
export async function downloadFile(
  fileName: string,
  destination: string,
  check: (bytes: Uint8Array, source: string) => void,
  advice: string,
  options: DownloadOptions = {},
): Promise<void> {
  const mirrors = options.mirrors ?? MNIST_MIRRORS;
  const attempts = options.attemptsPerMirror ?? 2;
  const retryDelayMs = options.retryDelayMs ?? 1000;
  const log = options.onProgress ?? (() => {});
  const failures: string[] = [];

  for (const mirror of mirrors) {
    const url = new URL(fileName, mirror.endsWith('/') ? mirror : `${mirror}/`).href;
    for (let attempt = 1; attempt <= attempts; attempt++) {
      if (attempt > 1) await sleep(retryDelayMs * 2 ** (attempt - 2));
      log(`downloading ${url}${attempt > 1 ? ` (attempt ${attempt} of ${attempts})` : ''}`);
      let bytes: Uint8Array;
      try {
        bytes = await fetchBytes(url, fileName, options.idleTimeoutMs ?? 30_000, log);
        check(bytes, url);
      } catch (err) {
        const reason = err instanceof DataError ? `${err.problem}` : describeFetchError(err);
        failures.push(`${url}: ${reason}`);
        log(`${url} failed: ${reason}`);
        // A mirror that answers with an HTTP error will not change its mind on a retry.
        if (err instanceof HttpStatusError && err.status >= 400 && err.status < 500) break;
        continue;
      }
      // Outside the try: a destination that cannot be written is not the mirror's fault.
      writeAtomically(destination, bytes);
      log(`saved ${destination} (${formatMegabytes(bytes.length)}, content verified)`);
      return;
    }
  }
  throw new DownloadError(destination, failures, advice);
}

class HttpStatusError extends Error {
  constructor(readonly status: number, statusText: string) {
    super(`HTTP ${status}${statusText ? ` ${statusText}` : ''}`);
  }
}

function describeFetchError(err: unknown): string {
  const error = err as Error & { cause?: { code?: string; message?: string } };
  if (error?.name === 'AbortError' || error?.name === 'TimeoutError') return error.message;
  // Node names the cause by code (ECONNREFUSED); Deno nests it in a long message whose last part says it.
  const cause = error?.cause?.code ?? error?.cause?.message?.split(': ').pop();
  return cause ? `${error.message} (${cause})` : String(error?.message ?? err);
}

/** Reads the whole response body, reporting progress every 10% and giving up when it stalls. */
async function fetchBytes(
  url: string,
  fileName: string,
  idleTimeoutMs: number,
  log: (m: string) => void,
): Promise<Uint8Array> {
  const controller = new AbortController();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const arm = () => {
    clearTimeout(timer);
    timer = setTimeout(
      () => controller.abort(new DOMException(`no data for ${idleTimeoutMs / 1000} s`, 'TimeoutError')),
      idleTimeoutMs,
    );
  };
  arm();
  try {
    const response = await fetch(url, { signal: controller.signal });
    if (!response.ok || !response.body) {
      await response.body?.cancel();
      throw new HttpStatusError(response.status, response.statusText);
    }
    const declared = Number(response.headers.get('content-length') ?? NaN);
    const chunks: Uint8Array[] = [];
    let received = 0;
    let reportedTenth = 0;
    const reader = response.body.getReader();
    for (;;) {
      arm();
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      received += value.length;
      const tenth = Number.isFinite(declared) && declared > 0 ? Math.floor((10 * received) / declared) : 0;
      if (tenth > reportedTenth && tenth < 10) {
        reportedTenth = tenth;
        log(`${fileName}: ${tenth * 10}% of ${formatMegabytes(declared)}`);
      }
    }
    if (Number.isFinite(declared) && received !== declared) {
      throw new DataError(url, `the server declared ${declared} bytes but sent ${received}`, 'Try again');
    }
    const bytes = new Uint8Array(received);
    let offset = 0;
    for (const chunk of chunks) {
      bytes.set(chunk, offset);
      offset += chunk.length;
    }
    return bytes;
  } finally {
    clearTimeout(timer);
  }
}

/** Writes to a temp file beside `destination`, flushes it, then renames it into place. */
function writeAtomically(destination: string, bytes: Uint8Array): void {
  try {
    writeFileAtomicSync(destination, bytes);
  } catch (err) {
    throw new DataError(
      destination,
      `cannot be written (${(err as Error).message})`,
      `Check that ${dirname(destination)} is writable, or put ${basename(destination)} there yourself`,
    );
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

function formatMegabytes(bytes: number): string {
  return `${(bytes / 1e6).toFixed(1)} MB`;
}
