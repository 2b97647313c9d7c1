// Declares a small CNN of its own (not the tutorial's `digit`), trains it on MNIST through the
// library's API, evaluates it, saves it and classifies a few test images. Run it with
//   Node: npm run build:test && node build/examples/tiny-cnn.js     Deno: deno run -A examples/tiny-cnn.ts
// LIMIT=N trains on the first N images only (default: all 60,000); EPOCHS=N (default 1).
import process from 'node:process';
import { defineModel, evaluate, loadDataset, loadModel, openDevice, predict, saveModel, train } from 'webgpu-digits';

const tiny = defineModel({
  name: 'tiny',
  input: [1, 28, 28],
  classes: 10,
  layers: [
    { kind: 'conv2d', name: 'conv1', outChannels: 8, kernel: 3, padding: 1 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'conv2d', name: 'conv2', outChannels: 16, kernel: 3 },
    { kind: 'relu' },
    { kind: 'maxpool2d', kernel: 2 },
    { kind: 'flatten' },
    { kind: 'linear', name: 'fc', outFeatures: 10 },
  ],
});

const limit = process.env.LIMIT ? Number(process.env.LIMIT) : undefined;
const trainSet = await loadDataset({ split: 'train', limit });
const testSet = await loadDataset({ split: 'test', limit: limit && Math.min(limit, 10000) });
const gpu = await openDevice();
try {
  const trained = await train(gpu, tiny, trainSet, {
    epochs: Number(process.env.EPOCHS ?? 1),
    batchSize: 32,
    lr: 2e-3,
    onEpoch: (report) =>
      console.log(
        `epoch ${report.epoch}: train loss ${report.trainLoss.toFixed(4)}, ${
          report.imagesPerSecond.toFixed(0)
        } images/s`,
      ),
  });
  const result = await evaluate(gpu, trained, testSet);
  console.log(`test accuracy ${(100 * result.accuracy).toFixed(2)}% on ${result.count} images`);
  await saveModel('data/checkpoints/tiny.safetensors', trained);
  const reloaded = loadModel('data/checkpoints/tiny.safetensors');
  const first = await predict(gpu, reloaded, testSet.images.subarray(0, 5 * 784));
  console.log(
    `first 5 test images: predicted ${first.map((p) => p.class).join(' ')}, labels ${
      [...testSet.labels.subarray(0, 5)].join(' ')
    }`,
  );
} finally {
  await gpu.close();
}
