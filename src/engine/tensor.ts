// Element types and tensors. A tensor is a place in the shared memory: byte offset,
// shape, element type. This is the one module that turns element counts into bytes;
// everything else speaks in elements and shapes.

// f16 and bf16 are storage only for now: their views hold the raw 16-bit patterns.
// f64 holds the partial sums of deterministic reductions.
const DTYPES = {
  f32: { bytes: 4, view: Float32Array },
  f16: { bytes: 2, view: Uint16Array },
  bf16: { bytes: 2, view: Uint16Array },
  i32: { bytes: 4, view: Int32Array },
  f64: { bytes: 8, view: Float64Array },
} as const;

export type DType = keyof typeof DTYPES;
export type ViewOf<D extends DType> = InstanceType<(typeof DTYPES)[D]['view']>;

export interface Tensor<D extends DType = DType> {
  readonly offset: number; // bytes from the start of the shared memory
  readonly shape: readonly number[];
  readonly dtype: D;
  readonly size: number; // elements
}

export function elementCount(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

export function bytesOf(dtype: DType, elements: number): number {
  return elements * DTYPES[dtype].bytes;
}

// Elements of dtype that hold `bytes` (rounded up).
export function elementsFor(dtype: DType, bytes: number): number {
  return Math.ceil(bytes / DTYPES[dtype].bytes);
}

export function tensorAt<D extends DType>(offset: number, shape: readonly number[], dtype: D): Tensor<D> {
  return { offset, shape: [...shape], dtype, size: elementCount(shape) };
}

// The tensor of `shape` that starts `start` elements into t (parameters in the flat buffer).
export function slice<D extends DType>(t: Tensor<D>, start: number, shape: readonly number[]): Tensor<D> {
  const size = elementCount(shape);
  if (!(start >= 0 && start + size <= t.size)) {
    throw new RangeError(`slice [${start}, ${start + size}) is outside a tensor of ${t.size} elements`);
  }
  return { offset: t.offset + bytesOf(t.dtype, start), shape: [...shape], dtype: t.dtype, size };
}

// The first elements of t seen with another shape: a buffer planned for the largest
// batch, used for a smaller one.
export function prefix<D extends DType>(t: Tensor<D>, shape: readonly number[]): Tensor<D> {
  return slice(t, 0, shape);
}

// The first `rows` rows of t: [rows, ...t.shape[1:]].
export function rows<D extends DType>(t: Tensor<D>, n: number): Tensor<D> {
  return slice(t, 0, [n, ...t.shape.slice(1)]);
}

// Row i of a 2-D tensor, as a 1-D tensor.
// rows [start, start + n) of a tensor
export function rowRange<D extends DType>(t: Tensor<D>, start: number, n: number): Tensor<D> {
  const width = elementCount(t.shape.slice(1));
  return slice(t, start * width, [n, ...t.shape.slice(1)]);
}

export function row<D extends DType>(t: Tensor<D>, i: number): Tensor<D> {
  const width = t.shape[t.shape.length - 1];
  return slice(t, i * width, [width]);
}

// A typed-array view of t. Shared memory never shrinks and a view of it made before a
// grow stays valid, so views can be kept.
export function viewOf<D extends DType>(memory: WebAssembly.Memory, t: Tensor<D>): ViewOf<D> {
  const View = DTYPES[t.dtype].view as unknown as new (buffer: ArrayBufferLike, byteOffset: number, length: number) => ViewOf<D>;
  return new View(memory.buffer, t.offset, t.size);
}

export function describeTensor(t: Tensor): string {
  return `${t.dtype}[${t.shape.join(', ')}]`;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

// Throws unless t has this dtype and shape; `where` names the operand ("matmul: weight").
export function expectTensor(where: string, t: Tensor, dtype: DType, shape: readonly number[]): void {
  if (t.dtype !== dtype || !sameShape(t.shape, shape)) {
    throw new TypeError(`${where} is ${describeTensor(t)}, expected ${dtype}[${shape.join(', ')}]`);
  }
}
