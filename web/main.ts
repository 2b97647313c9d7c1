// The browser page: the engine (src/, bundled by `serve`) classifies what the user draws, live.
// The canvas is turned to gray as decodePng does (luminance over white), then into the model's input as
// `predict` makes it (src/io/pad-input.ts): MNIST's digit, or, for a model trained on a folder, a picture
// in its channels and size, normalized with the checkpoint's constants (serve's /model.json).
import { type Gpu, openGpu } from '../src/gpu/device.ts';
import { readF32 } from '../src/gpu/buffers.ts';
import { submitDispatches } from '../src/gpu/kernel.ts';
import { DigitImageError } from '../src/io/digit-image.ts';
import { padToModelInput, type PageInput } from '../src/io/pad-input.ts';
import { dispatchesOf, Network } from '../src/nn/network.ts';
import type { ModelSpec } from '../src/nn/spec.ts';

interface Prediction {
  predicted: number;
  probabilities: number[];
  pixels: number[];
}

/** What tests (and the curious) can read: state, the last prediction, and the pad as a PNG. */
interface PageApi {
  state: 'loading' | 'ready' | 'no-webgpu' | 'error';
  message: string;
  adapter: string;
  predictions: number;
  last: Prediction | null;
  padPng(): string;
  /** Resolves once every stroke so far has been classified. */
  settled(): Promise<Prediction | null>;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;
const status = $('status');
const pad = $<HTMLCanvasElement>('pad');
const seen = $<HTMLCanvasElement>('seen');
const ctx = pad.getContext('2d', { willReadFrequently: true })!;
const api: PageApi = {
  state: 'loading',
  message: '',
  adapter: '',
  predictions: 0,
  last: null,
  padPng: () => pad.toDataURL('image/png'),
  settled: () => Promise.resolve(null),
};
(globalThis as { digits?: PageApi }).digits = api;

function setStatus(text: string, kind: PageApi['state']): void {
  api.state = kind;
  api.message = text;
  status.textContent = text;
  status.className = kind === 'no-webgpu' || kind === 'error' ? 'error' : '';
}

function clearPad(): void {
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, pad.width, pad.height);
}

// Probability bars, one per class (0-9 until the model is known).
const bars = $('bars');
const fills: HTMLElement[] = [];
const labels: HTMLElement[] = [];
function makeBars(classes: readonly string[]): void {
  bars.replaceChildren();
  fills.length = labels.length = 0;
  for (const className of classes) {
    const name = document.createElement('span');
    name.textContent = className;
    const bar = document.createElement('div');
    bar.className = 'bar';
    const fill = document.createElement('div');
    bar.append(fill);
    const value = document.createElement('span');
    bars.append(name, bar, value);
    fills.push(fill);
    labels.push(value);
  }
}
makeBars(Array.from({ length: 10 }, (_, d) => String(d)));
let classNames: readonly string[] = [];

/** The prediction, its bars, and the input as the network sees it (planar [C, H, W], gray or RGB). */
function show(p: Prediction | null, input: readonly [number, number, number] = [1, 28, 28]): void {
  const name = p ? classNames[p.predicted] ?? String(p.predicted) : '';
  $('prediction').textContent = name;
  $('prediction').dataset.digit = p ? String(p.predicted) : '';
  for (let d = 0; d < fills.length; d++) {
    const q = p ? p.probabilities[d] : 0;
    fills[d].style.width = `${(100 * q).toFixed(1)}%`;
    fills[d].parentElement!.classList.toggle('top', p?.predicted === d);
    labels[d].textContent = p ? `${(100 * q).toFixed(1)}%` : '';
  }
  const [channels, height, width] = input;
  seen.width = width;
  seen.height = height;
  const view = seen.getContext('2d')!;
  const image = view.createImageData(width, height);
  const plane = width * height;
  for (let i = 0; i < plane; i++) {
    const at = (c: number) => (p ? p.pixels[(channels === 3 ? c : 0) * plane + i] : 0);
    image.data.set([at(0), at(1), at(2), 255], i * 4);
  }
  view.putImageData(image, 0, 0);
}

/** The pad as 8-bit gray: 255 (299 R + 587 G + 114 B) / 255000 composited over white, rounded half up, as decodePng. */
function padGray(): { width: number; height: number; pixels: Uint8Array } {
  const { data, width, height } = ctx.getImageData(0, 0, pad.width, pad.height);
  const pixels = new Uint8Array(width * height);
  for (let i = 0; i < pixels.length; i++) {
    const lum = 299 * data[4 * i] + 587 * data[4 * i + 1] + 114 * data[4 * i + 2];
    const alpha = data[4 * i + 3];
    const den = 1000 * 255 * 255;
    const num = 255 * (lum * alpha + 1000 * 255 * (255 - alpha));
    const twice = 2 * num + den;
    pixels[i] = (twice - (twice % (2 * den))) / (2 * den);
  }
  return { width, height, pixels };
}

async function main(): Promise<void> {
  clearPad();
  show(null);
  let gpu: Gpu;
  try {
    gpu = await openGpu();
  } catch (err) {
    setStatus(`No WebGPU here, so the network cannot run in this page. ${(err as Error).message}`, 'no-webgpu');
    return;
  }
  api.adapter = gpu.adapterName;
  const info = await (await fetch('model.json')).json() as PageInput & {
    model: string;
    model_spec: ModelSpec;
    checkpoint: string;
    epoch: string | null;
  };
  const params = new Float32Array(await (await fetch('params.bin')).arrayBuffer());
  // The checkpoint's own description (checked by serve when it loaded the checkpoint), never a preset
  // of the same name: a model file named "digit" with other layers runs as itself.
  const model = info.model_spec;
  const network = await Network.create(gpu, model, {
    maxBatch: 1,
    training: false,
    normalization: info.normalization,
  });
  classNames = info.classes;
  makeBars(info.classes);
  show(null, info.input);
  network.setParameters(params);
  const plan = await network.plan(1);
  const dispatches = dispatchesOf(plan.forward, plan.logProbabilities);

  async function classify(): Promise<Prediction | null> {
    let pixels: Uint8Array;
    try {
      const gray = padGray();
      if (info.preprocessing === 'picture' && gray.pixels.every((v) => v === 255)) return null; // a blank pad
      pixels = padToModelInput(gray, info);
    } catch (err) {
      if (err instanceof DigitImageError) return null; // a blank pad
      throw err;
    }
    network.writeBatch(pixels, new Uint32Array(1));
    submitDispatches(gpu, dispatches, 'page');
    const logProbs = await readF32(gpu, network.logProbs, model.classes);
    const probabilities = Array.from(logProbs, Math.exp);
    return { predicted: probabilities.indexOf(Math.max(...probabilities)), probabilities, pixels: Array.from(pixels) };
  }

  // One classification at a time; strokes that arrive meanwhile are classified together next.
  let running: Promise<Prediction | null> | null = null;
  let dirty = false;
  const update = () => {
    dirty = true;
    if (running) return;
    running = (async () => {
      let p: Prediction | null = null;
      while (dirty) {
        dirty = false;
        p = await classify();
        api.last = p;
        api.predictions++;
        show(p, info.input);
      }
      running = null;
      return p;
    })().catch((err) => {
      running = null;
      setStatus(`Classification failed: ${(err as Error).message}`, 'error');
      return null;
    });
  };
  api.settled = async () => {
    while (running) await running;
    return api.last;
  };

  let drawing = false;
  let lastPoint: [number, number] | null = null;
  const point = (e: PointerEvent): [number, number] => {
    const r = pad.getBoundingClientRect();
    return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
  };
  const stroke = (to: [number, number]) => {
    ctx.strokeStyle = '#000000';
    ctx.fillStyle = '#000000';
    ctx.lineWidth = 18;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.beginPath();
    const from = lastPoint ?? to;
    ctx.moveTo(from[0], from[1]);
    ctx.lineTo(to[0], to[1]);
    ctx.stroke();
    lastPoint = to;
    update();
  };
  pad.addEventListener('pointerdown', (e) => {
    drawing = true;
    lastPoint = null;
    pad.setPointerCapture(e.pointerId);
    stroke(point(e));
  });
  pad.addEventListener('pointermove', (e) => {
    if (drawing) stroke(point(e));
  });
  const end = () => {
    drawing = false;
    lastPoint = null;
  };
  pad.addEventListener('pointerup', end);
  pad.addEventListener('pointercancel', end);
  $('clear').addEventListener('click', () => {
    clearPad();
    api.last = null;
    show(null, info.input);
  });
  setStatus(
    `Ready: ${info.model} from ${info.checkpoint}${
      info.epoch ? ` (epoch ${info.epoch})` : ''
    }, on ${gpu.adapterName}. ${info.preprocessing === 'picture' ? 'Draw something.' : 'Draw a digit.'}`,
    'ready',
  );
}

main().catch((err) => setStatus(`The engine failed to start: ${(err as Error).message}`, 'error'));
