// `train`: trains a model on MNIST, evaluating on the test set and checkpointing after every epoch.
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import process from 'node:process';
import { firstImages, loadMnist, type MnistSplit } from '../data/mnist.ts';
import { FOLDER_DATASET, FOLDER_HELP, folderDatasetInfo, folderOptions, loadFolderForModel } from './folder-data.ts';
import { describeKind, FileError, statOrUndefined } from '../io/files.ts';
import { checkWriteTarget, sameFile } from '../io/write-target.ts';
import { batchCount } from '../data/batches.ts';
import { isMetricsLog } from '../train/metrics-log.ts';
import { checkTuneCachePath, tuneCachePath } from '../tune/cache.ts';
import { describeDeviceClass, openGpu } from '../gpu/device.ts';
import { ADAM_DEFAULTS } from '../kernels/adam.ts';
import { initParameters, ParameterLayout } from '../nn/parameters.ts';
import { type ModelSpec, parameterSpecs, RECIPES } from '../nn/spec.ts';
import { isModelFile, modelOption } from './model-option.ts';
import { type ScheduleName, SCHEDULES } from '../train/schedule.ts';
import { trainingOptions } from '../train/trainer.ts';
import {
  CHECKPOINT_FORMAT,
  loadCheckpoint,
  NonFiniteStateError,
  optimizerPath,
  peekMetadata,
  removeStaleCheckpointFiles,
  saveCheckpoint,
  stateFromCheckpoint,
} from '../train/checkpoint.ts';
import { CheckpointLock } from '../train/lock.ts';
import { initialState, train, type TrainConfig, type TrainState } from '../train/trainer.ts';
import { MAX_BATCH_SIZE, MAX_EPOCHS, trainConfig } from '../train/config.ts';
import { formatProfile, profileTrainingStep } from '../train/profile.ts';
import { formatCompile } from '../train/warm-up.ts';
import { openMetricsLog } from './train-log.ts';
import { intOption, nonNegativeNumberOption, parseCommandArgs, positiveNumberOption, UsageError } from './args.ts';
import {
  cliInvocation,
  commandLine,
  DATA_HELP,
  dataOptions,
  datasetOption,
  defaultCheckpointPath,
  DEVICE_HELP,
  deviceOptions,
  gpuOptions,
  resumeCommand,
} from './common.ts';
import { printPlans } from './plan.ts';
import { setUpTuning, TUNE_HELP_LINES, tuneOptions } from './tuning.ts';
import {
  bar,
  BROKEN_PIPE_EXIT,
  emitJson,
  formatDuration,
  logError,
  onBrokenPipe,
  percent,
  ProgressLine,
} from './progress.ts';

export const TRAIN_HELP = `Usage: train [options]

Trains a model on the MNIST training set (60,000 images) with Adam and cross-entropy, evaluates on the
10,000 test images after every epoch, and writes a checkpoint after every epoch.

Options:
  --model NAME|FILE    model: digit (default), fast, best (each preset with its recipe: the
                       defaults marked fast: and best: below), or a JSON file describing one in
                       src/nn/spec.ts's shape (layers: conv2d, relu, maxpool2d, avgpool2d, flatten,
                       linear, batchnorm2d, batchnorm1d, dropout, gelu, silu, leakyrelu, tanh, sigmoid)
  --epochs N           number of epochs (default: 20; fast: 1, best: 6)
  --batch-size N       images per step (default: 64)
  --lr X               Adam learning rate (default: 0.001; fast: 0.005, best: 0.003)
  --weight-decay X     Adam weight decay (default: 0)
  --adamw              decoupled weight decay (torch.optim.AdamW) instead of Adam's L2 term
  --schedule NAME      learning rate: constant (default; fast and best: onecycle), step (x --gamma
                       per epoch, as the PyTorch example's StepLR), cosine (annealed to 0 over the
                       run, per step), onecycle (OneCycleLR: warm-up to --lr over 30 % of the
                       steps, then cosine down)
  --gamma X            --schedule step's factor per epoch (default: 0.7)
  --label-smoothing X  cross-entropy label smoothing in [0, 1) (default: 0)
  --augment            random affine augmentation of every training batch on the GPU (rotation
                       ±10°, scale 0.9-1.1, shift ±2 px, bilinear); never for evaluation (on
                       by default for best; --no-augment turns it off)
  --seed N             seed for initialisation and shuffling (default: 1)
  --no-shuffle         keep the dataset order
  --out PATH           checkpoint to write (default: data/checkpoints/<model>.safetensors), its
                       directory created if missing; Adam's state goes beside it as
                       <name>.adam.<hash>.safetensors; <name>.safetensors.lock marks it in use
  --resume             continue the run saved in --out; ends bit-identical to an uninterrupted run
                       with the same settings (seed, batch size, Adam, --limit, data)
  --resume-from PATH   continue the run saved in PATH (new checkpoints still go to --out)
  --overwrite          replace an unfinished run in --out (with a new run, or with --resume-from
                       another checkpoint), and a --log file that is not a log
  --checkpoint-every N also write the checkpoint every N steps (default: only after each epoch)
  --limit N            train on the first N training images only (quick experiments)
  --no-test            skip the test-set evaluation after each epoch
  --profile            print the GPU time of every kernel of one training step, then train
  --plan               print how each layer runs on this device (training, and the test-set
                       evaluation at batch 1000), then exit without training
${DATA_HELP}
${FOLDER_HELP}
${DEVICE_HELP}
  --log FILE           also write metrics to FILE (.jsonl, or .csv): a header, a record every
                       --log-every steps and one per epoch; --resume appends to it
  --log-every N        steps between log records (default: 50)
  --json               one JSON object per line on stdout instead of progress bars
  --verbose            print the GPU adapter and its limits, and which tile configurations run
${TUNE_HELP_LINES}
  -h, --help           show this help

Ctrl-C (or SIGTERM) finishes the current step, writes a checkpoint and exits with 130 (143); a second
one exits at once without a checkpoint. If stdout or stderr is closed (\`train --json | head -1\`),
training stops the same way: checkpoint, then exit 141. Rerun with --resume to continue (the
message names the exact command). Two runs never write the same --out: the second is refused.`;

export async function trainCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    model: { type: 'string', default: 'digit' } as const,
    epochs: { type: 'string' } as const,
    'batch-size': { type: 'string', default: '64' } as const,
    lr: { type: 'string' } as const,
    'weight-decay': { type: 'string', default: '0' } as const,
    adamw: { type: 'boolean', default: false } as const,
    schedule: { type: 'string' } as const,
    gamma: { type: 'string', default: '0.7' } as const,
    'label-smoothing': { type: 'string', default: '0' } as const,
    augment: { type: 'boolean' } as const,
    'no-augment': { type: 'boolean', default: false } as const,
    seed: { type: 'string', default: '1' } as const,
    'no-shuffle': { type: 'boolean', default: false } as const,
    out: { type: 'string' } as const,
    resume: { type: 'boolean', default: false } as const,
    'resume-from': { type: 'string' } as const,
    overwrite: { type: 'boolean', default: false } as const,
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
    ...folderOptions,
    ...deviceOptions,
  });
  if (values.help) {
    console.log(TRAIN_HELP);
    return 0;
  }
  const model: ModelSpec = modelOption(values.model!);
  const modelFile = isModelFile(values.model!);
  if (values.augment && values['no-augment']) {
    throw new UsageError('--augment and --no-augment contradict each other; pass one');
  }
  // A preset's recipe fills in what the command line leaves out; the tutorial's settings fill in the rest.
  const recipe = modelFile ? {} : RECIPES.get(model.name) ?? {};
  const fromRecipe: string[] = [];
  const pick = <T>(given: T | undefined, flag: string, recipeValue: T | undefined, fallback: T): T => {
    if (given !== undefined) return given;
    if (recipeValue === undefined) return fallback;
    fromRecipe.push(
      typeof recipeValue === 'boolean' ? (recipeValue ? `--${flag}` : `--no-${flag}`) : `--${flag} ${recipeValue}`,
    );
    return recipeValue;
  };
  const epochsText = pick(
    values.epochs,
    'epochs',
    recipe.epochs === undefined ? undefined : String(recipe.epochs),
    '20',
  );
  const lrText = pick(
    values.lr,
    'lr',
    recipe.lr === undefined ? undefined : String(recipe.lr),
    String(ADAM_DEFAULTS.lr),
  );
  const scheduleText = pick(values.schedule, 'schedule', recipe.schedule, 'constant');
  const augment = pick(
    values.augment || values['no-augment'] ? !values['no-augment'] : undefined,
    'augment',
    recipe.augment,
    false,
  );
  if (!(SCHEDULES as readonly string[]).includes(scheduleText)) {
    throw new UsageError(`--schedule ${scheduleText} is not a schedule; expected one of ${SCHEDULES.join(', ')}`);
  }
  const labelSmoothing = nonNegativeNumberOption(values['label-smoothing'], 'label-smoothing');
  if (labelSmoothing >= 1) throw new UsageError(`--label-smoothing must be below 1, got ${labelSmoothing}`);
  const scheduleName = scheduleText as ScheduleName;
  // The flags' own checks name the flag; the configuration's (the library's too) are the final word.
  let config: TrainConfig;
  try {
    config = trainConfig(model, {
      epochs: intOption(epochsText, 'epochs', 1, MAX_EPOCHS),
      batchSize: intOption(values['batch-size'], 'batch-size', 1, MAX_BATCH_SIZE),
      seed: intOption(values.seed, 'seed', 0, 0xffffffff),
      shuffle: !values['no-shuffle'],
      lr: positiveNumberOption(lrText, 'lr'),
      weightDecay: nonNegativeNumberOption(values['weight-decay'], 'weight-decay'),
      adamw: values.adamw,
      schedule: scheduleName === 'step'
        ? { name: 'step', gamma: positiveNumberOption(values.gamma, 'gamma') }
        : { name: scheduleName },
      labelSmoothing,
      augment,
    });
  } catch (err) {
    throw err instanceof RangeError ? new UsageError(err.message) : err;
  }
  const folder = values.dataset === FOLDER_DATASET;
  if (!folder && (values['test-fraction'] !== undefined || values['skip-bad-files'])) {
    throw new UsageError('--test-fraction and --skip-bad-files go with --dataset folder');
  }
  const preset = folder ? undefined : datasetOption(values.dataset);
  const dataset = preset ?? folderDatasetInfo(values.data ?? '');
  const device = gpuOptions(values);
  const checkpointEvery = values['checkpoint-every'] === undefined
    ? undefined
    : intOption(values['checkpoint-every'], 'checkpoint-every', 1);
  const limit = values.limit === undefined ? undefined : intOption(values.limit, 'limit', 1, 60000);
  const out = values.out ?? defaultCheckpointPath(model.name);
  const logEvery = intOption(values['log-every'], 'log-every', 1);
  const resumeFrom = values['resume-from'] ?? (values.resume ? out : undefined);
  // --resume-from A --out B with --overwrite replaces an unfinished run in B; --out's own run cannot be both.
  if (values.overwrite && resumeFrom !== undefined && (values.resume || sameFile(resumeFrom, out))) {
    throw new UsageError(
      '--overwrite starts a new run; it cannot go with --resume (or --resume-from the --out itself)',
    );
  }
  const json = values.json!;
  if (values.plan) {
    return printPlans(
      model,
      [
        { training: true, maxBatch: config.batchSize },
        ...(values['no-test'] ? [] : [{ training: false, maxBatch: 1000 }]),
      ],
      { json, verbose: values.verbose, tuneCache: values['tune-cache'], device },
    );
  }
  const log = (text: string) => (json ? undefined : logError(text));
  const resumeHint = () => resumeCommand('train', argv);

  // --out must be a file we can write, and ours alone, before any data is read or step is taken.
  let outStats;
  try {
    outStats = statOrUndefined(out);
  } catch (err) {
    throw new Error(`cannot use --out ${out}: ${(err as Error).message}`);
  }
  if (outStats && !outStats.isFile()) {
    throw new UsageError(
      `--out ${out} is ${describeKind(outStats)}; give the path of a checkpoint file, e.g. ${
        join(out, `${model.name}.safetensors`)
      }`,
    );
  }
  if (values.log !== undefined) checkLogTarget(values.log, out, resumeFrom, values.overwrite!);
  if (values.tune) checkTuneCachePath(tuneCachePath(values['tune-cache']));
  let lock: CheckpointLock;
  try {
    lock = CheckpointLock.acquire(out);
  } catch (err) {
    if (err instanceof FileError) {
      throw new Error(`cannot write checkpoints to ${out}: ${err.message}. Pass an --out in a writable place.`);
    }
    throw err;
  }
  try {
    return await trainLocked();
  } finally {
    lock.release();
  }

  async function trainLocked(): Promise<number> {
    // What killed or failed writes to --out left behind; we hold its lock, so nobody is writing it.
    removeStaleCheckpointFiles(out);
    // Everything that can fail on user input is checked before the GPU is touched.
    let state: TrainState;
    let resumedMetadata: Record<string, string> | undefined;
    if (resumeFrom && !values.overwrite && !sameFile(resumeFrom, out)) {
      refuseUnfinishedRun(
        out,
        `Keep it: continue it with --resume --out ${out}, or pass another --out; replace it with the continuation of ${resumeFrom}: pass --overwrite.`,
      );
    }
    if (resumeFrom) {
      const missingAdvice = values['resume-from']
        ? 'Check the path given to --resume-from.'
        : `Nothing to resume: start the run without --resume, or name the run to continue with --out PATH (or --resume-from PATH).`;
      const loaded = loadCheckpoint(resumeFrom, { expectModel: model.name, withOptimizer: true, missingAdvice });
      state = stateFromCheckpoint(loaded);
      const m = (resumedMetadata = loaded.metadata);
      const mismatch = (
        [['seed', config.seed], ['batch_size', config.batchSize], ['shuffle', config.shuffle], [
          'limit',
          limit ?? 'all',
        ], ['dataset', dataset.name]] as const
      ).filter(([key, value]) => m[key] !== undefined && m[key] !== String(value));
      if (mismatch.length) {
        const flags: Record<string, string> = {
          seed: '--seed',
          batch_size: '--batch-size',
          shuffle: '--no-shuffle',
          limit: '--limit',
          dataset: '--dataset',
        };
        throw new UsageError(
          `${resumeFrom} was trained with ${mismatch.map(([k]) => `${k}=${m[k]}`).join(', ')}; ` +
            `pass the same settings (${mismatch.map(([k]) => flags[k]).join(', ')}) to resume it`,
        );
      }
      if (JSON.stringify(JSON.parse(m.adam ?? '{}')) !== JSON.stringify(config.adam)) {
        throw new UsageError(
          `${resumeFrom} was trained with Adam settings ${m.adam}; pass the same --lr/--weight-decay/--adamw to resume it`,
        );
      }
      if ((m.training ?? '{}') !== JSON.stringify(trainingOptions(config))) {
        throw new UsageError(
          `${resumeFrom} was trained with ${
            m.training ?? 'a constant learning rate, no label smoothing and no augmentation'
          }, ` +
            `this run asks for ${
              JSON.stringify(trainingOptions(config))
            }; pass the same --schedule/--gamma/--epochs (cosine, onecycle)/` +
            '--label-smoothing/--augment to resume it',
        );
      }
      if (m.model_spec !== JSON.stringify(model)) {
        throw new UsageError(
          `${resumeFrom} holds another description of model "${model.name}" than this version's; it cannot be resumed`,
        );
      }
      if (state.epoch >= config.epochs) {
        log(
          `${resumeFrom} has already completed ${state.epoch} of ${config.epochs} epochs; nothing to do (raise --epochs to continue).`,
        );
        return 0;
      }
    } else {
      if (!values.overwrite) {
        refuseUnfinishedRun(out, `Continue it with \`${resumeHint()}\`, or start a new run over it with --overwrite.`);
      }
      const layout = new ParameterLayout(parameterSpecs(model));
      state = initialState(initParameters(layout, config.seed));
    }

    const dataDir = values.data;
    const verify = !values['no-verify'];
    const folderLoad = folder
      ? loadFolderForModel(dataDir, model, {
        testFraction: values['test-fraction'],
        seed: config.seed,
        skipBadFiles: values['skip-bad-files']!,
        log: (line) => log(line),
      })
      : undefined;
    const fullTrainSplit = folderLoad?.data.train ??
      await loadMnist({ dataset: preset, dir: dataDir, split: 'train', verify, onProgress: log });
    const source = fullTrainSplit.imagesPath ?? 'the training set';
    if (fullTrainSplit.count === 0) throw new Error(`${source} holds 0 images: there is nothing to train on`);
    if (limit !== undefined && limit > fullTrainSplit.count) {
      throw new UsageError(`--limit ${limit} is more than the ${fullTrainSplit.count} images in ${source}`);
    }
    checkModelFitsData(model, fullTrainSplit, (preset?.classes ?? folderLoad!.data.classes).length, source);
    const trainSplit = limit === undefined ? fullTrainSplit : firstImages(fullTrainSplit, limit);
    const testSplit = values['no-test'] ? undefined : folderLoad?.data.test ??
      await loadMnist({ dataset: preset, dir: dataDir, split: 'test', verify, onProgress: log });
    if (testSplit?.count === 0) {
      throw new Error(
        `${
          testSplit.imagesPath ?? 'the test set'
        } holds 0 images: nothing to evaluate after each epoch (pass --no-test)`,
      );
    }
    const run: Record<string, string> = {
      dataset: dataset.name,
      ...folderLoad?.run,
      limit: String(limit ?? 'all'),
      train_images: String(trainSplit.count),
      train_sha256: splitDigest(trainSplit),
    };
    if (resumedMetadata?.train_sha256 !== undefined && resumedMetadata.train_sha256 !== run.train_sha256) {
      throw new UsageError(
        `${resumeFrom} was trained on other data (${resumedMetadata.train_images} images, SHA-256 ` +
          `${resumedMetadata.train_sha256.slice(0, 16)}…) than ${source} gives now (${run.train_images}, ${
            run.train_sha256.slice(0, 16)
          }…); ` +
          'pass the same --data and --limit to resume it',
      );
    }
    if (resumeFrom) {
      const batches = batchCount(trainSplit.count, config.batchSize);
      if (state.batchInEpoch >= batches || state.step !== state.epoch * batches + state.batchInEpoch) {
        throw new UsageError(
          `${resumeFrom}: its metadata says epoch ${state.epoch}, batch ${state.batchInEpoch}, step ${state.step}, which ` +
            `no run of ${batches} batches per epoch reaches; the file is damaged or was edited`,
        );
      }
      log(`resuming ${resumeFrom}: epoch ${state.epoch + 1}, batch ${state.batchInEpoch + 1}, step ${state.step}`);
    }

    const gpu = await openGpu({ ...device, verbose: values.verbose, timestamps: values.profile || values.tune });
    // Which kernels made the weights (the planner's class, src/gpu/profile.ts): the GPU class sums in other orders.
    run.device_class = gpu.deviceClass;
    const tuning = await setUpTuning(gpu, {
      cache: values['tune-cache'],
      tune: values.tune,
      model,
      plans: [
        { training: true, maxBatch: config.batchSize },
        ...(testSplit ? [{ training: false, maxBatch: 1000 }] : []),
      ],
      log: (line) => json || logError(line),
    });
    if (values.verbose) logError(tuning.description);
    let stopRequested = false;
    let stopSignal = 'SIGINT';
    // The last checkpoint on disk that continues this run, for messages when things go wrong.
    let lastGood = resumeFrom
      ? { path: resumeFrom, step: state.step, epoch: state.epoch, batch: state.batchInEpoch }
      : undefined;
    const lastGoodText = () =>
      lastGood
        ? `The last good checkpoint is ${lastGood.path} (step ${lastGood.step}, epoch ${
          lastGood.epoch + 1
        }, batch ${lastGood.batch}).`
        : 'No checkpoint of this run was written yet.';
    // Until the kernels are compiled no step has run: nothing to save, so a signal ends the run at once.
    let compiled = false;
    const onSignal = (signal: 'SIGINT' | 'SIGTERM') => {
      if (!compiled) {
        logError(`\n${signal} before the first step: exiting; nothing was trained in this run. ${lastGoodText()}`);
        lock.release();
        process.exit(signal === 'SIGTERM' ? 143 : 130);
      }
      if (stopRequested && stopSignal === signal) {
        logError(`\n${signal} again: exiting without writing a checkpoint. ${lastGoodText()}`);
        lock.release();
        process.exit(signal === 'SIGTERM' ? 143 : 130);
      }
      stopRequested = true;
      stopSignal = signal;
      if (!json) {
        logError(
          `\n${signal}: finishing the current step and writing a checkpoint (${
            signal === 'SIGINT' ? 'press Ctrl-C' : 'send SIGTERM'
          } again to abort)...`,
        );
      }
    };
    const onSigint = () => onSignal('SIGINT');
    const onSigterm = () => onSignal('SIGTERM');
    process.on('SIGINT', onSigint);
    process.on('SIGTERM', onSigterm);
    // Whoever read our output is gone: stop as on SIGTERM, so the run is kept and can be resumed.
    onBrokenPipe(() => {
      if (stopRequested) return;
      stopRequested = true;
      stopSignal = 'SIGPIPE';
    });

    const save = async (stepState: TrainState) => {
      try {
        await saveCheckpoint(out, { config, state: stepState, withOptimizer: true, run });
      } catch (err) {
        const at = `step ${stepState.step} (epoch ${
          stepState.epoch + (stepState.batchInEpoch ? 1 : 0)
        }, batch ${stepState.batchInEpoch})`;
        if (err instanceof NonFiniteStateError) {
          throw new Error(
            `Training diverged: at ${at} ${err.tensor} holds NaN or Infinity, so no checkpoint was written for it. ` +
              `${lastGoodText()} Try a smaller --lr.`,
          );
        }
        throw new Error(
          `Could not write the checkpoint of ${at}: ${(err as Error).message}. ${lastGoodText()} ` +
            `The training state of step ${stepState.step} is lost when this process exits; fix the problem, then continue with ` +
            `\`${lastGood ? resumeHint() : commandLine([...cliInvocation(), 'train', ...argv])}\`.`,
        );
      }
      lastGood = { path: out, step: stepState.step, epoch: stepState.epoch, batch: stepState.batchInEpoch };
    };

    const progress = new ProgressLine();
    const started = performance.now();
    const metrics = values.log === undefined ? null : openMetricsLog(values.log, {
      every: logEvery,
      gpu,
      config,
      state,
      resumed: resumeFrom !== undefined,
      checkpoint: out,
      train: trainSplit,
      test: testSplit,
      limit,
      dataDir,
    });
    try {
      if (json) {
        emitJson({
          event: 'start',
          model: model.name,
          epochs: config.epochs,
          batch_size: config.batchSize,
          lr: config.adam.lr,
          seed: config.seed,
          adapter: gpu.adapterName,
          device_class: gpu.deviceClass,
          parameters: new ParameterLayout(parameterSpecs(model)).parameterCount,
          resume_epoch: state.epoch,
          resume_batch: state.batchInEpoch,
          recipe: fromRecipe,
        });
      } else {
        log(
          `training ${model.name} on ${
            dataset.name === 'mnist' ? '' : `${dataset.title}, `
          }${gpu.adapterName}: ${config.epochs} epochs, batch ${config.batchSize}, lr ${config.adam.lr}, seed ${config.seed}`,
        );
        if (gpu.deviceClass !== gpu.detectedDeviceClass) log(`device class: ${describeDeviceClass(gpu)}`);
        if (fromRecipe.length) {
          log(`the ${model.name} preset's recipe: ${fromRecipe.join(' ')} (pass any of them to change it)`);
        }
      }
      if (config.batchSize > trainSplit.count) {
        log(
          `note: batch size ${config.batchSize} is more than the ${trainSplit.count} training images: one batch per epoch`,
        );
      }
      if (values.profile) logError(formatProfile(await profileTrainingStep(gpu, config, trainSplit, state)));
      let lastJson = 0;
      if (!json) progress.update('compiling kernels...', true);
      const result = await train(gpu, config, trainSplit, state, {
        testSplit,
        onCompiled(report) {
          compiled = true;
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
          await save(stepState);
          if (json) emitJson({ event: 'checkpoint', step: stepState.step, checkpoint: out });
        },
        onProgress(p) {
          metrics?.progress(p);
          if (json) {
            const now = Date.now();
            if (now - lastJson < 2000 && p.batchesDone < p.batches) return;
            lastJson = now;
            emitJson({
              event: 'progress',
              epoch: p.epoch + 1,
              batch: p.batchesDone,
              batches: p.batches,
              loss: p.loss,
              accuracy: p.accuracy,
              images_per_second: finiteOrNull(p.imagesPerSecond),
              eta_seconds: finiteOrNull(p.etaSeconds),
            });
            return;
          }
          progress.update(
            `epoch ${p.epoch + 1}/${config.epochs} ${bar(p.batchesDone / p.batches)} ${p.batchesDone}/${p.batches}` +
              `  loss ${p.loss.toFixed(4)}  acc ${percent(p.accuracy)}  ` +
              (Number.isFinite(p.imagesPerSecond)
                ? `${p.imagesPerSecond.toFixed(0)} img/s  ETA ${formatDuration(p.etaSeconds)}`
                : 'measuring speed...'),
          );
        },
        async onEpoch(report, epochState) {
          progress.done();
          metrics?.epochDone(report);
          await save(epochState);
          if (json) {
            emitJson({
              event: 'epoch',
              epoch: report.epoch,
              step: report.step,
              train_loss: report.trainLoss,
              train_accuracy: report.trainAccuracy,
              test_loss: report.test?.meanLoss ?? null,
              test_accuracy: report.test?.accuracy ?? null,
              seconds: report.seconds,
              images_per_second: report.imagesPerSecond,
              checkpoint: out,
            });
          } else {
            const test = report.test
              ? `  test loss ${report.test.meanLoss.toFixed(4)}  test acc ${percent(report.test.accuracy)}`
              : '';
            log(
              `epoch ${report.epoch}/${config.epochs}  train loss ${report.trainLoss.toFixed(4)}  train acc ${
                percent(report.trainAccuracy)
              }${test}` +
                `  ${report.seconds.toFixed(1)} s  ${report.imagesPerSecond.toFixed(0)} img/s`,
            );
          }
        },
      });
      progress.done();
      const seconds = (performance.now() - started) / 1000;
      if (result.stopped) {
        await save(result.state);
        if (json) {
          emitJson({
            event: 'interrupted',
            epoch: result.state.epoch + 1,
            batch: result.state.batchInEpoch,
            step: result.state.step,
            checkpoint: out,
          });
        }
        const why = stopSignal === 'SIGPIPE' ? 'Output closed (broken pipe): stopped' : 'Interrupted';
        logError(
          `${why} at epoch ${
            result.state.epoch + 1
          }, batch ${result.state.batchInEpoch} (step ${result.state.step}). ` +
            `Checkpoint written to ${out}. Continue with \`${resumeHint()}\`.`,
        );
        // The shell's convention for "ended by signal N": 128 + N.
        return stopSignal === 'SIGPIPE' ? BROKEN_PIPE_EXIT : stopSignal === 'SIGTERM' ? 143 : 130;
      }
      const last = result.reports.at(-1);
      if (json) {
        emitJson({
          event: 'done',
          epochs: config.epochs,
          seconds,
          test_accuracy: last?.test?.accuracy ?? null,
          test_loss: last?.test?.meanLoss ?? null,
          checkpoint: out,
          optimizer_state: optimizerPath(out, peekMetadata(out)),
        });
      } else {
        log(
          `done in ${formatDuration(seconds)}: ${
            last?.test ? `test accuracy ${percent(last.test.accuracy)}, ` : ''
          }checkpoint ${out}`,
        );
        const dataArgs = [
          ...(folder ? ['--dataset', FOLDER_DATASET] : []),
          ...(values.data ? ['--data', values.data] : []),
          ...(values['no-verify'] ? ['--no-verify'] : []),
        ];
        log(`evaluate it with: ${commandLine([...cliInvocation(), 'eval', '--checkpoint', out, ...dataArgs])}`);
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
}

/** SHA-256 of the images and labels a run trains on: a resume on other data is refused. */
function splitDigest(split: MnistSplit): string {
  return createHash('sha256').update(split.images).update(split.labels).digest('hex');
}

const finiteOrNull = (x: number): number | null => (Number.isFinite(x) ? x : null);

/** Refuses to write over an unfinished run in `out` (its metadata says so); `advice` says what to do instead. */
function refuseUnfinishedRun(out: string, advice: string): void {
  const m = peekMetadata(out);
  if (m?.format === CHECKPOINT_FORMAT && Number(m.epoch) < Number(m.epochs)) {
    throw new UsageError(
      `${out} holds an unfinished run (epoch ${Number(m.epoch) + 1} of ${m.epochs}, step ${m.step}). ` +
        advice,
    );
  }
}

/**
 * --log is written from the first step, so it is checked with --out: a file (or absent), not the
 * checkpoint or its lock, not a running run's. An existing file that is not a log is replaced only
 * with --overwrite; a resumed run appends to its log.
 */
function checkLogTarget(path: string, out: string, resumeFrom: string | undefined, overwrite: boolean): void {
  const stats = statOrUndefined(path);
  checkWriteTarget(path, {
    what: '--log',
    overwrite: overwrite || resumeFrom !== undefined || Boolean(stats?.isFile() && isMetricsLog(path)),
    inputs: [
      [out, 'the checkpoint --out'],
      [CheckpointLock.lockPath(out), "the checkpoint's lock"],
      [resumeFrom, 'the checkpoint to resume'],
    ],
  });
}

/** A model whose input or class count the data does not match would train to chance and exit 0: refuse it first. */
function checkModelFitsData(model: ModelSpec, split: MnistSplit, classes: number, source: string): void {
  const [channels, height, width] = model.input;
  const dataChannels = split.channels ?? 1;
  if (channels !== dataChannels || height !== split.rows || width !== split.cols) {
    throw new UsageError(
      `model ${model.name} takes ${channels}x${height}x${width} inputs, but ${source} holds ${dataChannels}x${split.rows}x${split.cols} ` +
        `images; set its "input" to [${dataChannels}, ${split.rows}, ${split.cols}]`,
    );
  }
  if (model.classes !== classes) {
    throw new UsageError(
      `model ${model.name} has ${model.classes} classes, but ${source} has ${classes}; set its "classes" to ${classes}`,
    );
  }
}
