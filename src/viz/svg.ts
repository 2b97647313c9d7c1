// A scene as an inline <svg> element (the HTML report's charts).
import type { Scene, Shape } from './scene.ts';

export function escapeXml(text: string): string {
  return text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

const num = (x: number) => String(Math.round(x * 100) / 100);
const cls = (c: string | undefined) => (c ? ` class="${escapeXml(c)}"` : '');
const titled = (body: string, title: string | undefined, tag: string) =>
  title ? `<${tag}${body}><title>${escapeXml(title)}</title></${tag}>` : `<${tag}${body}/>`;

function shapeSvg(s: Shape): string {
  switch (s.kind) {
    case 'rect':
      return titled(
        ` x="${num(s.x)}" y="${num(s.y)}" width="${num(s.w)}" height="${num(s.h)}" fill="${s.fill}"` +
          `${s.stroke ? ` stroke="${s.stroke}"` : ''}${cls(s.cls)}`,
        s.title,
        'rect',
      );
    case 'line':
      return `<polyline points="${
        s.points.map(([x, y]) => `${num(x)},${num(y)}`).join(' ')
      }" fill="none" stroke="${s.stroke}" ` +
        `stroke-width="${s.width}"${s.dash ? ' stroke-dasharray="4 3"' : ''} stroke-linejoin="round"${cls(s.cls)}/>`;
    case 'circle':
      return titled(
        ` cx="${num(s.x)}" cy="${num(s.y)}" r="${num(s.r)}" fill="${s.fill}"${cls(s.cls)}`,
        s.title,
        'circle',
      );
    case 'text':
      return `<text x="${num(s.x)}" y="${num(s.y)}" font-size="${s.size}" fill="${s.fill}"` +
        `${s.anchor && s.anchor !== 'start' ? ` text-anchor="${s.anchor}"` : ''}${
          s.bold ? ' font-weight="bold"' : ''
        }>${escapeXml(s.text)}</text>`;
  }
}

export function sceneToSvg(scene: Scene): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" class="chart ${escapeXml(scene.name)}" role="img" aria-label="${
    escapeXml(scene.name)
  }" ` +
    `viewBox="0 0 ${scene.width} ${scene.height}" width="${scene.width}" height="${scene.height}" font-family="sans-serif">` +
    scene.shapes.map(shapeSvg).join('') + '</svg>';
}
