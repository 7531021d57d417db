// The shared wasm memory's allocator. TypeScript owns the memory plan: kernel
// instances have no allocator of their own (their globals are per instance).
// Everything a model needs is laid out by one MemoryPlan and committed at once, so the
// printed plan and the allocation cannot disagree.
import { WASM_PAGE_BYTES, MAX_PAGES } from './wasm.ts';
import { bytesOf, elementCount, tensorAt, type DType, type Tensor } from './tensor.ts';

export const ARENA_ALIGN = 64; // a cache line; also keeps v128 loads aligned
export const WASM32_LIMIT = MAX_PAGES * WASM_PAGE_BYTES;

export type MemoryCategory = 'parameters' | 'gradients' | 'optimizer' | 'activations' | 'scratch';
const CATEGORIES: MemoryCategory[] = ['parameters', 'gradients', 'optimizer', 'activations', 'scratch'];

function alignUp(n: number, align: number): number {
  return Math.ceil(n / align) * align;
}

// Tensors laid out one after another from `base`, each cache-line aligned, with bytes
// counted per category. Laying out touches no memory; Arena.commit allocates.
export class MemoryPlan {
  private top: number;
  readonly bytes: Record<MemoryCategory, number> = { parameters: 0, gradients: 0, optimizer: 0, activations: 0, scratch: 0 };
  // the activations by what they are for (a label given when laid out), in first-use order
  readonly activationParts = new Map<string, number>();
  // bytes of each category stored in 16-bit floats (the rest is fp32, or integer ids
  // and float64 partial sums)
  readonly halfBytes: Record<MemoryCategory, { bf16: number; f16: number }> = Object.fromEntries(
    CATEGORIES.map((c) => [c, { bf16: 0, f16: 0 }])) as Record<MemoryCategory, { bf16: number; f16: number }>;

  constructor(readonly base: number) {
    this.top = base;
  }

  tensor<D extends DType>(category: MemoryCategory, shape: readonly number[], dtype: D, label?: string): Tensor<D> {
    const offset = this.top;
    this.top = alignUp(offset + bytesOf(dtype, elementCount(shape)), ARENA_ALIGN);
    this.count(category, this.top - offset, label, dtype);
    return tensorAt(offset, shape, dtype);
  }

  // Groups of tensors never live at the same time (each layer's backward scratch): each
  // group is laid out from the same start, and the largest is reserved.
  overlay<D extends DType>(category: MemoryCategory, groups: Record<string, readonly number[]>[], dtype: D, label?: string): Record<string, Tensor<D>>[] {
    const start = this.top;
    let end = start;
    const laid = groups.map((g) => {
      this.top = start;
      const tensors: Record<string, Tensor<D>> = {};
      for (const [name, shape] of Object.entries(g)) {
        const offset = this.top;
        this.top = alignUp(offset + bytesOf(dtype, elementCount(shape)), ARENA_ALIGN);
        tensors[name] = tensorAt(offset, shape, dtype);
      }
      end = Math.max(end, this.top);
      return tensors;
    });
    this.top = end;
    this.count(category, end - start, label, dtype);
    return laid;
  }

  private count(category: MemoryCategory, bytes: number, label: string | undefined, dtype: DType): void {
    this.bytes[category] += bytes;
    if (dtype === 'bf16' || dtype === 'f16') this.halfBytes[category][dtype] += bytes;
    if (label !== undefined && category === 'activations') this.activationParts.set(label, (this.activationParts.get(label) ?? 0) + bytes);
  }

  get end(): number {
    return this.top;
  }

  get total(): number {
    return this.top - this.base;
  }

  // One line by category, with the part in 16-bit floats named (fp32 otherwise); a second
  // with the activations by label when they have some.
  describe(): string {
    const parts = CATEGORIES.map((c) => {
      const half = this.halfBytes[c];
      const rest = this.bytes[c] - half.bf16 - half.f16;
      const named = (['bf16', 'f16'] as const).filter((d) => half[d] > 0).map((d) => ` + ${formatBytes(half[d])} ${d === 'f16' ? 'fp16' : d}`).join('');
      return `${c} ${formatBytes(rest)}${named}`;
    }).join(', ');
    const line = `memory plan (fp32 unless named): ${parts} = ${formatBytes(this.total)} of the 4 GiB wasm32 limit`;
    if (this.activationParts.size === 0) return line;
    const labelled = [...this.activationParts.values()].reduce((a, b) => a + b, 0);
    const other = this.bytes.activations - labelled;
    const items = [...this.activationParts].map(([label, bytes]) => `${label} ${formatBytes(bytes)}`);
    if (other > 0) items.push(`other ${formatBytes(other)}`);
    return `${line}\n  activations: ${items.join(', ')}`;
  }
}

export class Arena {
  private top: number;
  private peakTop: number;
  readonly base: number;

  constructor(private readonly memory: WebAssembly.Memory, base: number) {
    this.base = alignUp(base, ARENA_ALIGN);
    this.top = this.base;
    this.peakTop = this.base;
  }

  // A plan that starts where the arena's free memory does.
  plan(): MemoryPlan {
    return new MemoryPlan(this.top);
  }

  // Allocates everything the plan laid out (it must start at the current top).
  commit(plan: MemoryPlan): void {
    if (plan.base !== this.top) throw new Error(`memory plan starts at ${plan.base}, but the arena's free memory starts at ${this.top}`);
    this.reserve(plan.end);
  }

  // Returns the byte offset of `bytes` fresh bytes (contents are whatever was there).
  // For tests and benchmarks; models allocate through a MemoryPlan.
  alloc(bytes: number, align = ARENA_ALIGN): number {
    const offset = alignUp(this.top, align);
    this.reserve(offset + bytes);
    return offset;
  }

  mark(): number {
    return this.top;
  }

  release(mark: number): void {
    this.top = mark;
  }

  // Highest byte the arena has handed out, relative to its base.
  get peakBytes(): number {
    return this.peakTop - this.base;
  }

  get usedBytes(): number {
    return this.top - this.base;
  }

  private reserve(end: number): void {
    if (end > WASM32_LIMIT) {
      throw new RangeError(`wasm memory plan needs ${formatBytes(end)}, over the 4 GiB wasm32 limit: use a smaller --batch-size, --block-size or model`);
    }
    this.top = end;
    if (end > this.peakTop) this.peakTop = end;
    const have = this.memory.buffer.byteLength;
    if (end > have) this.memory.grow(Math.ceil((end - have) / WASM_PAGE_BYTES));
  }
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
