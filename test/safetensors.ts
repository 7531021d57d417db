// A minimal safetensors reader for test fixtures (F32 and I32 only):
// [u64 LE header length N][N bytes of JSON header][data]; each header entry gives a
// dtype, a shape and [begin, end) byte offsets relative to the start of the data.
import { readFileSync } from 'node:fs';

export interface SafeTensor {
  dtype: 'F32' | 'I32';
  shape: number[];
  data: Float32Array | Int32Array;
}

export interface SafeTensors {
  tensors: Map<string, SafeTensor>;
  metadata: Record<string, string>;
}

export function readSafetensors(path: string | URL): SafeTensors {
  const bytes = readFileSync(path);
  // typed arrays below assume the host's (little-endian) byte order
  if (new Uint8Array(new Uint16Array([1]).buffer)[0] !== 1) throw new Error('big-endian host');
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = Number(view.getBigUint64(0, true));
  const dataStart = 8 + headerLength;
  if (dataStart > bytes.byteLength) throw new Error(`${path}: header length ${headerLength} past the end of the file`);
  const header = JSON.parse(bytes.subarray(8, dataStart).toString('utf8')) as Record<string, unknown>;
  const { __metadata__: metadata = {}, ...entries } = header as { __metadata__?: Record<string, string> };
  const tensors = new Map<string, SafeTensor>();
  for (const [name, raw] of Object.entries(entries)) {
    const { dtype, shape, data_offsets: [begin, end] } = raw as { dtype: string; shape: number[]; data_offsets: [number, number] };
    if (dtype !== 'F32' && dtype !== 'I32') throw new Error(`${name}: unsupported dtype ${dtype}`);
    const count = shape.reduce((a, b) => a * b, 1);
    if (end - begin !== count * 4 || dataStart + end > bytes.byteLength) throw new Error(`${name}: bad data_offsets [${begin}, ${end}] for shape [${shape}]`);
    // copy out: the file's buffer need not be 4-byte aligned at the tensor
    const copy = new Uint8Array(bytes.subarray(dataStart + begin, dataStart + end)).buffer;
    tensors.set(name, { dtype, shape, data: dtype === 'F32' ? new Float32Array(copy) : new Int32Array(copy) });
  }
  return { tensors, metadata };
}
