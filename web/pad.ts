// The drawing pad and what the network makes of it, live. The canvas is turned to gray as decodePng does
// (luminance over white), then into the model's input as `predict` makes it (src/io/pad-input.ts): MNIST's
// digit, or, for a model trained on a folder, a picture in its channels and size, normalized with the
// checkpoint's constants. The model can change under it (a checkpoint opened, a run training): each
// classification uses the parameters it was last given.
import type { Gpu } from '../src/gpu/device.ts';
import { readF32 } from '../src/gpu/buffers.ts';
import { type Dispatch, submitDispatches } from '../src/gpu/kernel.ts';
import { DigitImageError } from '../src/io/digit-image.ts';
import { padToModelInput, type PageInput } from '../src/io/pad-input.ts';
import { dispatchesOf, Network } from '../src/nn/network.ts';
import type { ModelSpec } from '../src/nn/spec.ts';

export interface Prediction {
  predicted: number;
  probabilities: number[];
  pixels: number[];
}

/** A model the pad runs: its description, parameters (engine layout) and how the drawing becomes its input. */
export interface PadModel {
  spec: ModelSpec;
  params: Float32Array;
  page: PageInput;
}

const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export class Pad {
  readonly canvas = $<HTMLCanvasElement>('pad');
  predictions = 0;
  last: Prediction | null = null;
  /** Called when a classification fails (the message for the page). */
  onError: (message: string) => void = () => {};
  #ctx = this.canvas.getContext('2d', { willReadFrequently: true })!;
  #seen = $<HTMLCanvasElement>('seen');
  #fills: HTMLElement[] = [];
  #labels: HTMLElement[] = [];
  #model: PadModel | null = null;
  #network: Network | null = null;
  #dispatches: Dispatch[] = [];
  #running: Promise<Prediction | null> | null = null;
  #dirty = false;
  #drawn = false;

  constructor(readonly gpu: Gpu) {
    this.clear();
    this.#makeBars(Array.from({ length: 10 }, (_, d) => String(d)));
    this.#show(null);
    this.#listen();
  }

  get model(): PadModel | null {
    return this.#model;
  }

  /** Runs `model` from now on (a new network when its description or input differs from the last one's). */
  async setModel(model: PadModel): Promise<void> {
    await this.settled();
    const old = this.#model;
    const same = old && JSON.stringify([old.spec, old.page]) === JSON.stringify([model.spec, model.page]);
    if (!same) {
      this.#network?.destroy();
      this.#network = null;
      this.#network = await Network.create(this.gpu, model.spec, {
        maxBatch: 1,
        training: false,
        normalization: model.page.normalization,
      });
      const plan = await this.#network.plan(1);
      this.#dispatches = dispatchesOf(plan.forward, plan.logProbabilities);
      this.#makeBars(model.page.classes);
    }
    this.#model = model;
    this.#network!.setParameters(model.params);
    if (this.#drawn) this.#update();
    else this.#show(null);
  }

  /** New parameters for the same model (a run's progress). */
  setParameters(params: Float32Array): void {
    if (!this.#model || !this.#network) return;
    this.#model = { ...this.#model, params };
    this.#network.setParameters(params);
    if (this.#drawn) this.#update();
  }

  padPng(): string {
    return this.canvas.toDataURL('image/png');
  }

  /** Resolves once every stroke so far has been classified. */
  async settled(): Promise<Prediction | null> {
    while (this.#running) await this.#running;
    return this.last;
  }

  clear(): void {
    this.#ctx.fillStyle = '#ffffff';
    this.#ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.#drawn = false;
    this.last = null;
    this.#show(null);
  }

  #makeBars(classes: readonly string[]): void {
    const bars = $('bars');
    bars.replaceChildren();
    this.#fills = [];
    this.#labels = [];
    for (const className of classes) {
      const name = document.createElement('span');
      name.textContent = className;
      const bar = document.createElement('div');
      bar.className = 'bar';
      const fill = document.createElement('div');
      bar.append(fill);
      const value = document.createElement('span');
      bars.append(name, bar, value);
      this.#fills.push(fill);
      this.#labels.push(value);
    }
  }

  /** The prediction, its bars, and the input as the network sees it (planar [C, H, W], gray or RGB). */
  #show(p: Prediction | null): void {
    const classes = this.#model?.page.classes ?? [];
    const prediction = $('prediction');
    prediction.textContent = p ? classes[p.predicted] ?? String(p.predicted) : '';
    prediction.dataset.digit = p ? String(p.predicted) : '';
    for (let d = 0; d < this.#fills.length; d++) {
      const q = p ? p.probabilities[d] : 0;
      this.#fills[d].style.width = `${(100 * q).toFixed(1)}%`;
      this.#fills[d].parentElement!.classList.toggle('top', p?.predicted === d);
      this.#labels[d].textContent = p ? `${(100 * q).toFixed(1)}%` : '';
    }
    const [channels, height, width] = this.#model?.page.input ?? [1, 28, 28];
    this.#seen.width = width;
    this.#seen.height = height;
    const view = this.#seen.getContext('2d')!;
    const image = view.createImageData(width, height);
    const plane = width * height;
    for (let i = 0; i < plane; i++) {
      const at = (c: number) => (p ? p.pixels[(channels === 3 ? c : 0) * plane + i] : 0);
      image.data.set([at(0), at(1), at(2), 255], i * 4);
    }
    view.putImageData(image, 0, 0);
  }

  /** The pad as 8-bit gray: 255 (299 R + 587 G + 114 B) / 255000 composited over white, rounded half up, as decodePng. */
  #gray(): { width: number; height: number; pixels: Uint8Array } {
    const { data, width, height } = this.#ctx.getImageData(0, 0, this.canvas.width, this.canvas.height);
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

  async #classify(): Promise<Prediction | null> {
    const model = this.#model;
    const network = this.#network;
    if (!model || !network) return null;
    let pixels: Uint8Array;
    try {
      const gray = this.#gray();
      if (model.page.preprocessing === 'picture' && gray.pixels.every((v) => v === 255)) return null; // a blank pad
      pixels = padToModelInput(gray, model.page);
    } catch (err) {
      if (err instanceof DigitImageError) return null; // a blank pad
      throw err;
    }
    network.writeBatch(pixels, new Uint32Array(1));
    submitDispatches(this.gpu, this.#dispatches, 'page');
    const logProbs = await readF32(this.gpu, network.logProbs, model.spec.classes);
    const probabilities = Array.from(logProbs, Math.exp);
    return { predicted: probabilities.indexOf(Math.max(...probabilities)), probabilities, pixels: Array.from(pixels) };
  }

  // One classification at a time; strokes (and new parameters) that arrive meanwhile are classified together next.
  #update(): void {
    this.#dirty = true;
    if (this.#running) return;
    this.#running = (async () => {
      let p: Prediction | null = null;
      while (this.#dirty) {
        this.#dirty = false;
        p = await this.#classify();
        this.last = p;
        this.predictions++;
        this.#show(p);
      }
      this.#running = null;
      return p;
    })().catch((err) => {
      this.#running = null;
      this.onError(`Classification failed: ${(err as Error).message}`);
      return null;
    });
  }

  #listen(): void {
    let drawing = false;
    let lastPoint: [number, number] | null = null;
    const pad = this.canvas;
    const point = (e: PointerEvent): [number, number] => {
      const r = pad.getBoundingClientRect();
      return [(e.clientX - r.left) * (pad.width / r.width), (e.clientY - r.top) * (pad.height / r.height)];
    };
    const stroke = (to: [number, number]) => {
      const ctx = this.#ctx;
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
      this.#drawn = true;
      this.#update();
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
    $('clear').addEventListener('click', () => this.clear());
  }
}
