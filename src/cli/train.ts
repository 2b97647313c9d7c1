// `train`: trains a model on MNIST, evaluating on the test set and checkpointing after every epoch.
import process from 'node:process';
import { firstImages, loadMnist } from '../data/mnist.ts';
import { openGpu } from '../gpu/device.ts';
import { ADAM_DEFAULTS } from '../kernels/adam.ts';
import { initParameters, ParameterLayout } from '../nn/parameters.ts';
import { getModel, parameterSpecs } from '../nn/spec.ts';
import { loadCheckpoint, optimizerPath, saveCheckpoint, stateFromCheckpoint } from '../train/checkpoint.ts';
import { initialState, train, type TrainConfig, type TrainState } from '../train/trainer.ts';
import { formatProfile, profileTrainingStep } from '../train/profile.ts';
import { formatCompile } from '../train/warm-up.ts';
import { openMetricsLog } from './train-log.ts';
import { intOption, parseCommandArgs, positiveNumberOption, UsageError } from './args.ts';
import { setUpTuning, TUNE_HELP_LINES, tuneOptions } from './tuning.ts';
import { defaultCheckpointPath, dataOptions } from './common.ts';
import { printPlans } from './plan.ts';
import { bar, emitJson, formatDuration, percent, ProgressLine } from './progress.ts';

export const TRAIN_HELP = `Usage: train [options]

Trains a model on the MNIST training set (60,000 images) with Adam and cross-entropy, evaluates on the
10,000 test images after every epoch, and writes a checkpoint after every epoch.

Options:
  --model NAME         model description (default: digit)
  --epochs N           number of epochs (default: 20)
  --batch-size N       images per step (default: 64)
  --lr X               Adam learning rate (default: 0.001)
  --weight-decay X     Adam weight decay (default: 0)
  --seed N             seed for initialisation and shuffling (default: 1)
  --no-shuffle         keep the dataset order
  --out PATH           checkpoint to write (default: data/checkpoints/<model>.safetensors);
                       Adam's state goes beside it as <name>.adam.safetensors
  --resume             continue the run saved in --out; ends bit-identical to an uninterrupted run
                       with the same settings
  --resume-from PATH   continue the run saved in PATH (new checkpoints still go to --out)
  --checkpoint-every N also write the checkpoint every N steps (default: only after each epoch)
  --limit N            train on the first N training images only (quick experiments)
  --no-test            skip the test-set evaluation after each epoch
  --profile            print the GPU time of every kernel of one training step, then train
  --plan               print how each layer runs on this device (training, and the test-set
                       evaluation at batch 1000), then exit without training
  --data DIR           MNIST directory (default: $MNIST_DIR, else data/mnist, downloaded if missing)
  --no-verify          do not verify the MNIST checksums (for other datasets in IDX format)
  --log FILE           also write metrics to FILE (.jsonl, or .csv): a header, a record every
                       --log-every steps and one per epoch; --resume appends to it
  --log-every N        steps between log records (default: 50)
  --json               one JSON object per line on stdout instead of progress bars
  --verbose            print the GPU adapter and its limits, and which tile configurations run
${TUNE_HELP_LINES}
  -h, --help           show this help

Ctrl-C (or SIGTERM) finishes the current step, writes a checkpoint and exits with 130 (143);
rerun with --resume to continue.`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    model: { type: 'string', default: 'digit' } as const,
    epochs: { type: 'string', default: '20' } as const,
    'batch-size': { type: 'string', default: '64' } as const,
    lr: { type: 'string', default: String(ADAM_DEFAULTS.lr) } as const,
    'weight-decay': { type: 'string', default: '0' } as const,
    seed: { type: 'string', default: '1' } as const,
    'no-shuffle': { type: 'boolean', default: false } as const,
    out: { type: 'string' } as const,
    resume: { type: 'boolean', default: false } as const,
    'resume-from': { type: 'string' } as const,
    'no-test': { type: 'boolean', default: false } as const,
    'checkpoint-every': { type: 'string' } as const,
    limit: { type: 'string' } as const,
    profile: { type: 'boolean', default: false } as const,
    plan: { type: 'boolean', default: false } as const,
    json: { type: 'boolean', default: false } as const,
    log: { type: 'string' } as const,
    'log-every': { type: 'string', default: '50' } as const,
    verbose: { type: 'boolean', default: false } as const,
    ...tuneOptions,
    help: { type: 'boolean', short: 'h', default: false } as const,
    ...dataOptions,
  });
  if (values.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  let model;
  try {
    model = getModel(values.model!);
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
  const weightDecay = Number(values['weight-decay']);
  if (!Number.isFinite(weightDecay) || weightDecay < 0) throw new UsageError(`--weight-decay must be >= 0, got ${values['weight-decay']}`);
  const config: TrainConfig = {
    model,
    epochs: intOption(values.epochs, 'epochs', 1, 100000),
    batchSize: intOption(values['batch-size'], 'batch-size', 1, 60000),
    seed: intOption(values.seed, 'seed', 0, 0xffffffff),
    shuffle: !values['no-shuffle'],
    adam: { ...ADAM_DEFAULTS, lr: positiveNumberOption(values.lr, 'lr'), weightDecay },
  };
  const checkpointEvery = values['checkpoint-every'] === undefined ? undefined
    : intOption(values['checkpoint-every'], 'checkpoint-every', 1);
  const limit = values.limit === undefined ? undefined : intOption(values.limit, 'limit', 1, 60000);
  const out = values.out ?? defaultCheckpointPath(model.name);
  const logEvery = intOption(values['log-every'], 'log-every', 1);
  const resumeFrom = values['resume-from'] ?? (values.resume ? out : undefined);
  const json = values.json!;
  if (values.plan) {
    return printPlans(model, [{ training: true, maxBatch: config.batchSize }, ...(values['no-test'] ? [] : [{ training: false, maxBatch: 1000 }])],
      json, values.verbose, values['tune-cache']);
  }
  const log = (text: string) => (json ? undefined : console.error(text));

  // Everything that can fail on user input is checked before the GPU is touched.
  let state: TrainState;
  if (resumeFrom) {
    const loaded = loadCheckpoint(resumeFrom, { expectModel: model.name, withOptimizer: true });
    state = stateFromCheckpoint(loaded);
    const m = loaded.metadata;
    const mismatch = (
      [['seed', config.seed], ['batch_size', config.batchSize], ['shuffle', config.shuffle]] as const
    ).filter(([key, value]) => m[key] !== String(value));
    if (mismatch.length) {
      throw new UsageError(`${resumeFrom} was trained with ${mismatch.map(([k]) => `${k}=${m[k]}`).join(', ')}; ` +
        'pass the same settings to resume it');
    }
    if (JSON.stringify(JSON.parse(m.adam ?? '{}')) !== JSON.stringify(config.adam)) {
      throw new UsageError(`${resumeFrom} was trained with Adam settings ${m.adam}; pass the same --lr/--weight-decay to resume it`);
    }
    if (state.epoch >= config.epochs) {
      log(`${resumeFrom} has already completed ${state.epoch} of ${config.epochs} epochs; nothing to do (raise --epochs to continue).`);
      return 0;
    }
    log(`resuming ${resumeFrom}: epoch ${state.epoch + 1}, batch ${state.batchInEpoch + 1}, step ${state.step}`);
  } else {
    const layout = new ParameterLayout(parameterSpecs(model));
    state = initialState(initParameters(layout, config.seed));
  }

  const dataDir = values.data;
  const verify = !values['no-verify'];
  const fullTrainSplit = await loadMnist({ dir: dataDir, split: 'train', verify, onProgress: log });
  const trainSplit = limit === undefined ? fullTrainSplit : firstImages(fullTrainSplit, limit);
  const testSplit = values['no-test'] ? undefined : await loadMnist({ dir: dataDir, split: 'test', verify, onProgress: log });

  const gpu = await openGpu({ verbose: values.verbose, timestamps: values.profile || values.tune });
  const tuning = await setUpTuning(gpu, { cache: values['tune-cache'], tune: values.tune, model,
    plans: [{ training: true, maxBatch: config.batchSize }, ...(testSplit ? [{ training: false, maxBatch: 1000 }] : [])],
    log: (line) => json || console.error(line) });
  if (values.verbose) console.error(tuning.description);
  let stopRequested = false;
  let stopSignal = 'SIGINT';
  const onSignal = (signal: string) => {
    if (stopRequested) {
      console.error(`\n${signal} again: exiting without a checkpoint.`);
      process.exit(130);
    }
    stopRequested = true;
    stopSignal = signal;
    if (!json) console.error(`\n${signal}: finishing the current step and writing a checkpoint (press Ctrl-C again to abort)...`);
  };
  const onSigint = () => onSignal('SIGINT');
  const onSigterm = () => onSignal('SIGTERM');
  process.on('SIGINT', onSigint);
  process.on('SIGTERM', onSigterm);

  const progress = new ProgressLine();
  const started = performance.now();
  const metrics = values.log === undefined ? null : openMetricsLog(values.log, {
    every: logEvery, gpu, config, state, resumed: resumeFrom !== undefined, checkpoint: out, train: trainSplit, test: testSplit, limit, dataDir,
  });
  try {
    if (json) {
      emitJson({ event: 'start', model: model.name, epochs: config.epochs, batch_size: config.batchSize, lr: config.adam.lr,
        seed: config.seed, adapter: gpu.adapterName, parameters: new ParameterLayout(parameterSpecs(model)).parameterCount,
        resume_epoch: state.epoch, resume_batch: state.batchInEpoch });
    } else {
      log(`training ${model.name} on ${gpu.adapterName}: ${config.epochs} epochs, batch ${config.batchSize}, lr ${config.adam.lr}, seed ${config.seed}`);
    }
    if (values.profile) console.error(formatProfile(await profileTrainingStep(gpu, config, trainSplit, state)));
    let lastJson = 0;
    if (!json) progress.update('compiling kernels...', true);
    const result = await train(gpu, config, trainSplit, state, {
      testSplit,
      onCompiled(report) {
        metrics?.restartClock();
        if (json) {
          emitJson({ event: 'compiled', kernels: report.kernels, seconds: report.seconds });
          return;
        }
        progress.update(formatCompile(report), true);
        progress.done();
      },
      shouldStop: () => stopRequested,
      checkpointEvery,
      async onCheckpoint(stepState) {
        await saveCheckpoint(out, { config, state: stepState, withOptimizer: true });
        if (json) emitJson({ event: 'checkpoint', step: stepState.step, checkpoint: out });
      },
      onProgress(p) {
        metrics?.progress(p);
        if (json) {
          const now = Date.now();
          if (now - lastJson < 2000 && p.batchesDone < p.batches) return;
          lastJson = now;
          emitJson({ event: 'progress', epoch: p.epoch + 1, batch: p.batchesDone, batches: p.batches, loss: p.loss,
            accuracy: p.accuracy, images_per_second: p.imagesPerSecond, eta_seconds: p.etaSeconds });
          return;
        }
        progress.update(`epoch ${p.epoch + 1}/${config.epochs} ${bar(p.batchesDone / p.batches)} ${p.batchesDone}/${p.batches}` +
          `  loss ${p.loss.toFixed(4)}  acc ${percent(p.accuracy)}  ${p.imagesPerSecond.toFixed(0)} img/s  ETA ${formatDuration(p.etaSeconds)}`);
      },
      async onEpoch(report, epochState) {
        progress.done();
        metrics?.epochDone(report);
        await saveCheckpoint(out, { config, state: epochState, withOptimizer: true });
        if (json) {
          emitJson({ event: 'epoch', epoch: report.epoch, step: report.step, train_loss: report.trainLoss,
            train_accuracy: report.trainAccuracy, test_loss: report.test?.meanLoss ?? null, test_accuracy: report.test?.accuracy ?? null,
            seconds: report.seconds, images_per_second: report.imagesPerSecond, checkpoint: out });
        } else {
          const test = report.test ? `  test loss ${report.test.meanLoss.toFixed(4)}  test acc ${percent(report.test.accuracy)}` : '';
          log(`epoch ${report.epoch}/${config.epochs}  train loss ${report.trainLoss.toFixed(4)}  train acc ${percent(report.trainAccuracy)}${test}` +
            `  ${report.seconds.toFixed(1)} s  ${report.imagesPerSecond.toFixed(0)} img/s`);
        }
      },
    });
    progress.done();
    const seconds = (performance.now() - started) / 1000;
    if (result.stopped) {
      await saveCheckpoint(out, { config, state: result.state, withOptimizer: true });
      const resumeHint = `${process.argv.slice(0, 2).map((a) => a.split('/').pop()).join(' ')} train --resume${values.out ? ` --out ${out}` : ''}`;
      if (json) emitJson({ event: 'interrupted', epoch: result.state.epoch + 1, batch: result.state.batchInEpoch, step: result.state.step, checkpoint: out });
      console.error(`Interrupted at epoch ${result.state.epoch + 1}, batch ${result.state.batchInEpoch} (step ${result.state.step}). ` +
        `Checkpoint written to ${out}. Continue with the same options plus --resume, e.g. \`${resumeHint}\`.`);
      // The shell's convention for "ended by signal N": 128 + N.
      return stopSignal === 'SIGTERM' ? 143 : 130;
    }
    const last = result.reports.at(-1);
    if (json) {
      emitJson({ event: 'done', epochs: config.epochs, seconds, test_accuracy: last?.test?.accuracy ?? null,
        test_loss: last?.test?.meanLoss ?? null, checkpoint: out, optimizer_state: optimizerPath(out) });
    } else {
      log(`done in ${formatDuration(seconds)}: ${last?.test ? `test accuracy ${percent(last.test.accuracy)}, ` : ''}checkpoint ${out}`);
      log(`evaluate it with: node dist/cli.js eval --checkpoint ${out}   (or: deno task eval --checkpoint ${out})`);
    }
    return 0;
  } finally {
    progress.done();
    metrics?.close();
    // The handlers stay installed: under Deno, removing the last SIGINT listener while the signal is
    // still being delivered ends the process by the signal instead of our exit code.
    await gpu.close();
  }
}

