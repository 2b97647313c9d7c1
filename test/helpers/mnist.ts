// The real MNIST files for tests: $MNIST_DIR, else ../shared/mnist beside the repository.
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import process from 'node:process';
import { loadMnist, type MnistSplit } from '../../src/data/mnist.ts';

function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json'))) dir = dirname(dir);
  return dir;
}

export function testMnistDir(): string {
  return process.env.MNIST_DIR ? resolve(process.env.MNIST_DIR) : resolve(repoRoot(), '..', 'shared', 'mnist');
}

const cache = new Map<string, Promise<MnistSplit>>();

export function testSplit(split: 'train' | 'test'): Promise<MnistSplit> {
  let data = cache.get(split);
  if (!data) {
    data = loadMnist({ dir: testMnistDir(), split, download: false });
    cache.set(split, data);
  }
  return data;
}

export { firstImages as head } from '../../src/data/mnist.ts';

export { repoRoot };
