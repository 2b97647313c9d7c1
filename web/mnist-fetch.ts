// MNIST in the page: the four .gz files fetched from a URL (serve's /mnist/ by default), decompressed with
// the browser's DecompressionStream, checked as loadMnist checks them (src/data/mnist-split.ts), and
// verified against the SHA-256 values the CLI uses (src/data/datasets.ts). Each failure is one sentence
// that names the file and the URL.
import { MNIST } from '../src/data/datasets.ts';
import { DataError, parseIdx } from '../src/data/idx-format.ts';
import type { MnistSplit } from '../src/data/mnist.ts';
import { mnistSplitFromIdx } from '../src/data/mnist-split.ts';

/** A dataset file that could not be fetched, decompressed or verified: `message` is the page's sentence. */
export class MnistFetchError extends Error {
  override name = 'MnistFetchError';
}

async function fetchGz(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-store' });
  } catch (err) {
    throw new MnistFetchError(
      `Could not fetch ${url} (${(err as Error).message}): check the MNIST URL, or serve the four .gz files there.`,
    );
  }
  if (!response.ok) {
    // serve's 404 says where it looked for the files; keep its first line.
    const said = (await response.text().catch(() => '')).split('\n')[0].trim().slice(0, 300);
    throw new MnistFetchError(
      `Could not fetch ${url}: HTTP ${response.status}${said ? ` (${said})` : ''}. ` +
        'Check the MNIST URL, or put the four MNIST .gz files where it points.',
    );
  }
  try {
    const stream = response.body!.pipeThrough(new DecompressionStream('gzip'));
    return new Uint8Array(await new Response(stream).arrayBuffer());
  } catch (err) {
    throw new MnistFetchError(
      `${url} is not a complete gzip file (${(err as Error).message}); replace it with MNIST's own .gz file.`,
    );
  }
}

async function sha256Hex(bytes: Uint8Array): Promise<string> {
  const digest = await crypto.subtle.digest('SHA-256', bytes as Uint8Array<ArrayBuffer>);
  return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, '0')).join('');
}

/** One MNIST split from `base` (a folder URL ending in /): structure checked in full, then the checksums. */
export async function fetchMnistSplit(
  base: string,
  split: 'train' | 'test',
  onProgress: (text: string) => void = () => {},
): Promise<MnistSplit> {
  const files = MNIST.files[split];
  const urls = [files.images, files.labels].map((f) => new URL(`${f.name}.gz`, new URL(base, location.href)).href);
  onProgress(`fetching MNIST's ${split} split`);
  // Both fetched at once, but a failure is reported in file order (images first), not in whichever order the
  // two requests happen to fail: the page's sentence for a wrong URL is always the same one.
  const settled = await Promise.allSettled(urls.map(fetchGz));
  for (const result of settled) if (result.status === 'rejected') throw result.reason;
  const [imageBytes, labelBytes] = settled.map((r) => (r as PromiseFulfilledResult<Uint8Array>).value);
  try {
    const images = { path: urls[0], array: parseIdx(imageBytes, urls[0]) };
    const labels = { path: urls[1], array: parseIdx(labelBytes, urls[1]) };
    const data = mnistSplitFromIdx(images, labels, MNIST);
    for (
      const [file, bytes, url] of [[files.images, imageBytes, urls[0]], [files.labels, labelBytes, urls[1]]] as const
    ) {
      const actual = await sha256Hex(bytes);
      const expected = file.sha256 ?? '';
      if (actual !== expected) {
        throw new MnistFetchError(
          `${url} is not MNIST's ${file.name}: its content has SHA-256 ${actual.slice(0, 16)}…, expected ` +
            `${expected.slice(0, 16)}…; replace it with MNIST's own file or give the URL of one.`,
        );
      }
    }
    return data;
  } catch (err) {
    if (err instanceof DataError) throw new MnistFetchError(`${err.path} ${err.problem}.`);
    throw err;
  }
}
