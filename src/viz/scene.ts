// Charts are drawn once as a list of shapes (a scene), then written as SVG (the HTML report) or
// rasterized to PNG (report --png): one drawing, two outputs.
export type Color = string; // '#rrggbb'

export type Shape =
  | {
    kind: 'rect';
    x: number;
    y: number;
    w: number;
    h: number;
    fill: Color;
    stroke?: Color;
    title?: string;
    cls?: string;
  }
  | {
    kind: 'line';
    points: readonly (readonly [number, number])[];
    stroke: Color;
    width: number;
    cls?: string;
    dash?: boolean;
  }
  | { kind: 'circle'; x: number; y: number; r: number; fill: Color; title?: string; cls?: string }
  | {
    kind: 'text';
    x: number;
    y: number;
    text: string;
    size: number;
    fill: Color;
    anchor?: 'start' | 'middle' | 'end';
    bold?: boolean;
  };

export interface Scene {
  width: number;
  height: number;
  /** Names the chart in the SVG (class and aria-label). */
  name: string;
  shapes: Shape[];
}

export function parseColor(color: Color): [number, number, number] {
  const m = /^#([0-9a-f]{2})([0-9a-f]{2})([0-9a-f]{2})$/i.exec(color);
  if (!m) throw new Error(`scene colors are #rrggbb, got ${color}`);
  return [parseInt(m[1], 16), parseInt(m[2], 16), parseInt(m[3], 16)];
}

export const hex = (r: number, g: number, b: number): Color =>
  '#' + [r, g, b].map((v) => Math.max(0, Math.min(255, Math.round(v))).toString(16).padStart(2, '0')).join('');
