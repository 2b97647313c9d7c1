// Learning-rate schedules, as PyTorch's schedulers compute them, evaluated per optimizer step so a
// resumed run gets the same rate at the same step: a pure function of (schedule, base lr, position).

export type ScheduleName = 'constant' | 'step' | 'cosine' | 'onecycle';
export const SCHEDULES: readonly ScheduleName[] = ['constant', 'step', 'cosine', 'onecycle'];

export interface Schedule {
  name: ScheduleName;
  /** step: the factor per epoch (StepLR(step_size=1, gamma), as the PyTorch MNIST example). */
  gamma?: number;
}

export interface SchedulePosition {
  /** 1-based optimizer step (Adam's t). */
  step: number;
  /** 0-based epoch the step belongs to. */
  epoch: number;
  /** Steps in the whole run (epochs x batches per epoch). */
  totalSteps: number;
}

const cosineAnneal = (start: number, end: number, fraction: number) =>
  end + ((start - end) / 2) * (1 + Math.cos(Math.PI * fraction));

/**
 * The learning rate of one step:
 * - constant: lr;
 * - step: lr x gamma^epoch;
 * - cosine: CosineAnnealingLR(T_max = totalSteps, eta_min = 0) stepped per batch;
 * - onecycle: OneCycleLR(max_lr = lr, total_steps, pct_start 0.3, cos, div_factor 25, final_div_factor 1e4),
 *   the rate only (beta1 is not cycled).
 */
export function learningRate(schedule: Schedule, lr: number, at: SchedulePosition): number {
  const t = at.step - 1;
  switch (schedule.name) {
    case 'constant':
      return lr;
    case 'step':
      return lr * (schedule.gamma ?? 0.7) ** at.epoch;
    case 'cosine':
      return cosineAnneal(lr, 0, Math.min(t, at.totalSteps) / at.totalSteps);
    case 'onecycle': {
      const initial = lr / 25;
      const min = initial / 1e4;
      const warmEnd = 0.3 * at.totalSteps - 1;
      if (t <= warmEnd) return cosineAnneal(initial, lr, warmEnd > 0 ? t / warmEnd : 1);
      const last = at.totalSteps - 1;
      return cosineAnneal(lr, min, last > warmEnd ? Math.min(t - warmEnd, last - warmEnd) / (last - warmEnd) : 1);
    }
  }
}
