// Trains the tutorial's network (`digit`) for one epoch on MNIST, evaluates it on the test set, saves it.
import { DIGIT, evaluate, loadDataset, openDevice, saveModel, train } from 'webgpu-digits';

const gpu = await openDevice();
try {
  const trained = await train(gpu, DIGIT, await loadDataset({ split: 'train' }), { epochs: 1 });
  const result = await evaluate(gpu, trained, await loadDataset({ split: 'test' }));
  console.log(`test accuracy ${(100 * result.accuracy).toFixed(2)}%`);
  await saveModel('data/checkpoints/quick-start.safetensors', trained);
} finally {
  await gpu.close();
}
