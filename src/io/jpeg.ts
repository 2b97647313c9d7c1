// JPEG reading through jpeg-js, a pure-JavaScript baseline and progressive decoder with no
// dependencies (so it runs unchanged under Node and Deno). This wrapper adds what the engine needs
// around it: a size limit checked before decoding, the source's component count (gray or color,
// read from the frame header, which jpeg-js does not report), and errors that name the file.
import jpeg from 'jpeg-js';
import type { RasterImage } from './resize.ts';

export class JpegError extends Error {
  override name = 'JpegError';
  constructor(readonly source: string, readonly problem: string) {
    super(`${source}: ${problem}`);
  }
}

/** Starts with the JPEG start-of-image marker. */
export function isJpeg(bytes: Uint8Array): boolean {
  return bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff;
}

/** The frame header's size and component count, or undefined when no start-of-frame marker is found. */
export function jpegFrame(bytes: Uint8Array): { width: number; height: number; components: number } | undefined {
  let at = 2;
  while (at + 4 <= bytes.length) {
    if (bytes[at] !== 0xff) return undefined;
    const marker = bytes[at + 1];
    if (marker === 0xff) {
      at++; // fill byte
      continue;
    }
    const length = (bytes[at + 2] << 8) | bytes[at + 3];
    // SOF0-SOF15, except DHT (C4), JPG (C8) and DAC (CC).
    if (marker >= 0xc0 && marker <= 0xcf && marker !== 0xc4 && marker !== 0xc8 && marker !== 0xcc) {
      if (at + 10 > bytes.length) return undefined;
      return {
        height: (bytes[at + 5] << 8) | bytes[at + 6],
        width: (bytes[at + 7] << 8) | bytes[at + 8],
        components: bytes[at + 9],
      };
    }
    if (marker === 0xda || marker === 0xd9) return undefined; // scan data or end before any frame
    at += 2 + length;
  }
  return undefined;
}

/**
 * Decodes a JPEG file to 8-bit gray (one component) or RGB (three; CMYK/YCCK become RGB).
 * Truncated and damaged files are refused, not patched up. `source` goes into error messages.
 */
export function decodeJpeg(bytes: Uint8Array, source = '<buffer>', maxPixels = 4096 * 4096): RasterImage {
  if (!isJpeg(bytes)) throw new JpegError(source, 'not a JPEG file (the start-of-image marker FF D8 is missing)');
  const frame = jpegFrame(bytes);
  if (!frame) throw new JpegError(source, 'no frame header (SOF marker) found: the file is damaged or truncated');
  if (frame.width === 0 || frame.height === 0) {
    throw new JpegError(source, `image is ${frame.width}x${frame.height}: it has no pixels`);
  }
  if (frame.width * frame.height > maxPixels) {
    throw new JpegError(
      source,
      `image is ${frame.width}x${frame.height} = ${
        frame.width * frame.height
      } pixels, more than the limit of ${maxPixels}`,
    );
  }
  let decoded;
  try {
    decoded = jpeg.decode(bytes, {
      useTArray: true,
      formatAsRGBA: false,
      tolerantDecoding: false,
      maxResolutionInMP: maxPixels / 1e6 + 1,
      maxMemoryUsageInMB: 1024,
    });
  } catch (err) {
    throw new JpegError(
      source,
      `cannot be decoded as JPEG (${(err as Error).message ?? err}): the file is damaged or truncated`,
    );
  }
  const { width, height, data } = decoded;
  if (data.length !== width * height * 3) {
    throw new JpegError(source, `decoded to ${data.length} bytes, not ${width}x${height} RGB`);
  }
  if (frame.components !== 1) return { width, height, channels: 3, pixels: data };
  const gray = new Uint8Array(width * height);
  for (let i = 0; i < gray.length; i++) gray[i] = data[3 * i];
  return { width, height, channels: 1, pixels: gray };
}

/** Encodes 8-bit RGB (or gray, written as RGB) as a baseline JPEG at `quality` 1-100 (for tests and examples). */
export function encodeJpeg(image: RasterImage, quality = 90): Uint8Array {
  const count = image.width * image.height;
  const rgba = new Uint8Array(count * 4);
  for (let i = 0; i < count; i++) {
    for (let c = 0; c < 3; c++) rgba[4 * i + c] = image.pixels[i * image.channels + (image.channels === 3 ? c : 0)];
    rgba[4 * i + 3] = 255;
  }
  const { data } = jpeg.encode({ data: rgba, width: image.width, height: image.height }, quality);
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}
