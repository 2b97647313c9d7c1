// The README's library example: trains the tutorial's network for one epoch, evaluates it, saves it.
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
