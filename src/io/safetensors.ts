// The safetensors format: [u64 little-endian N][N bytes of JSON header][data]. The header
// maps each tensor's name to { dtype, shape, data_offsets: [begin, end) } relative to the
// data, plus an optional "__metadata__" string map. Tensors are row-major, little-endian,
// contiguous, and together cover the data exactly; we pad the header with spaces to a
// multiple of 8 so every tensor can be viewed in place.

export type SafeDType = 'F32' | 'F16' | 'BF16' | 'I32';

const BYTES: Record<SafeDType, number> = { F32: 4, F16: 2, BF16: 2, I32: 4 };
const MAX_HEADER_BYTES = 100_000_000;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: Uint8Array; // the tensor's bytes, little-endian
}

export class SafetensorsError extends Error {
  override name = 'SafetensorsError';
}

function count(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}

// The bytes of a safetensors file holding `tensors` in the given order.
export function encodeSafetensors(tensors: ReadonlyMap<string, SafeTensor>, metadata: Record<string, string> = {}): Buffer {
  const header: Record<string, unknown> = {};
  if (Object.keys(metadata).length) header.__metadata__ = metadata;
  let offset = 0;
  for (const [name, t] of tensors) {
    const bytes = count(t.shape) * BYTES[t.dtype];
    if (t.data.byteLength !== bytes) throw new SafetensorsError(`${name}: ${t.data.byteLength} bytes for ${t.dtype}[${t.shape.join(', ')}] (expected ${bytes})`);
    header[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - ((8 + Buffer.byteLength(json)) % 8)) % 8);
  const headerBytes = Buffer.from(json, 'utf8');
  const out = Buffer.alloc(8 + headerBytes.length + offset);
  out.writeBigUInt64LE(BigInt(headerBytes.length), 0);
  headerBytes.copy(out, 8);
  let at = 8 + headerBytes.length;
  for (const t of tensors.values()) {
    out.set(t.data, at);
    at += t.data.byteLength;
  }
  return out;
}

// The tensors of a safetensors file (views into `bytes`), checked: a well-formed header,
// known dtypes, sizes that match the shapes, tensors that cover the data exactly.
export function decodeSafetensors(bytes: Uint8Array, where = 'safetensors file'): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  if (bytes.byteLength < 8) throw new SafetensorsError(`${where}: ${bytes.byteLength} bytes, too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  if (headerLength > MAX_HEADER_BYTES || 8 + headerLength > bytes.byteLength) throw new SafetensorsError(`${where}: header length ${headerLength} does not fit the file (${bytes.byteLength} bytes)`);
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(Buffer.from(bytes.buffer, bytes.byteOffset + 8, headerLength).toString('utf8'));
  } catch (e) {
    throw new SafetensorsError(`${where}: header is not JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLength;
  const dataBytes = bytes.byteLength - dataStart;
  const { __metadata__: metadata = {}, ...entries } = header as { __metadata__?: Record<string, string> };
  const tensors = new Map<string, SafeTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(entries)) {
    const e = raw as { dtype?: string; shape?: number[]; data_offsets?: [number, number] };
    if (!e || !(e.dtype! in BYTES)) throw new SafetensorsError(`${where}: ${name} has dtype ${e?.dtype} (expected one of ${Object.keys(BYTES).join(', ')})`);
    if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isInteger(d) && d >= 0)) throw new SafetensorsError(`${where}: ${name} has a bad shape`);
    const [begin, end] = e.data_offsets ?? [NaN, NaN];
    const dtype = e.dtype as SafeDType;
    if (!(Number.isInteger(begin) && Number.isInteger(end) && begin >= 0 && end <= dataBytes && end - begin === count(e.shape) * BYTES[dtype])) {
      throw new SafetensorsError(`${where}: ${name} has data_offsets [${begin}, ${end}] that do not fit ${dtype}[${e.shape.join(', ')}] in ${dataBytes} bytes of data`);
    }
    spans.push([begin, end, name]);
    tensors.set(name, { dtype, shape: e.shape, data: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  spans.sort((a, b) => a[0] - b[0]);
  let covered = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== covered) throw new SafetensorsError(`${where}: ${name} starts at ${begin}, expected ${covered} (tensors must be contiguous and not overlap)`);
    covered = end;
  }
  if (covered !== dataBytes) throw new SafetensorsError(`${where}: tensors cover ${covered} of ${dataBytes} data bytes`);
  return { tensors, metadata };
}

// An F32 tensor's values (copied: the file's bytes need not be 4-byte aligned).
export function f32Values(t: SafeTensor): Float32Array {
  if (t.dtype !== 'F32') throw new SafetensorsError(`expected F32, got ${t.dtype}`);
  return new Float32Array(new Uint8Array(t.data).buffer);
}

export function f32Tensor(shape: readonly number[], values: Float32Array): SafeTensor {
  return { dtype: 'F32', shape: [...shape], data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}
