// `--plan` of train and eval: prints the execution plans the planner makes for this device, then the
// command exits without training or evaluating (the plan depends only on model, batch size and device).
import { openGpu } from '../gpu/device.ts';
import { deviceProfile } from '../gpu/profile.ts';
import { formatPlan, planNetwork } from '../nn/planner.ts';
import type { ModelSpec } from '../nn/spec.ts';

/** Prints the plan of each network (one JSON object per plan with `json`) and returns the exit code. */
export async function printPlans(model: ModelSpec, networks: { training: boolean; maxBatch: number }[], json: boolean,
  verbose = false): Promise<number> {
  const gpu = await openGpu({ verbose });
  try {
    const profile = deviceProfile(gpu);
    for (const options of networks) {
      const plan = planNetwork(model, options, profile);
      console.log(json ? JSON.stringify({ plan }) : formatPlan(plan));
    }
    return 0;
  } finally {
    await gpu.close();
  }
}
