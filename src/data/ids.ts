// Token id arrays: uint16 when every id fits, uint32 otherwise, and a growable buffer to build them.

/** A token stream. Ids fit in 16 bits for GPT-2 (50,257 ids) and for most char vocabularies. */
export type TokenArray = Uint16Array | Uint32Array;

/** Anything ids can be appended to: a plain array or an IdBuffer. */
export interface IdSink {
  push(id: number): unknown;
}

/** Append-only id buffer backed by a typed array that doubles when full. */
export class IdBuffer implements IdSink {
  private data: TokenArray;
  private count = 0;

  /** `wide`: uint32 storage (needed for ids >= 65536), else uint16. */
  constructor(readonly wide: boolean, initialCapacity = 1024) {
    const capacity = Math.max(16, initialCapacity);
    this.data = wide ? new Uint32Array(capacity) : new Uint16Array(capacity);
  }

  get length(): number {
    return this.count;
  }

  push(id: number): void {
    if (this.count === this.data.length) this.grow(this.count + 1);
    this.data[this.count++] = id;
  }

  pushAll(ids: ArrayLike<number>): void {
    if (this.count + ids.length > this.data.length) this.grow(this.count + ids.length);
    for (let i = 0; i < ids.length; i++) this.data[this.count++] = ids[i]!;
  }

  /** The ids pushed so far, as a view (no copy); valid until the next push. */
  view(): TokenArray {
    return this.data.subarray(0, this.count);
  }

  /** The ids in an array of exactly the right length (copies unless the buffer is exactly full). */
  toArray(): TokenArray {
    return this.count === this.data.length ? this.data : this.data.slice(0, this.count);
  }

  private grow(needed: number): void {
    let capacity = this.data.length * 2;
    while (capacity < needed) capacity *= 2;
    const next = this.wide ? new Uint32Array(capacity) : new Uint16Array(capacity);
    next.set(this.data.subarray(0, this.count));
    this.data = next;
  }
}

/** Largest id in the array (0 for an empty array). */
export function maxId(ids: TokenArray): number {
  let max = 0;
  for (let i = 0; i < ids.length; i++) if (ids[i]! > max) max = ids[i]!;
  return max;
}
