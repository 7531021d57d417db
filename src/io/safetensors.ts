// The safetensors format: [u64 little-endian N][N bytes of JSON header][data]. The header
// maps each tensor's name to { dtype, shape, data_offsets: [begin, end) } relative to the
// data, plus an optional "__metadata__" string map. Tensors are row-major, little-endian,
// contiguous, and together cover the data exactly; we pad the header with spaces to a
// multiple of 8 so every tensor can be viewed in place.
//
// The reader trusts nothing in a file: every field is checked before it is used, no
// allocation is sized by the header (tensors are views into the file's bytes), and every
// problem is a SafetensorsError naming it.
import { WasmgptError, type ErrorCode } from '../errors.ts';

// The dtypes safetensors defines that we can size; which of them a caller accepts is its own business.
const BYTES = { F64: 8, F32: 4, F16: 2, BF16: 2, I64: 8, I32: 4, I16: 2, I8: 1, U8: 1, BOOL: 1 } as const;
export type SafeDType = keyof typeof BYTES;
const MAX_HEADER_BYTES = 100_000_000;

export interface SafeTensor {
  dtype: SafeDType;
  shape: number[];
  data: Uint8Array; // the tensor's bytes, little-endian
}

export class SafetensorsError extends WasmgptError {
  override name = 'SafetensorsError';

  constructor(message: string, code: ErrorCode = 'E_FORMAT') {
    super(message, code);
  }
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

// The tensors of a safetensors file (views into `bytes`), checked: a header that fits the
// file and is one JSON object without repeated names, known dtypes, shapes of non-negative
// integers whose size matches the byte range, ranges in bounds that are contiguous, do not
// overlap and cover the data exactly.
export function decodeSafetensors(bytes: Uint8Array, where = 'safetensors file'): { tensors: Map<string, SafeTensor>; metadata: Record<string, string> } {
  const fail = (why: string): never => {
    throw new SafetensorsError(`${where}: ${why}`);
  };
  if (bytes.byteLength < 8) fail(`${bytes.byteLength} bytes, too short for a header`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getBigUint64(0, true);
  if (headerLength > BigInt(MAX_HEADER_BYTES)) fail(`header length ${headerLength} is over the format's limit of ${MAX_HEADER_BYTES} bytes`);
  if (8n + headerLength > BigInt(bytes.byteLength)) fail(`header length ${headerLength} does not fit the file (${bytes.byteLength} bytes)`);
  const headerText = Buffer.from(bytes.buffer, bytes.byteOffset + 8, Number(headerLength)).toString('utf8');
  let header: unknown;
  try {
    header = JSON.parse(headerText);
  } catch (e) {
    fail(`header is not JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) fail('header is not a JSON object');
  const repeated = repeatedTopLevelKey(headerText);
  if (repeated !== null) fail(`tensor name ${JSON.stringify(repeated)} appears twice in the header`);
  const dataStart = 8 + Number(headerLength);
  const dataBytes = bytes.byteLength - dataStart;
  const { __metadata__: metadata = {}, ...entries } = header as Record<string, unknown>;
  if (typeof metadata !== 'object' || metadata === null || Array.isArray(metadata) || !Object.values(metadata).every((v) => typeof v === 'string')) {
    fail('__metadata__ is not a map of strings');
  }
  const tensors = new Map<string, SafeTensor>();
  const spans: [number, number, string][] = [];
  for (const [name, raw] of Object.entries(entries)) {
    if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) fail(`${name} is not a tensor entry`);
    const e = raw as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
    if (typeof e.dtype !== 'string' || !Object.hasOwn(BYTES, e.dtype)) fail(`${name} has dtype ${JSON.stringify(e.dtype)} (known: ${Object.keys(BYTES).join(', ')})`);
    const dtype = e.dtype as SafeDType;
    const shape = e.shape;
    if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) fail(`${name} has shape ${JSON.stringify(shape)} (expected a list of non-negative integers)`);
    const elements = (shape as number[]).reduce((a, d) => a * d, 1);
    const offsets = e.data_offsets;
    if (!Array.isArray(offsets) || offsets.length !== 2 || !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)) {
      fail(`${name} has data_offsets ${JSON.stringify(offsets)} (expected [begin, end], non-negative integers)`);
    }
    const [begin, end] = offsets as [number, number];
    if (begin > end || end > dataBytes) fail(`${name} has data_offsets [${begin}, ${end}] outside the ${dataBytes} bytes of data`);
    if (!Number.isSafeInteger(elements * BYTES[dtype]) || end - begin !== elements * BYTES[dtype]) {
      fail(`${name} has data_offsets [${begin}, ${end}] (${end - begin} bytes) for ${dtype}[${(shape as number[]).join(', ')}] (${elements * BYTES[dtype]} bytes)`);
    }
    spans.push([begin, end, name]);
    tensors.set(name, { dtype, shape: [...(shape as number[])], data: bytes.subarray(dataStart + begin, dataStart + end) });
  }
  spans.sort((a, b) => a[0] - b[0] || a[1] - b[1]);
  let covered = 0;
  for (const [begin, end, name] of spans) {
    if (begin !== covered) fail(`${name} starts at ${begin}, expected ${covered} (tensors must be contiguous and not overlap)`);
    covered = end;
  }
  if (covered !== dataBytes) fail(`tensors cover ${covered} of ${dataBytes} data bytes`);
  return { tensors, metadata: metadata as Record<string, string> };
}

// The first name that appears twice among the top-level keys of valid JSON text
// (JSON.parse keeps the last one silently), or null.
function repeatedTopLevelKey(json: string): string | null {
  const seen = new Set<string>();
  let depth = 0;
  let expectKey = false;
  for (let i = 0; i < json.length; i++) {
    const c = json[i];
    if (c === '"') {
      let j = i + 1;
      while (json[j] !== '"') j += json[j] === '\\' ? 2 : 1;
      if (depth === 1 && expectKey) {
        const key = JSON.parse(json.slice(i, j + 1)) as string;
        if (seen.has(key)) return key;
        seen.add(key);
        expectKey = false;
      }
      i = j;
    } else if (c === '{' || c === '[') {
      depth++;
      expectKey = depth === 1 && c === '{';
    } else if (c === '}' || c === ']') {
      depth--;
    } else if (c === ',' && depth === 1) {
      expectKey = true;
    }
  }
  return null;
}

// An F32 tensor's values (copied: the file's bytes need not be 4-byte aligned).
export function f32Values(t: SafeTensor): Float32Array {
  if (t.dtype !== 'F32') throw new SafetensorsError(`expected F32, got ${t.dtype}`);
  return new Float32Array(new Uint8Array(t.data).buffer);
}

export function f32Tensor(shape: readonly number[], values: Float32Array): SafeTensor {
  return { dtype: 'F32', shape: [...shape], data: new Uint8Array(values.buffer, values.byteOffset, values.byteLength) };
}
