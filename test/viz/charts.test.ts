// The report's charts: tick values, what the SVG holds, and that the rasterizer draws the same scene.
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { decodePng } from '../../src/io/png.ts';
import { classBars, confusionHeatmap, lineChart, niceTicks, thinPoints } from '../../src/viz/charts.ts';
import { rasterize, sceneToPng } from '../../src/viz/raster.ts';
import { sceneToSvg } from '../../src/viz/svg.ts';

test('niceTicks: round steps covering the range', () => {
  assert.equal(niceTicks(0, 1), [0, 0.2, 0.4, 0.6, 0.8, 1]);
  assert.equal(niceTicks(0.13, 0.97, 4), [0.2, 0.4, 0.6, 0.8]);
  assert.equal(niceTicks(3, 3), [3]);
});

test('lineChart: one polyline per series, a marker per point where asked, escaped labels', () => {
  const svg = sceneToSvg(lineChart({
    name: 'loss',
    title: 'a < b',
    xLabel: 'epoch',
    yLabel: 'loss',
    series: [
      { name: 'train loss', color: '#ff0000', points: [[1, 0.5], [2, 0.3], [3, 0.2]], markers: true },
      { name: 'test loss', color: '#0000ff', points: [[1, 0.4], [2, 0.35], [3, 0.3]] },
    ],
  }));
  assert.is((svg.match(/<polyline[^>]*class="series/g) ?? []).length, 2);
  assert.is((svg.match(/class="point train-loss"/g) ?? []).length, 3);
  assert.is((svg.match(/class="point test-loss"/g) ?? []).length, 0);
  assert.ok(svg.includes('a &lt; b') && !svg.includes('a < b'));
});

test('confusionHeatmap: 10x10 cells with their counts; classBars: a bar per class', () => {
  const confusion = Array.from(
    { length: 10 },
    (_, i) => Array.from({ length: 10 }, (_, j) => (i === j ? 1000 + i : j)),
  );
  const svg = sceneToSvg(confusionHeatmap(confusion));
  assert.is((svg.match(/class="cell"/g) ?? []).length, 100);
  assert.ok(svg.includes('<title>true 3, predicted 3: 1003</title>') && svg.includes('>1009</text>'));
  assert.is((sceneToSvg(classBars(new Array(10).fill(0.9))).match(/class="bar"/g) ?? []).length, 10);
});

test('rasterize: the scene at twice its size, shapes in their colours; the PNG decodes', () => {
  const scene = {
    width: 40,
    height: 20,
    name: 't',
    shapes: [
      { kind: 'rect' as const, x: 0, y: 0, w: 40, h: 20, fill: '#ffffff' },
      { kind: 'rect' as const, x: 10, y: 5, w: 10, h: 10, fill: '#000000' },
      { kind: 'text' as const, x: 25, y: 15, text: '7', size: 9, fill: '#000000' },
    ],
  };
  const image = rasterize(scene, 2);
  assert.is(image.width, 80);
  const at = (x: number, y: number) => image.pixels[(y * image.width + x) * 3];
  assert.is(at(30, 20), 0, 'inside the black square');
  assert.is(at(5, 5), 255, 'outside it');
  const gray = decodePng(sceneToPng(scene, 2), 'chart');
  assert.equal([gray.width, gray.height], [80, 40]);
  assert.is(gray.pixels[20 * 80 + 30], 0);
  // The 7's top bar: font row 0 at scale 2 starts 7 rows above the baseline (y = 30 at scale 2).
  assert.is(gray.pixels[(30 - 14) * 80 + 52], 0);
});

test("thinPoints keeps a curve's extremes within the budget; lineChart draws 130,000 points and skips null ones", () => {
  const points = Array.from({ length: 130_000 }, (_, i) => [i, Math.sin(i / 1000)] as [number, number]);
  points[77_777] = [77_777, 50]; // a spike
  const thin = thinPoints(points, 2000);
  assert.ok(thin.length <= 2000 && thin.length > 1000, String(thin.length));
  assert.ok(thin.some(([x, y]) => x === 77_777 && y === 50), 'the spike survives');
  assert.ok(thin.every((p, i) => i === 0 || p[0] > thin[i - 1][0]), 'in order');
  assert.equal(thinPoints(points.slice(0, 10), 2000), points.slice(0, 10));
  const chart = lineChart({
    name: 'long',
    title: 't',
    xLabel: 'x',
    yLabel: 'y',
    series: [{ name: 's', color: '#000000', points: [...points, [130_001, null]] }],
  });
  const line = chart.shapes.find((s) => s.kind === 'line' && s.cls?.startsWith('series'));
  assert.ok(line && line.kind === 'line' && line.points.length <= 2000);
});

test.run();
