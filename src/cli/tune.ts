// `tune`: measures tile configurations on this device for a model's training and evaluation plans
// (src/tune/tuner.ts) and stores the winners in the tune cache, which later runs of train, eval and
// bench use. Always re-tunes the plans it is asked for.
import { openGpu } from '../gpu/device.ts';
import { getModel } from '../nn/spec.ts';
import { intOption, parseCommandArgs, positiveNumberOption } from './args.ts';
import { checkTuneCachePath, saveTuneCache, tuneCachePath, tuneKeyOf } from '../tune/cache.ts';
import { DEFAULT_TUNE_SECONDS, tunePlans } from './tuning.ts';
import { DEVICE_HELP, deviceOptions, gpuOptions } from './common.ts';

export const TUNE_HELP = `Usage: tune [options]

Times candidate tile configurations of every op of the model's training plan and evaluation plan on
this GPU, on the real shapes, checks each candidate's output first (on a CPU driver: bit for bit
against the default, so tuned training stays bit-identical; on a GPU: against the buffer kernels),
and stores the fastest in the tune cache. train, eval and bench then use them on this adapter,
driver, runtime and engine version; \`info\` and \`--verbose\` say so.

Options:
  --model NAME         model (default: digit)
  --batch-size N       training batch size to tune for (default: 64)
  --eval-batch-size N  evaluation batch size to tune for (default: 1000)
  --seconds S          time budget for everything (default: ${DEFAULT_TUNE_SECONDS})
  --tune-cache FILE    where to store them (default: $WEBGPU_DIGITS_TUNE_CACHE, else
                       $XDG_CACHE_HOME/webgpu-digits/tune.json, else ~/.cache/webgpu-digits/tune.json)
${DEVICE_HELP}
  --json               one JSON object with what was stored
  --verbose            print the GPU adapter and its limits`;

export async function tuneCommand(argv: string[]): Promise<number> {
  const { values } = parseCommandArgs(argv, {
    model: { type: 'string', default: 'digit' },
    'batch-size': { type: 'string', default: '64' },
    'eval-batch-size': { type: 'string', default: '1000' },
    seconds: { type: 'string', default: String(DEFAULT_TUNE_SECONDS) },
    'tune-cache': { type: 'string' },
    json: { type: 'boolean', default: false },
    verbose: { type: 'boolean', default: false },
    help: { type: 'boolean', short: 'h', default: false },
    ...deviceOptions,
  });
  if (values.help) {
    console.log(TUNE_HELP);
    return 0;
  }
  const model = getModel(values.model!);
  const plans = [
    { training: false, maxBatch: intOption(values['eval-batch-size'], 'eval-batch-size', 1, 60000) },
    { training: true, maxBatch: intOption(values['batch-size'], 'batch-size', 1, 60000) },
  ];
  const seconds = positiveNumberOption(values.seconds, 'seconds');
  const path = tuneCachePath(values['tune-cache']);
  checkTuneCachePath(path); // before minutes of tuning whose result could not be stored
  const gpu = await openGpu({ ...gpuOptions(values), verbose: values.verbose, timestamps: true });
  try {
    const log = (line: string) => values.json || console.error(line);
    log(`tuning ${model.name} on ${gpu.adapterName}, ${gpu.deviceClass} class`);
    const tuned = await tunePlans(gpu, model, plans, seconds, log);
    const stored = Object.keys(tuned);
    if (stored.length) saveTuneCache(path, tuneKeyOf(gpu), tuned);
    if (values.json) console.log(JSON.stringify({ cache: path, key: tuneKeyOf(gpu), plans: tuned }));
    else {console.log(
        stored.length ? `stored ${stored.join(' and ')} in ${path}` : `nothing tuned: ${path} is unchanged`,
      );}
    return 0;
  } finally {
    await gpu.close();
  }
}
