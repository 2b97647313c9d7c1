// `--plan` of train and eval: prints the execution plans the planner makes for this device (with the
// tune cache's configurations where it has some), then the command exits without training or
// evaluating (the plan depends only on model, batch size, device and tune cache).
import { describeDeviceClass, openGpu, type OpenGpuOptions } from '../gpu/device.ts';
import { profileFor } from '../gpu/profile.ts';
import { formatPlan, planNetwork } from '../nn/planner.ts';
import type { ModelSpec } from '../nn/spec.ts';
import { setUpTuning } from './tuning.ts';

/** Prints the plan of each network (one JSON object per plan with `json`) and returns the exit code. */
export async function printPlans(
  model: ModelSpec,
  networks: { training: boolean; maxBatch: number }[],
  options: { json: boolean; verbose?: boolean; tuneCache?: string; device?: OpenGpuOptions },
): Promise<number> {
  const { json, verbose = false, tuneCache, device = {} } = options;
  const gpu = await openGpu({ ...device, verbose });
  try {
    // The plans' first line names the class too; this says whether it was chosen (--device-class).
    if (!json) console.log(`device class: ${describeDeviceClass(gpu)}`);
    const tuning = await setUpTuning(gpu, {
      cache: tuneCache,
      model,
      plans: networks,
      log: (line) => console.error(line),
    });
    if (verbose) console.error(tuning.description);
    for (const network of networks) {
      const plan = planNetwork(model, network, profileFor(gpu, model.name, network.training, network.maxBatch));
      console.log(json ? JSON.stringify({ plan }) : formatPlan(plan));
    }
    return 0;
  } finally {
    await gpu.close();
  }
}
