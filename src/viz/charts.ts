// The report's charts as scenes: line charts (loss and accuracy curves), the confusion heatmap with
// counts, and per-class accuracy bars. Layout arithmetic only; sceneToSvg / sceneToPng draw them.
import { type Color, hex, type Scene, type Shape } from './scene.ts';

export interface Series {
  name: string;
  color: Color;
  /** y null (a NaN or Infinity in the log) leaves the point out. */
  points: readonly (readonly [number, number | null])[];
  /** Dots at every point (per-epoch curves); dense per-step curves are drawn as lines only. */
  markers?: boolean;
  dash?: boolean;
}

export interface LineChartOptions {
  name: string;
  title: string;
  xLabel: string;
  yLabel: string;
  series: readonly Series[];
  width?: number;
  height?: number;
  /** Format of y tick labels (e.g. percentages). */
  yFormat?: (y: number) => string;
  integerX?: boolean;
}

const AXIS = '#444444';
const GRID = '#e4e4e4';
const TEXT = '#222222';

/** About `count` round tick values covering [lo, hi]. */
export function niceTicks(lo: number, hi: number, count = 5): number[] {
  if (!(hi > lo)) return [lo];
  const raw = (hi - lo) / count;
  const mag = 10 ** Math.floor(Math.log10(raw));
  // The round step nearest above 3/4 of the raw one: about `count` ticks, never many more.
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw * 0.75)!;
  const ticks: number[] = [];
  for (let t = Math.ceil(lo / step - 1e-9) * step; t <= hi + step * 1e-9; t += step) {
    ticks.push(Number(t.toPrecision(12)));
  }
  return ticks;
}

const defaultFormat = (y: number) => (Math.abs(y) >= 100 ? y.toFixed(0) : Number(y.toPrecision(3)).toString());

/** More points than a 480-pixel-wide chart can show; curves with more are thinned for drawing. */
export const MAX_DRAWN_POINTS = 2000;

/** The points with finite coordinates. */
export function finitePoints(points: readonly (readonly [number, number | null])[]): [number, number][] {
  return points.filter((p): p is [number, number] => Number.isFinite(p[0]) && p[1] !== null && Number.isFinite(p[1]));
}

/**
 * At most about `max` points of a curve, for drawing: the points split into max / 2 runs, each kept
 * as its lowest and highest point in their order, so spikes survive. Fewer points pass unchanged.
 */
export function thinPoints(points: readonly [number, number][], max: number): [number, number][] {
  if (points.length <= max) return [...points];
  const runs = Math.max(1, Math.floor(max / 2));
  const out: [number, number][] = [];
  for (let r = 0; r < runs; r++) {
    const begin = Math.floor((r * points.length) / runs);
    const end = Math.floor(((r + 1) * points.length) / runs);
    let lo = begin;
    let hi = begin;
    for (let i = begin + 1; i < end; i++) {
      if (points[i][1] < points[lo][1]) lo = i;
      if (points[i][1] > points[hi][1]) hi = i;
    }
    out.push(points[Math.min(lo, hi)]);
    if (hi !== lo) out.push(points[Math.max(lo, hi)]);
  }
  return out;
}

export function lineChart(o: LineChartOptions): Scene {
  const width = o.width ?? 480;
  const height = o.height ?? 300;
  const m = { left: 58, right: 16, top: 30, bottom: 62 };
  const shapes: Shape[] = [];
  const drawn = o.series.map((s) => thinPoints(finitePoints(s.points), MAX_DRAWN_POINTS));
  // Loops, not Math.min(...values): spreading 130,000 points into arguments overflows the stack.
  let [x0, x1, y0, y1] = [Infinity, -Infinity, Infinity, -Infinity];
  for (const points of drawn) {
    for (const [x, y] of points) {
      x0 = Math.min(x0, x);
      x1 = Math.max(x1, x);
      y0 = Math.min(y0, y);
      y1 = Math.max(y1, y);
    }
  }
  if (x0 > x1) [x0, x1, y0, y1] = [0, 1, 0, 1];
  if (x1 === x0) {
    x0 -= 1;
    x1 += 1;
  }
  if (y1 === y0) {
    y0 -= Math.abs(y0) * 0.1 || 1;
    y1 += Math.abs(y1) * 0.1 || 1;
  }
  const pad = (y1 - y0) * 0.05;
  y0 -= pad;
  y1 += pad;
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const sx = (x: number) => m.left + ((x - x0) / (x1 - x0)) * pw;
  const sy = (y: number) => m.top + (1 - (y - y0) / (y1 - y0)) * ph;
  const format = o.yFormat ?? defaultFormat;

  shapes.push({ kind: 'rect', x: 0, y: 0, w: width, h: height, fill: '#ffffff' });
  shapes.push({ kind: 'text', x: width / 2, y: 18, text: o.title, size: 14, fill: TEXT, anchor: 'middle', bold: true });
  for (const t of niceTicks(y0, y1)) {
    shapes.push({ kind: 'line', points: [[m.left, sy(t)], [m.left + pw, sy(t)]], stroke: GRID, width: 1 });
    shapes.push({ kind: 'text', x: m.left - 6, y: sy(t) + 4, text: format(t), size: 11, fill: TEXT, anchor: 'end' });
  }
  const xTicks = niceTicks(x0, x1, Math.min(6, o.integerX ? Math.max(1, Math.round(x1 - x0)) : 6))
    .filter((t) => !o.integerX || Number.isInteger(t));
  for (const t of xTicks) {
    shapes.push({ kind: 'line', points: [[sx(t), m.top + ph], [sx(t), m.top + ph + 4]], stroke: AXIS, width: 1 });
    shapes.push({
      kind: 'text',
      x: sx(t),
      y: m.top + ph + 17,
      text: defaultFormat(t),
      size: 11,
      fill: TEXT,
      anchor: 'middle',
    });
  }
  shapes.push({
    kind: 'line',
    points: [[m.left, m.top], [m.left, m.top + ph], [m.left + pw, m.top + ph]],
    stroke: AXIS,
    width: 1,
  });
  shapes.push({
    kind: 'text',
    x: m.left + pw / 2,
    y: m.top + ph + 33,
    text: o.xLabel,
    size: 12,
    fill: TEXT,
    anchor: 'middle',
  });
  shapes.push({ kind: 'text', x: 6, y: m.top - 8, text: o.yLabel, size: 12, fill: TEXT });

  let legendX = m.left;
  o.series.forEach((s, index) => {
    const points = drawn[index].map(([x, y]) => [sx(x), sy(y)] as const);
    const slug = s.name.toLowerCase().replace(/[^a-z0-9]+/g, '-');
    if (points.length > 1) {
      shapes.push({ kind: 'line', points, stroke: s.color, width: 2, cls: `series ${slug}`, dash: s.dash });
    }
    if (s.markers) {
      drawn[index].forEach(([x, y], k) =>
        shapes.push({
          kind: 'circle',
          x: points[k][0],
          y: points[k][1],
          r: 3.5,
          fill: s.color,
          cls: `point ${slug}`,
          title: `${s.name}: ${format(y)} at ${defaultFormat(x)}`,
        })
      );
    }
    const ly = height - 12;
    shapes.push({ kind: 'rect', x: legendX, y: ly - 8, w: 14, h: 4, fill: s.color });
    shapes.push({ kind: 'text', x: legendX + 18, y: ly - 2, text: s.name, size: 11, fill: TEXT });
    legendX += 18 + s.name.length * 6.6 + 20; // wide enough for the 5x7 font at this size and for sans-serif
  });
  return { width, height, name: o.name, shapes };
}

/** White to dark blue; the diagonal (correct) and the rest share one scale of log counts. */
function heatColor(fraction: number): Color {
  const t = Math.max(0, Math.min(1, fraction));
  return hex(255 - t * (255 - 8), 255 - t * (255 - 48), 255 - t * (255 - 107));
}

export function confusionHeatmap(confusion: readonly (readonly number[])[], name = 'confusion'): Scene {
  const n = confusion.length;
  const cell = 38;
  const m = { left: 64, top: 56, right: 12, bottom: 12 };
  const width = m.left + n * cell + m.right;
  const height = m.top + n * cell + m.bottom;
  const max = confusion.reduce((m, row) => row.reduce((a, b) => Math.max(a, b), m), 1);
  const shapes: Shape[] = [{ kind: 'rect', x: 0, y: 0, w: width, h: height, fill: '#ffffff' }];
  shapes.push({
    kind: 'text',
    x: m.left + (n * cell) / 2,
    y: 16,
    text: 'predicted',
    size: 12,
    fill: TEXT,
    anchor: 'middle',
  });
  shapes.push({ kind: 'text', x: 4, y: m.top - 6, text: 'true', size: 12, fill: TEXT });
  for (let k = 0; k < n; k++) {
    shapes.push({
      kind: 'text',
      x: m.left + k * cell + cell / 2,
      y: m.top - 8,
      text: String(k),
      size: 12,
      fill: TEXT,
      anchor: 'middle',
      bold: true,
    });
    shapes.push({
      kind: 'text',
      x: m.left - 10,
      y: m.top + k * cell + cell / 2 + 4,
      text: String(k),
      size: 12,
      fill: TEXT,
      anchor: 'end',
      bold: true,
    });
  }
  confusion.forEach((row, label) =>
    row.forEach((count, predicted) => {
      const fraction = count === 0 ? 0 : Math.log1p(count) / Math.log1p(max);
      const x = m.left + predicted * cell;
      const y = m.top + label * cell;
      shapes.push({
        kind: 'rect',
        x,
        y,
        w: cell,
        h: cell,
        fill: heatColor(fraction),
        stroke: '#ffffff',
        cls: 'cell',
        title: `true ${label}, predicted ${predicted}: ${count}`,
      });
      if (count > 0) {
        shapes.push({
          kind: 'text',
          x: x + cell / 2,
          y: y + cell / 2 + 4,
          text: String(count),
          size: count >= 1000 ? 10 : 11,
          fill: fraction > 0.55 ? '#ffffff' : TEXT,
          anchor: 'middle',
        });
      }
    })
  );
  return { width, height, name, shapes };
}

export function classBars(values: readonly number[], name = 'per-class-accuracy'): Scene {
  const n = values.length;
  const width = 480;
  const height = 220;
  const m = { left: 58, right: 12, top: 24, bottom: 30 };
  const pw = width - m.left - m.right;
  const ph = height - m.top - m.bottom;
  const lo = Math.max(0, Math.floor(values.reduce((a, b) => Math.min(a, b), Infinity) * 20) / 20 - 0.05);
  const sy = (v: number) => m.top + (1 - (v - lo) / (1 - lo)) * ph;
  const shapes: Shape[] = [{ kind: 'rect', x: 0, y: 0, w: width, h: height, fill: '#ffffff' }];
  for (const t of niceTicks(lo, 1, 4)) {
    shapes.push({ kind: 'line', points: [[m.left, sy(t)], [m.left + pw, sy(t)]], stroke: GRID, width: 1 });
    shapes.push({
      kind: 'text',
      x: m.left - 6,
      y: sy(t) + 4,
      text: `${(t * 100).toFixed(0)}%`,
      size: 11,
      fill: TEXT,
      anchor: 'end',
    });
  }
  const slot = pw / n;
  values.forEach((v, k) => {
    const x = m.left + k * slot + slot * 0.15;
    shapes.push({
      kind: 'rect',
      x,
      y: sy(v),
      w: slot * 0.7,
      h: m.top + ph - sy(v),
      fill: '#3b78b0',
      cls: 'bar',
      title: `${k}: ${(v * 100).toFixed(2)}%`,
    });
    shapes.push({
      kind: 'text',
      x: x + slot * 0.35,
      y: sy(v) - 4,
      text: (v * 100).toFixed(1),
      size: 10,
      fill: TEXT,
      anchor: 'middle',
    });
    shapes.push({
      kind: 'text',
      x: x + slot * 0.35,
      y: m.top + ph + 16,
      text: String(k),
      size: 12,
      fill: TEXT,
      anchor: 'middle',
      bold: true,
    });
  });
  shapes.push({ kind: 'line', points: [[m.left, m.top + ph], [m.left + pw, m.top + ph]], stroke: AXIS, width: 1 });
  return { width, height, name, shapes };
}
