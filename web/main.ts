// The browser page: the engine (src/, bundled by `serve` and by `export --format web`) classifies what the
// user draws, live, with the model in model.json and params.bin beside the page (when there is one). The
// page `serve` opens also trains a model on MNIST in the tab (web/training.ts) and opens and downloads
// checkpoints; the exported page has the pad alone.
import { DeviceClassError, type Gpu, openGpu } from '../src/gpu/device.ts';
import type { DeviceKind } from '../src/gpu/profile.ts';
import type { PageInput } from '../src/io/pad-input.ts';
import { DATASETS } from '../src/data/datasets.ts';
import { pageInputOf } from '../src/io/pad-input.ts';
import { getModel } from '../src/nn/spec.ts';
import { OpenError, openModelFile } from './checkpoint-files.ts';
import { Pad, type Prediction } from './pad.ts';
import { type TrainingApi, TrainingPanel } from './training.ts';
import type { ModelSpec } from '../src/nn/spec.ts';

/** What tests (and the curious) can read: state, the last prediction, the pad as a PNG, the run. */
interface PageApi {
  state: 'loading' | 'ready' | 'no-webgpu' | 'error';
  message: string;
  adapter: string;
  predictions: number;
  last: Prediction | null;
  /** The model the pad runs ('' before there is one) and what "Open" last said. */
  model: string;
  opened: { ok: boolean; message: string } | null;
  training: TrainingApi | null;
  padPng(): string;
  /** Resolves once every stroke so far has been classified. */
  settled(): Promise<Prediction | null>;
}

/** serve's and export's /model.json: the checkpoint's model and how the pad feeds it (null: no checkpoint). */
type ModelInfo =
  | (PageInput & { model: string; model_spec: ModelSpec; checkpoint: string; epoch: string | null })
  | null;

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const api: PageApi = {
  state: 'loading',
  message: '',
  adapter: '',
  predictions: 0,
  last: null,
  model: '',
  opened: null,
  training: null,
  padPng: () => '',
  settled: () => Promise.resolve(null),
};
(globalThis as { digits?: PageApi }).digits = api;

function setStatus(text: string, kind: PageApi['state']): void {
  api.state = kind;
  api.message = text;
  status.textContent = text;
  status.className = kind === 'no-webgpu' || kind === 'error' ? 'error' : '';
}

function setOpened(ok: boolean, message: string): void {
  api.opened = { ok, message };
  const line = $('open-status');
  line.textContent = message;
  line.className = ok ? '' : 'error';
}

async function fetchModel(pad: Pad): Promise<ModelInfo> {
  const response = await fetch('model.json', { cache: 'no-store' });
  if (!response.ok) throw new Error(`model.json: HTTP ${response.status}`);
  const info = await response.json() as ModelInfo;
  if (!info) return null;
  const params = await fetch('params.bin', { cache: 'no-store' });
  if (!params.ok) throw new Error(`params.bin: HTTP ${params.status}`);
  // The checkpoint's own description (checked when it was loaded), never a preset of the same name: a
  // model file named "digit" with other layers runs as itself.
  await pad.setModel({ spec: info.model_spec, params: new Float32Array(await params.arrayBuffer()), page: info });
  return info;
}

/** "Open": a checkpoint of ours, or a PyTorch state_dict of the model chosen in the training form. */
function listenForOpen(pad: Pad): void {
  const picker = $<HTMLInputElement>('open');
  picker.addEventListener('change', async () => {
    const file = picker.files?.[0];
    if (!file) return;
    try {
      const choice = $<HTMLSelectElement>('model').value;
      const opened = openModelFile(
        new Uint8Array(await file.arrayBuffer()),
        file.name,
        getModel(choice === 'file' ? 'digit' : choice),
      );
      const classes = DATASETS.get(opened.metadata.dataset ?? 'mnist')?.classes;
      if (opened.metadata.dataset === 'folder') {
        throw new OpenError(
          `${file.name} was trained on a picture folder; open it with serve --checkpoint, which applies its recorded input.`,
        );
      }
      await pad.setModel({
        spec: opened.spec,
        params: opened.params,
        page: pageInputOf(opened.spec, { folder: false }, classes),
      });
      api.model = opened.spec.name;
      setOpened(
        true,
        `Opened ${file.name} (${
          opened.kind === 'checkpoint' ? 'checkpoint' : 'PyTorch state_dict'
        }, ${opened.spec.name}). Draw a digit.`,
      );
    } catch (err) {
      setOpened(
        false,
        err instanceof OpenError ? err.message : `Could not open ${file.name}: ${(err as Error).message}`,
      );
    } finally {
      picker.value = '';
    }
  });
}

async function main(): Promise<void> {
  let gpu: Gpu;
  try {
    // ?device-class=… plans for another class of device, as the CLI's --device-class does.
    const deviceClass = new URLSearchParams(location.search).get('device-class') ?? undefined;
    gpu = await openGpu({ deviceClass: deviceClass as DeviceKind | undefined });
  } catch (err) {
    if (err instanceof DeviceClassError) {
      setStatus(`The page's address asks for ${(err as Error).message}.`, 'error');
      return;
    }
    setStatus(
      `No WebGPU here, so the network cannot run in this page. ${(err as Error).message}`,
      'no-webgpu',
    );
    for (const id of ['training', 'open-row']) $(id)?.setAttribute('hidden', '');
    return;
  }
  api.adapter = gpu.adapterName;
  const pad = new Pad(gpu);
  pad.onError = (message) => setStatus(message, 'error');
  api.padPng = () => pad.padPng();
  api.settled = async () => {
    const p = await pad.settled();
    api.last = pad.last;
    api.predictions = pad.predictions;
    return p;
  };
  const info = await fetchModel(pad);
  api.model = info?.model ?? '';
  if ($('training')) {
    api.training = new TrainingPanel(gpu, pad).api;
    listenForOpen(pad);
  }
  const what = info?.preprocessing === 'picture' ? 'Draw something.' : 'Draw a digit.';
  setStatus(
    info
      ? `Ready: ${info.model} from ${info.checkpoint}${
        info.epoch ? ` (epoch ${info.epoch})` : ''
      }, on ${gpu.adapterName}. ${what}`
      : `Ready, on ${gpu.adapterName}: train a model below, or open a checkpoint, then draw a digit.`,
    'ready',
  );
}

main().catch((err) => setStatus(`The engine failed to start: ${(err as Error).message}`, 'error'));
