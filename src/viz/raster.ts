// A scene rasterized to an RGB image and encoded as PNG (report --png): rectangles, polylines drawn
// as round brushes, discs, and text in the 5x7 pixel font (scaled to the text's size).
import { deflateSync } from 'node:zlib';
import { PNG_SIGNATURE, pngChunk } from '../io/png.ts';
import { glyph, GLYPH_ADVANCE, GLYPH_HEIGHT } from './font.ts';
import { parseColor, type Scene, type Shape } from './scene.ts';

export class RgbImage {
  readonly pixels: Uint8Array;
  constructor(readonly width: number, readonly height: number) {
    this.pixels = new Uint8Array(width * height * 3).fill(255);
  }

  set(x: number, y: number, [r, g, b]: readonly number[]): void {
    x = Math.round(x);
    y = Math.round(y);
    if (x < 0 || y < 0 || x >= this.width || y >= this.height) return;
    const i = (y * this.width + x) * 3;
    this.pixels[i] = r;
    this.pixels[i + 1] = g;
    this.pixels[i + 2] = b;
  }

  fillRect(x: number, y: number, w: number, h: number, rgb: readonly number[]): void {
    for (let yy = Math.round(y); yy < Math.round(y + h); yy++) {
      for (let xx = Math.round(x); xx < Math.round(x + w); xx++) {
        this.set(xx, yy, rgb);
      }
    }
  }

  disc(cx: number, cy: number, r: number, rgb: readonly number[]): void {
    for (let y = Math.floor(cy - r); y <= Math.ceil(cy + r); y++) {
      for (let x = Math.floor(cx - r); x <= Math.ceil(cx + r); x++) {
        if ((x - cx) ** 2 + (y - cy) ** 2 <= r * r) this.set(x, y, rgb);
      }
    }
  }

  line(x0: number, y0: number, x1: number, y1: number, width: number, rgb: readonly number[], dash = false): void {
    const steps = Math.max(1, Math.ceil(Math.hypot(x1 - x0, y1 - y0)));
    for (let i = 0; i <= steps; i++) {
      if (dash && i % 7 >= 4) continue;
      const t = i / steps;
      const x = x0 + (x1 - x0) * t;
      const y = y0 + (y1 - y0) * t;
      if (width <= 1.5) this.set(x, y, rgb);
      else this.disc(x, y, width / 2, rgb);
    }
  }

  text(
    x: number,
    y: number,
    text: string,
    size: number,
    rgb: readonly number[],
    anchor: 'start' | 'middle' | 'end' = 'start',
  ): void {
    const scale = Math.max(1, Math.round(size / 9));
    const width = text.length * GLYPH_ADVANCE * scale;
    let left = anchor === 'middle' ? x - width / 2 : anchor === 'end' ? x - width : x;
    const top = y - GLYPH_HEIGHT * scale; // y is the baseline, as in SVG
    for (const ch of text) {
      // Descenders: these glyphs sit 2 rows high in their 7-row box, so they drop below the baseline.
      const drop = 'gpqy'.includes(ch) ? 2 : 0;
      glyph(ch).forEach((bits, row) => {
        for (let col = 0; col < 5; col++) {
          if (bits & (16 >> col)) this.fillRect(left + col * scale, top + (row + drop) * scale, scale, scale, rgb);
        }
      });
      left += GLYPH_ADVANCE * scale;
    }
  }
}

function draw(image: RgbImage, s: Shape): void {
  switch (s.kind) {
    case 'rect': {
      image.fillRect(s.x, s.y, s.w, s.h, parseColor(s.fill));
      if (s.stroke) {
        const c = parseColor(s.stroke);
        image.line(s.x, s.y, s.x + s.w, s.y, 1, c);
        image.line(s.x, s.y + s.h, s.x + s.w, s.y + s.h, 1, c);
        image.line(s.x, s.y, s.x, s.y + s.h, 1, c);
        image.line(s.x + s.w, s.y, s.x + s.w, s.y + s.h, 1, c);
      }
      return;
    }
    case 'line':
      for (let i = 1; i < s.points.length; i++) {
        const [x0, y0] = s.points[i - 1];
        const [x1, y1] = s.points[i];
        image.line(x0, y0, x1, y1, s.width, parseColor(s.stroke), s.dash);
      }
      return;
    case 'circle':
      image.disc(s.x, s.y, s.r, parseColor(s.fill));
      return;
    case 'text':
      image.text(s.x, s.y, s.text, s.size, parseColor(s.fill), s.anchor);
  }
}

export function rasterize(scene: Scene, scale = 2): RgbImage {
  const image = new RgbImage(Math.ceil(scene.width * scale), Math.ceil(scene.height * scale));
  for (const shape of scene.shapes) draw(image, scaleShape(shape, scale));
  return image;
}

function scaleShape(s: Shape, k: number): Shape {
  switch (s.kind) {
    case 'rect':
      return { ...s, x: s.x * k, y: s.y * k, w: s.w * k, h: s.h * k };
    case 'line':
      return { ...s, points: s.points.map(([x, y]) => [x * k, y * k] as const), width: s.width * k };
    case 'circle':
      return { ...s, x: s.x * k, y: s.y * k, r: s.r * k };
    case 'text':
      return { ...s, x: s.x * k, y: s.y * k, size: s.size * k };
  }
}

/** An 8-bit RGB PNG, unfiltered rows (charts are flat colours: deflate does well without filters). */
export function encodePngRgb(image: RgbImage): Uint8Array {
  const { width, height, pixels } = image;
  const ihdr = new Uint8Array(13);
  const view = new DataView(ihdr.buffer);
  view.setUint32(0, width);
  view.setUint32(4, height);
  ihdr.set([8, 2, 0, 0, 0], 8); // bit depth 8, RGB, deflate, filtering method 0, no interlace
  const raw = new Uint8Array(height * (width * 3 + 1));
  for (let y = 0; y < height; y++) {
    raw.set(pixels.subarray(y * width * 3, (y + 1) * width * 3), y * (width * 3 + 1) + 1);
  }
  const parts = [
    PNG_SIGNATURE,
    pngChunk('IHDR', ihdr),
    pngChunk('IDAT', deflateSync(raw, { level: 9 })),
    pngChunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const sceneToPng = (scene: Scene, scale = 2): Uint8Array => encodePngRgb(rasterize(scene, scale));
