// A color picture folder made from Fashion-MNIST (Debian's dataset-fashion-mnist): each article tinted
// with a color of its own over a dark background of its own, enlarged to 32x32, written as PNG and JPEG
// in a folder per class, so class is told by shape, not color.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { loadMnist } from '../../src/data/mnist.ts';
import { encodeJpeg } from '../../src/io/jpeg.ts';
import { encodePng } from '../../src/io/png.ts';
import { resizeToPlanar } from '../../src/io/resize.ts';
import { Rng } from '../../src/util/random.ts';

/** Where Debian's package puts the files ($FASHION_MNIST_DIR wins). */
export function fashionMnistDir(): string | undefined {
  const dir = process.env.FASHION_MNIST_DIR ?? '/usr/share/datasets/fashion-mnist';
  return existsSync(join(dir, 'train-images-idx3-ubyte.gz')) || existsSync(join(dir, 'train-images-idx3-ubyte'))
    ? dir
    : undefined;
}

/**
 * Writes the first `perClass` training images of each class to DIR/<class name>/<n>.png, or .jpg for
 * n = 1, 11, 21, ... (quality 90), tinted and 32x32. Returns the class folder names.
 */
export async function writeColorFashionFolder(
  sourceDir: string,
  dir: string,
  perClass: number,
  seed = 1,
): Promise<string[]> {
  const data = await loadMnist({ dataset: 'fashion-mnist', dir: sourceDir, split: 'train', download: false });
  const names = data.classes!.map((name, label) => `${label}-${name.replace(/[^A-Za-z0-9]+/g, '-')}`);
  const taken = new Array<number>(names.length).fill(0);
  const rng = new Rng(seed);
  const size = 32;
  for (let i = 0; i < data.count && taken.some((n) => n < perClass); i++) {
    const label = data.labels[i];
    if (taken[label] >= perClass) continue;
    const n = taken[label]++;
    const gray = resizeToPlanar(
      { width: 28, height: 28, channels: 1, pixels: data.images.subarray(i * 784, (i + 1) * 784) },
      size,
      size,
    );
    const tint = [0, 1, 2].map(() => 96 + rng.int(160));
    const background = [0, 1, 2].map(() => rng.int(64));
    const pixels = new Uint8Array(size * size * 3);
    for (let p = 0; p < size * size; p++) {
      for (let c = 0; c < 3; c++) {
        pixels[3 * p + c] = Math.round(background[c] + (tint[c] - background[c]) * gray[p] / 255);
      }
    }
    const picture = { width: size, height: size, channels: 3 as const, pixels };
    mkdirSync(join(dir, names[label]), { recursive: true });
    // Every tenth picture a JPEG: jpeg-js's encoder sets up its tables for every picture (tens of ms).
    const jpeg = n % 10 === 1;
    writeFileSync(
      join(dir, names[label], `${n}.${jpeg ? 'jpg' : 'png'}`),
      jpeg ? encodeJpeg(picture, 90) : encodePng(picture),
    );
  }
  return names;
}
