// The safetensors format (https://github.com/huggingface/safetensors), used for checkpoints:
//   8-byte little-endian u64 N | N bytes of UTF-8 JSON header, space-padded to a multiple of 8 | data
// The header maps each tensor name to {dtype, shape, data_offsets: [begin, end]} (offsets relative to
// the start of the data, tensors packed with no holes and no overlap) plus an optional
// "__metadata__" object of string values. The decoder trusts nothing in the file.

export type TensorData =
  | Float64Array
  | Float32Array
  | Uint16Array
  | BigInt64Array
  | BigUint64Array
  | Int32Array
  | Uint32Array
  | Int16Array
  | Int8Array
  | Uint8Array;

/** F16 and BF16 have no JavaScript array type: their raw bit patterns come as Uint16Array. */
export type DType =
  | 'F64'
  | 'F32'
  | 'F16'
  | 'BF16'
  | 'I64'
  | 'U64'
  | 'I32'
  | 'U32'
  | 'I16'
  | 'U16'
  | 'I8'
  | 'U8'
  | 'BOOL';

export interface Tensor {
  dtype: DType;
  shape: number[];
  data: TensorData;
}

export interface TensorInput {
  shape: number[];
  data: TensorData;
  /** Needed only to store a Uint16Array as F16/BF16 or a Uint8Array as BOOL. */
  dtype?: DType;
}

/** A file that is not a valid safetensors file; the message names the file and what is wrong. */
export class CheckpointFormatError extends Error {
  override name = 'CheckpointFormatError';
  constructor(readonly source: string, readonly problem: string) {
    super(`${source}: ${problem}`);
  }
}

interface DTypeInfo {
  bytes: number;
  make: (buffer: ArrayBuffer, byteOffset: number, length: number) => TensorData;
  /** The array type this dtype decodes to; encoding such an array picks this dtype unless told otherwise. */
  array: new (length: number) => TensorData;
}

const DTYPES: Record<DType, DTypeInfo> = {
  F64: { bytes: 8, array: Float64Array, make: (b, o, n) => new Float64Array(b, o, n) },
  F32: { bytes: 4, array: Float32Array, make: (b, o, n) => new Float32Array(b, o, n) },
  F16: { bytes: 2, array: Uint16Array, make: (b, o, n) => new Uint16Array(b, o, n) },
  BF16: { bytes: 2, array: Uint16Array, make: (b, o, n) => new Uint16Array(b, o, n) },
  I64: { bytes: 8, array: BigInt64Array, make: (b, o, n) => new BigInt64Array(b, o, n) },
  U64: { bytes: 8, array: BigUint64Array, make: (b, o, n) => new BigUint64Array(b, o, n) },
  I32: { bytes: 4, array: Int32Array, make: (b, o, n) => new Int32Array(b, o, n) },
  U32: { bytes: 4, array: Uint32Array, make: (b, o, n) => new Uint32Array(b, o, n) },
  I16: { bytes: 2, array: Int16Array, make: (b, o, n) => new Int16Array(b, o, n) },
  U16: { bytes: 2, array: Uint16Array, make: (b, o, n) => new Uint16Array(b, o, n) },
  I8: { bytes: 1, array: Int8Array, make: (b, o, n) => new Int8Array(b, o, n) },
  U8: { bytes: 1, array: Uint8Array, make: (b, o, n) => new Uint8Array(b, o, n) },
  BOOL: { bytes: 1, array: Uint8Array, make: (b, o, n) => new Uint8Array(b, o, n) },
};

/** Headers larger than this are refused before parsing: no real checkpoint comes near it. */
export const MAX_HEADER_BYTES = 100 * 1024 * 1024;
const METADATA_KEY = '__metadata__';
const HOST_IS_LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

function isDType(value: unknown): value is DType {
  return typeof value === 'string' && Object.prototype.hasOwnProperty.call(DTYPES, value);
}

function defaultDType(data: TensorData): DType {
  if (data instanceof Float64Array) return 'F64';
  if (data instanceof Float32Array) return 'F32';
  if (data instanceof BigInt64Array) return 'I64';
  if (data instanceof BigUint64Array) return 'U64';
  if (data instanceof Int32Array) return 'I32';
  if (data instanceof Uint32Array) return 'U32';
  if (data instanceof Int16Array) return 'I16';
  if (data instanceof Uint16Array) return 'U16';
  if (data instanceof Int8Array) return 'I8';
  if (data instanceof Uint8Array) return 'U8';
  throw new TypeError(`encodeSafetensors: unsupported data array ${Object.prototype.toString.call(data)}`);
}

function isShape(shape: unknown): shape is number[] {
  return Array.isArray(shape) && shape.every((d) => Number.isSafeInteger(d) && d >= 0);
}

/** Product of the dimensions, or undefined if it is not a safe integer. */
function elementCount(shape: number[]): number | undefined {
  let count = 1;
  for (const d of shape) {
    count *= d;
    if (!Number.isSafeInteger(count)) return undefined;
  }
  return count;
}

/** Little-endian bytes of a typed array (a copy only on a big-endian host). */
function littleEndianBytes(data: TensorData, elementBytes: number): Uint8Array {
  const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  return HOST_IS_LITTLE_ENDIAN || elementBytes === 1 ? bytes : swapBytes(bytes, elementBytes);
}

function swapBytes(bytes: Uint8Array, elementBytes: number): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.length);
  for (let i = 0; i < bytes.length; i += elementBytes) {
    for (let j = 0; j < elementBytes; j++) out[i + j] = bytes[i + elementBytes - 1 - j];
  }
  return out;
}

/**
 * Serializes tensors (sorted by name, so the same input always gives the same bytes) and optional
 * string metadata. The dtype follows the array type unless `dtype` says otherwise.
 */
export function encodeSafetensors(
  tensors: Record<string, TensorInput>,
  metadata?: Record<string, string>,
): Uint8Array {
  // A Map, turned into an object at the end, so that a tensor named "__proto__" stays a plain key.
  const header = new Map<string, unknown>();
  if (metadata !== undefined) {
    for (const [key, value] of Object.entries(metadata)) {
      if (typeof value !== 'string') {
        throw new TypeError(`encodeSafetensors: metadata "${key}" is a ${typeof value}, not a string`);
      }
    }
    header.set(METADATA_KEY, Object.fromEntries(Object.entries(metadata).sort(([a], [b]) => compareNames(a, b))));
  }
  const names = Object.keys(tensors).sort(compareNames);
  const parts: Uint8Array[] = [];
  let offset = 0;
  for (const name of names) {
    if (name === METADATA_KEY) {
      throw new TypeError(`encodeSafetensors: "${METADATA_KEY}" is reserved and cannot name a tensor`);
    }
    const { shape, data } = tensors[name];
    const dtype = tensors[name].dtype ?? defaultDType(data);
    const info = DTYPES[dtype];
    if (!info) throw new TypeError(`encodeSafetensors: tensor "${name}" has unknown dtype ${dtype}`);
    if (!(data instanceof info.array)) {
      throw new TypeError(
        `encodeSafetensors: tensor "${name}" is ${dtype}, which needs a ${info.array.name}, got ${data.constructor.name}`,
      );
    }
    if (!isShape(shape)) {
      throw new TypeError(
        `encodeSafetensors: tensor "${name}" has shape ${JSON.stringify(shape)}, not a list of non-negative integers`,
      );
    }
    if (elementCount(shape) !== data.length) {
      throw new RangeError(`encodeSafetensors: tensor "${name}" has shape [${shape}] but ${data.length} elements`);
    }
    const bytes = littleEndianBytes(data, info.bytes);
    header.set(name, { dtype, shape: [...shape], data_offsets: [offset, offset + bytes.length] });
    parts.push(bytes);
    offset += bytes.length;
  }
  // Pad with spaces so the data starts 8-byte aligned (the length prefix is 8 bytes too).
  const jsonBytes = new TextEncoder().encode(JSON.stringify(Object.fromEntries(header)));
  const headerLength = Math.ceil(jsonBytes.length / 8) * 8;
  const out = new Uint8Array(8 + headerLength + offset);
  new DataView(out.buffer).setBigUint64(0, BigInt(headerLength), true);
  out.set(jsonBytes, 8);
  out.fill(0x20, 8 + jsonBytes.length, 8 + headerLength);
  let at = 8 + headerLength;
  for (const part of parts) {
    out.set(part, at);
    at += part.length;
  }
  return out;
}

/** Code-unit order: the same on every runtime and locale. */
function compareNames(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * Parses and validates a safetensors file. `source` (usually the path) goes into error messages.
 * Tensor data aligned for its type is a view of `bytes` (no copy); otherwise it is copied.
 */
export function decodeSafetensors(
  bytes: Uint8Array,
  source = '<buffer>',
): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const fail = (problem: string): never => {
    throw new CheckpointFormatError(source, problem);
  };
  if (bytes.length < 8) fail(`file is ${bytes.length} bytes, shorter than the 8-byte header length`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) {
    fail(`header length ${headerLength} is absurd (limit ${MAX_HEADER_BYTES} bytes)`);
  }
  if (headerLength > BigInt(bytes.length - 8)) {
    fail(`header length ${headerLength} is larger than the ${bytes.length - 8} bytes after the length field`);
  }
  const dataStart = 8 + Number(headerLength);
  const dataLength = bytes.length - dataStart;

  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(8, dataStart));
  } catch {
    return fail('header is not valid UTF-8');
  }
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (err) {
    return fail(`header is not JSON (${(err as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header JSON is not an object');

  const metadata: Record<string, string> = {};
  const entries: { name: string; dtype: DType; shape: number[]; begin: number; end: number }[] = [];
  for (const [name, value] of Object.entries(header as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof value !== 'object' || value === null || Array.isArray(value)) {
        fail(`"${METADATA_KEY}" is not an object`);
      }
      for (const [key, v] of Object.entries(value as Record<string, unknown>)) {
        if (typeof v !== 'string') fail(`metadata "${key}" is ${JSON.stringify(v)}, not a string`);
        Object.defineProperty(metadata, key, { value: v, enumerable: true, writable: true, configurable: true });
      }
      continue;
    }
    const what = `tensor ${JSON.stringify(name)}`;
    if (typeof value !== 'object' || value === null || Array.isArray(value)) fail(`${what} is not an object`);
    const { dtype, shape, data_offsets: offsets } = value as Record<string, unknown>;
    if (!isDType(dtype)) {
      fail(`${what} has unknown dtype ${JSON.stringify(dtype)} (known: ${Object.keys(DTYPES).join(', ')})`);
    }
    if (!isShape(shape)) fail(`${what} has shape ${JSON.stringify(shape)}, not a list of non-negative integers`);
    if (!Array.isArray(offsets) || offsets.length !== 2) {
      fail(`${what} data_offsets ${JSON.stringify(offsets)} is not a [begin, end] pair`);
    }
    const [begin, end] = offsets as unknown[];
    if (
      !Number.isSafeInteger(begin) || !Number.isSafeInteger(end) || (begin as number) < 0 ||
      (end as number) < (begin as number)
    ) {
      fail(`${what} data_offsets ${JSON.stringify(offsets)} are not non-negative integers with begin <= end`);
    }
    if ((end as number) > dataLength) {
      fail(`${what} data_offsets end ${end} is past the ${dataLength}-byte data section`);
    }
    const count = elementCount(shape as number[]);
    const expectedBytes = count === undefined ? undefined : count * DTYPES[dtype as DType].bytes;
    if (expectedBytes !== (end as number) - (begin as number)) {
      fail(
        `${what} has shape [${shape}] of ${dtype} (${expectedBytes ?? 'too many'} bytes) but data_offsets span ${
          (end as number) - (begin as number)
        } bytes`,
      );
    }
    entries.push({
      name,
      dtype: dtype as DType,
      shape: [...(shape as number[])],
      begin: begin as number,
      end: end as number,
    });
  }

  // Tensors must tile the data section exactly: sorted by offset, each starts where the last ended.
  const sorted = [...entries].sort((a, b) => a.begin - b.begin || a.end - b.end);
  let expectedBegin = 0;
  for (const entry of sorted) {
    if (entry.begin < expectedBegin) {
      fail(`tensor ${JSON.stringify(entry.name)} at bytes [${entry.begin}, ${entry.end}) overlaps another tensor`);
    }
    if (entry.begin > expectedBegin) {
      fail(
        `bytes [${expectedBegin}, ${entry.begin}) of the data section belong to no tensor (a hole before ${
          JSON.stringify(entry.name)
        })`,
      );
    }
    expectedBegin = entry.end;
  }
  if (expectedBegin !== dataLength) {
    fail(`bytes [${expectedBegin}, ${dataLength}) at the end of the data section belong to no tensor`);
  }

  const tensors = new Map<string, Tensor>();
  for (const { name, dtype, shape, begin, end } of entries) {
    tensors.set(name, { dtype, shape, data: tensorData(bytes, dtype, dataStart + begin, end - begin) });
  }
  return { tensors, metadata };
}

function tensorData(bytes: Uint8Array, dtype: DType, start: number, byteLength: number): TensorData {
  const info = DTYPES[dtype];
  const absolute = bytes.byteOffset + start;
  if (HOST_IS_LITTLE_ENDIAN && absolute % info.bytes === 0) {
    return info.make(bytes.buffer as ArrayBuffer, absolute, byteLength / info.bytes);
  }
  // A fresh buffer: a Node Buffer's slice() is a view into the whole file, whose offset 0 is not the tensor's.
  let copy = new Uint8Array(byteLength);
  copy.set(bytes.subarray(start, start + byteLength));
  if (!HOST_IS_LITTLE_ENDIAN && info.bytes > 1) copy = swapBytes(copy, info.bytes);
  return info.make(copy.buffer, 0, byteLength / info.bytes);
}
