// A bump allocator over the shared wasm memory. TypeScript owns the memory plan:
// kernel instances have no allocator of their own (their globals are per instance).
import { WASM_PAGE_BYTES, MAX_PAGES } from './wasm.ts';

export const ARENA_ALIGN = 64; // a cache line; also keeps v128 loads aligned

export class Arena {
  private top: number;
  private peakTop: number;
  readonly base: number;

  constructor(private readonly memory: WebAssembly.Memory, base: number) {
    this.base = Math.ceil(base / ARENA_ALIGN) * ARENA_ALIGN;
    this.top = this.base;
    this.peakTop = this.base;
  }

  // Returns the byte offset of `bytes` fresh bytes (contents are whatever was there).
  alloc(bytes: number, align = ARENA_ALIGN): number {
    const offset = Math.ceil(this.top / align) * align;
    const end = offset + bytes;
    if (end > MAX_PAGES * WASM_PAGE_BYTES) {
      throw new RangeError(`wasm memory plan needs ${formatBytes(end)}, over the 4 GiB wasm32 limit: use a smaller --batch-size, --block-size or model`);
    }
    this.top = end;
    if (end > this.peakTop) this.peakTop = end;
    this.ensureCapacity(end);
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

  private ensureCapacity(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / WASM_PAGE_BYTES);
    this.memory.grow(pages);
  }
}

export function formatBytes(n: number): string {
  if (n >= 1 << 30) return `${(n / (1 << 30)).toFixed(2)} GiB`;
  if (n >= 1 << 20) return `${(n / (1 << 20)).toFixed(1)} MiB`;
  if (n >= 1 << 10) return `${(n / (1 << 10)).toFixed(1)} KiB`;
  return `${n} B`;
}
