// The HTML report: one self-contained file (inline SVG charts, PNG data URIs, inline CSS, no script
// but its data as JSON), built from what a training log and a checkpoint's evaluation say.
import type { EpochRecord, HeaderRecord, StepRecord } from '../train/metrics-log.ts';
import { classBars, confusionHeatmap, lineChart, type Series } from './charts.ts';
import type { Scene } from './scene.ts';
import { escapeXml, sceneToSvg } from './svg.ts';

export interface GalleryItem {
  index: number;
  label: number;
  predicted: number;
  probability: number;
  probabilities: number[];
  /** data:image/png;base64,... */
  image: string;
}

export interface ReportEvaluation {
  split: string;
  count: number;
  correct: number;
  accuracy: number;
  meanLoss: number;
  confusion: number[][];
  perClassAccuracy: number[];
  imagesPerSecond: number;
  adapter: string;
}

export interface ReportData {
  title: string;
  generated: string;
  log: { path: string; headers: HeaderRecord[]; steps: StepRecord[]; epochs: EpochRecord[] } | null;
  checkpoint: { path: string; model: string; parameters: number; metadata: Record<string, string> } | null;
  evaluation: ReportEvaluation | null;
  /** The evaluated dataset and its class names (index = label), where not MNIST's digits. */
  dataset?: { name: string; classes: readonly string[] };
  gallery: GalleryItem[];
  /** The first convolution's filters as data URIs, with the weight range they span. */
  filters: { images: string[]; shape: number[]; maxAbs: number } | null;
}

const COLORS = { train: '#d9730d', test: '#2f6fb0', step: '#9a9a9a' };
const pct = (x: number, digits = 2) => `${(100 * x).toFixed(digits)}%`;
/** A number with `digits` decimals, or - where the log has none (null). */
const fixed = (x: number | null, digits: number) => (x === null ? '-' : x.toFixed(digits));

export function reportCharts(data: ReportData): Record<string, Scene> {
  const charts: Record<string, Scene> = {};
  const epochs = data.log?.epochs ?? [];
  const steps = data.log?.steps ?? [];
  if (epochs.length) {
    const series = (
      key: 'train_loss' | 'test_loss' | 'train_accuracy' | 'test_accuracy',
      name: string,
      color: string,
    ): Series[] => {
      const points = epochs.filter((e) => e[key] !== null).map((e) => [e.epoch, e[key] as number] as const);
      return points.length ? [{ name, color, points, markers: true }] : [];
    };
    charts['loss-per-epoch'] = lineChart({
      name: 'loss-per-epoch',
      title: 'Loss per epoch',
      xLabel: 'epoch',
      yLabel: 'loss',
      integerX: true,
      series: [...series('train_loss', 'train loss', COLORS.train), ...series('test_loss', 'test loss', COLORS.test)],
    });
    charts['accuracy-per-epoch'] = lineChart({
      name: 'accuracy-per-epoch',
      title: 'Accuracy per epoch',
      xLabel: 'epoch',
      yLabel: 'accuracy',
      integerX: true,
      yFormat: (y) => pct(y, 1),
      series: [
        ...series('train_accuracy', 'train accuracy', COLORS.train),
        ...series('test_accuracy', 'test accuracy', COLORS.test),
      ],
    });
  }
  if (steps.length) {
    charts['loss-per-step'] = lineChart({
      name: 'loss-per-step',
      title: 'Training loss per logged step',
      xLabel: 'step',
      yLabel: 'loss',
      series: [
        {
          name: 'train loss (window mean)',
          color: COLORS.train,
          points: steps.map((s) => [s.step, s.loss] as const),
        },
        ...(epochs.length
          ? [{
            name: 'epoch mean',
            color: COLORS.step,
            dash: true,
            markers: false,
            points: epochs.map((e) => [e.step, e.train_loss] as const),
          }]
          : []),
      ],
    });
    charts['accuracy-per-step'] = lineChart({
      name: 'accuracy-per-step',
      title: 'Training accuracy per logged step',
      xLabel: 'step',
      yLabel: 'accuracy',
      yFormat: (y) => pct(y, 1),
      series: [{
        name: 'train accuracy (window)',
        color: COLORS.train,
        points: steps.map((s) => [s.step, s.accuracy] as const),
      }],
    });
    charts['throughput'] = lineChart({
      name: 'throughput',
      title: 'Training throughput',
      xLabel: 'step',
      yLabel: 'images/s',
      series: [{
        name: 'images/s',
        color: COLORS.test,
        points: steps.map((s) => [s.step, s.images_per_second] as const),
      }],
    });
  }
  if (data.evaluation) {
    charts.confusion = confusionHeatmap(data.evaluation.confusion);
    charts['per-class-accuracy'] = classBars(data.evaluation.perClassAccuracy);
  }
  return charts;
}

function table(rows: readonly (readonly [string, string])[], cls: string): string {
  return `<table class="${cls}">${
    rows.map(([k, v]) => `<tr><th>${escapeXml(k)}</th><td>${escapeXml(v)}</td></tr>`).join('')
  }</table>`;
}

const CSS = `body{font-family:system-ui,sans-serif;margin:24px auto;max-width:1040px;color:#222;padding:0 16px}
h1{font-size:24px;margin-bottom:4px}h2{font-size:18px;margin-top:32px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin-top:0}.row{display:flex;flex-wrap:wrap;gap:16px;align-items:flex-start}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:6px;padding:8px 14px;min-width:120px}
.card b{display:block;font-size:22px}table{border-collapse:collapse;font-size:14px}th,td{text-align:left;padding:3px 10px;border-bottom:1px solid #eee}
th{color:#555;font-weight:600}table.epochs td,table.epochs th{text-align:right}
.gallery{display:grid;grid-template-columns:repeat(auto-fill,minmax(112px,1fr));gap:10px}
.gallery figure{margin:0;border:1px solid #ddd;border-radius:6px;padding:6px;text-align:center;font-size:12px}
.gallery img,.filters img{image-rendering:pixelated;display:block;margin:0 auto}
.filters{display:flex;gap:8px;flex-wrap:wrap}.filters figure{margin:0;text-align:center;font-size:12px}
.wrong{color:#b3261e;font-weight:600}code{background:#f4f4f4;padding:1px 4px;border-radius:3px}`;

export function reportHtml(data: ReportData): string {
  const charts = reportCharts(data);
  const svg = (name: string) => (charts[name] ? sceneToSvg(charts[name]) : '');
  const h = data.log?.headers[0];
  const epochs = data.log?.epochs ?? [];
  const last = epochs.at(-1);
  const ev = data.evaluation;
  const cards: [string, string][] = [];
  if (ev) {
    cards.push([`${ev.split} accuracy (checkpoint)`, pct(ev.accuracy)], [
      `${ev.split} mean loss`,
      ev.meanLoss.toFixed(4),
    ]);
  }
  if (last) cards.push(['epochs', String(last.epoch)], ['steps', String(last.step)]);
  if (last?.test_accuracy != null && !ev) cards.push(['final test accuracy', pct(last.test_accuracy)]);
  const totalSeconds = epochs.reduce((s, e) => s + (e.seconds ?? 0), 0);
  if (epochs.length) cards.push(['training time', `${totalSeconds.toFixed(1)} s`]);

  const sections: string[] = [];
  sections.push(
    `<h1>${escapeXml(data.title)}</h1><p class="sub">generated ${escapeXml(data.generated)}` +
      `${data.log ? ` from <code>${escapeXml(data.log.path)}</code>` : ''}${
        data.checkpoint ? ` and <code>${escapeXml(data.checkpoint.path)}</code>` : ''
      }</p>`,
  );
  sections.push(
    `<div class="cards">${
      cards.map(([k, v]) => `<div class="card">${escapeXml(k)}<b>${escapeXml(v)}</b></div>`).join('')
    }</div>`,
  );
  if (charts['loss-per-epoch']) {
    sections.push(
      `<h2>Loss and accuracy per epoch</h2><div class="row" id="epoch-curves">${svg('loss-per-epoch')}${
        svg('accuracy-per-epoch')
      }</div>`,
    );
    sections.push(
      `<table class="epochs"><tr><th>epoch</th><th>step</th><th>train loss</th><th>train acc</th><th>test loss</th><th>test acc</th><th>seconds</th><th>images/s</th></tr>` +
        epochs.map((e) =>
          '<tr>' + [
            String(e.epoch),
            String(e.step),
            fixed(e.train_loss, 4),
            e.train_accuracy === null ? '-' : pct(e.train_accuracy),
            fixed(e.test_loss, 4),
            e.test_accuracy === null ? '-' : pct(e.test_accuracy),
            fixed(e.seconds, 1),
            fixed(e.images_per_second, 0),
          ].map((cell) => `<td>${escapeXml(cell)}</td>`).join('') + '</tr>'
        ).join('') + '</table>',
    );
  }
  if (charts['loss-per-step']) {
    sections.push(
      `<h2>Per logged step</h2><div class="row" id="step-curves">${svg('loss-per-step')}${
        svg('accuracy-per-step')
      }</div>`,
    );
  }
  if (ev) {
    sections.push(
      `<h2>Test confusion matrix</h2><p class="sub">${ev.count} ${escapeXml(ev.split)} images, ${ev.correct} right ` +
        `(${pct(ev.accuracy)}); rows: true label, columns: predicted; colour: log of the count</p><div class="row">${
          svg('confusion')
        }` +
        `<div><h3>Per-class accuracy</h3>${svg('per-class-accuracy')}${classTable(data, ev)}</div></div>`,
    );
  }
  if (data.gallery.length) {
    sections.push(
      `<h2>Most confidently misclassified</h2><div class="gallery">` + data.gallery.map((g) =>
        `<figure class="misclassified" data-index="${escapeXml(String(g.index))}"><img src="${
          escapeXml(g.image)
        }" width="84" height="84" alt="test image ${escapeXml(String(g.index))}">` +
        `<figcaption>#${g.index}: true <b>${named(data, g.label)}</b>, predicted <span class="wrong">${
          named(data, g.predicted)
        }</span> ${pct(g.probability, 1)}` +
        `<br>p(${g.label}) = ${pct(g.probabilities[g.label], 1)}</figcaption></figure>`
      ).join('') + '</div>',
    );
  }
  if (data.filters) {
    sections.push(
      `<h2>First convolution's filters</h2><p class="sub">conv1.weight [${data.filters.shape.join(', ')}]; ` +
        `gray is 0, white +${data.filters.maxAbs.toFixed(3)}, black -${
          data.filters.maxAbs.toFixed(3)
        } (one scale for all)</p>` +
        `<div class="filters">${
          data.filters.images.map((src, k) =>
            `<figure class="filter"><img src="${
              escapeXml(src)
            }" width="60" height="60" alt="filter ${k}"><figcaption>${k}</figcaption></figure>`
          ).join('')
        }</div>`,
    );
  }
  if (charts.throughput || ev || epochs.length) {
    const rows: [string, string][] = [];
    if (epochs.length) {
      rows.push([
        'training, mean over epochs',
        `${(epochs.reduce((s, e) => s + (e.images_per_second ?? 0), 0) / epochs.length).toFixed(0)} images/s`,
      ]);
    }
    if (ev) rows.push([`evaluation (${ev.split} split)`, `${ev.imagesPerSecond.toFixed(0)} images/s on ${ev.adapter}`]);
    sections.push(`<h2>Throughput</h2>${table(rows, 'throughput')}${svg('throughput')}`);
  }
  const settings: [string, string][] = [];
  if (h) {
    settings.push(
      ['engine', `${h.engine} ${h.version}${h.commit ? ` (commit ${h.commit.slice(0, 12)})` : ''}`],
      ['runtime', `${h.runtime} ${h.runtime_version}`],
      ['adapter', h.adapter],
      ['model', `${h.model} (${h.parameters} parameters)`],
      [
        'dataset',
        `${h.dataset.dir}: ${h.dataset.train_images} training images${
          h.dataset.limit ? ` (--limit ${h.dataset.limit})` : ''
        }` +
        `${h.dataset.test_images ? `, ${h.dataset.test_images} test images` : ''}`,
      ],
      ...Object.entries(h.settings).map(([k, v]) =>
        [k, typeof v === 'string' ? v : JSON.stringify(v)] as [string, string]
      ),
      ['started', h.started],
    );
    if (data.log!.headers.length > 1) {
      settings.push([
        'resumed',
        data.log!.headers.slice(1).map((r) => `at step ${r.resumed_from_step}`).join(', '),
      ]);
    }
  }
  if (data.checkpoint) {
    settings.push([
      'checkpoint',
      `${data.checkpoint.path} (${data.checkpoint.model}, ${data.checkpoint.parameters} parameters` +
      `${data.checkpoint.metadata.epoch ? `, epoch ${data.checkpoint.metadata.epoch}` : ''})`,
    ]);
  }
  if (settings.length) sections.push(`<h2>Run settings</h2>${table(settings, 'settings')}`);

  // The numbers behind the page, for scripts and tests (no images: they are in the page already).
  const json = JSON.stringify({
    ...data,
    gallery: data.gallery.map(({ image: _, ...rest }) => rest),
    filters: data.filters ? { shape: data.filters.shape, maxAbs: data.filters.maxAbs } : null,
  }).replace(/</g, '\\u003c');
  return `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><title>${escapeXml(data.title)}</title>` +
    `<meta name="viewport" content="width=device-width, initial-scale=1"><style>${CSS}</style></head><body>\n` +
    sections.join('\n') + `\n<script type="application/json" id="report-data">${json}</script>\n</body></html>\n`;
}

/** A label with its class name, when the dataset has names (Fashion-MNIST: "0 T-shirt/top"). */
function named(data: ReportData, label: number): string {
  const name = data.dataset?.classes[label];
  return escapeXml(name === undefined ? String(label) : `${label} ${name}`);
}

/** Which class each number of the charts is, for datasets whose classes are not digits. */
function classTable(data: ReportData, ev: ReportEvaluation): string {
  if (!data.dataset) return '';
  return `<table class="classes"><tr><th>label</th><th>class (${
    escapeXml(data.dataset.name)
  })</th><th>accuracy</th></tr>` +
    data.dataset.classes.map((name, label) =>
      `<tr><td>${label}</td><td>${escapeXml(name)}</td>` +
      `<td>${(100 * (ev.perClassAccuracy[label] ?? 0)).toFixed(2)}%</td></tr>`
    ).join('') + '</table>';
}
