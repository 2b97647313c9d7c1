// The training configuration and its validation, once: the library's train (mod.ts) and the CLI's
// train both build their TrainConfig here. A value out of range throws a RangeError naming the
// setting; the CLI reports it as a usage error.
import { ADAM_DEFAULTS } from '../kernels/adam.ts';
import { type AugmentOptions, DEFAULT_AUGMENT } from '../kernels/augment.ts';
import type { ModelSpec } from '../nn/spec.ts';
import { type Schedule, SCHEDULES } from './schedule.ts';
import type { TrainConfig } from './trainer.ts';

/** What a run is trained with; anything left out takes the default named beside it. */
export interface TrainingSettings {
  /** Default 1; at most MAX_EPOCHS. */
  epochs?: number;
  /** Default 64; at most MAX_BATCH_SIZE. */
  batchSize?: number;
  /** Adam's learning rate, default 0.001. */
  lr?: number;
  /** Adam's weight decay, default 0. */
  weightDecay?: number;
  /** Decoupled weight decay (torch.optim.AdamW) instead of Adam's L2 term (default false). */
  adamw?: boolean;
  /** Learning rate over the run (default constant). */
  schedule?: Schedule;
  /** Cross-entropy label smoothing in [0, 1) (default 0). */
  labelSmoothing?: number;
  /** Random affine augmentation of every batch: true for the default ranges, or your own (default off). */
  augment?: boolean | AugmentOptions;
  /** Seeds the initial weights, the shuffle, dropout and augmentation (default 1); an integer in [0, 2^32). */
  seed?: number;
  /** Default true. */
  shuffle?: boolean;
}

export const MAX_EPOCHS = 100000;
export const MAX_BATCH_SIZE = 60000;

/** The run's configuration from `settings`; throws a RangeError naming the first setting out of range. */
export function trainConfig(model: ModelSpec, settings: TrainingSettings = {}): TrainConfig {
  const epochs = settings.epochs ?? 1;
  const batchSize = settings.batchSize ?? 64;
  const seed = settings.seed ?? 1;
  const lr = settings.lr ?? ADAM_DEFAULTS.lr;
  const weightDecay = settings.weightDecay ?? 0;
  const labelSmoothing = settings.labelSmoothing ?? 0;
  const integer = (value: number, name: string, max: number, min = 1) => {
    if (!Number.isInteger(value) || value < min || value > max) {
      throw new RangeError(`${name} must be an integer in [${min}, ${max}], got ${value}`);
    }
  };
  integer(epochs, 'epochs', MAX_EPOCHS);
  integer(batchSize, 'batchSize', MAX_BATCH_SIZE);
  integer(seed, 'seed', 0xffffffff, 0);
  if (!(lr > 0) || !Number.isFinite(lr)) throw new RangeError(`lr must be a positive number, got ${lr}`);
  if (!(weightDecay >= 0) || !Number.isFinite(weightDecay)) {
    throw new RangeError(`weightDecay must be a number >= 0, got ${weightDecay}`);
  }
  if (!(labelSmoothing >= 0 && labelSmoothing < 1)) {
    throw new RangeError(`labelSmoothing must be in [0, 1), got ${labelSmoothing}`);
  }
  const schedule = settings.schedule;
  if (schedule && !SCHEDULES.includes(schedule.name)) {
    throw new RangeError(`schedule ${JSON.stringify(schedule.name)} is not one of ${SCHEDULES.join(', ')}`);
  }
  if (schedule?.gamma !== undefined && !(schedule.gamma > 0)) {
    throw new RangeError(`the step schedule's gamma must be a positive number, got ${schedule.gamma}`);
  }
  return {
    model,
    epochs,
    batchSize,
    seed,
    shuffle: settings.shuffle ?? true,
    adam: { ...ADAM_DEFAULTS, lr, weightDecay, ...(settings.adamw ? { decoupled: true } : {}) },
    schedule,
    labelSmoothing,
    augment: settings.augment === true ? DEFAULT_AUGMENT : settings.augment || undefined,
  };
}
