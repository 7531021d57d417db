// Small seeded PRNG shared by batching, weight init and sampling, so runs are reproducible.
// Generator: a Weyl sequence (state += golden-ratio constant) passed through the murmur3
// 32-bit finaliser. Period 2^32, good statistical quality, and cheap in plain JS integer math.

const TWO_POW_32 = 0x1_0000_0000;

// Everything an Rng will draw next depends on: save it to continue a sequence exactly.
export interface RngState {
  state: number;
  spareNormal: number | null;
}

export class Rng {
  private state: number;
  /** Second Box-Muller value, kept for the next normal() call. */
  private spareNormal: number | null = null;

  /** `seed` is any integer; only its low 32 bits matter. */
  constructor(seed: number) {
    if (!Number.isInteger(seed)) throw new RangeError(`Rng seed must be an integer, got ${seed}`);
    this.state = seed >>> 0;
  }

  getState(): RngState {
    return { state: this.state, spareNormal: this.spareNormal };
  }

  setState(s: RngState): void {
    this.state = s.state >>> 0;
    this.spareNormal = s.spareNormal;
  }

  /** Uniform integer in [0, 2^32). */
  nextU32(): number {
    this.state = (this.state + 0x9e3779b9) >>> 0;
    let z = this.state;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  }

  /** Uniform float in [0, 1), with 32 bits of randomness. */
  nextFloat(): number {
    return this.nextU32() / TWO_POW_32;
  }

  /** Uniform integer in [0, n) for 1 <= n <= 2^32, without modulo bias (rejection sampling). */
  int(n: number): number {
    if (!Number.isInteger(n) || n < 1 || n > TWO_POW_32) throw new RangeError(`Rng.int needs an integer n in [1, 2^32], got ${n}`);
    // Largest multiple of n that fits in 32 bits; draws at or above it would favour small results.
    const limit = TWO_POW_32 - (TWO_POW_32 % n);
    let u = this.nextU32();
    while (u >= limit) u = this.nextU32();
    return u % n;
  }

  /** Standard normal draw (mean 0, std 1) by the Box-Muller transform. */
  normal(): number {
    if (this.spareNormal !== null) {
      const spare = this.spareNormal;
      this.spareNormal = null;
      return spare;
    }
    const u1 = 1 - this.nextFloat(); // in (0, 1], so log(u1) is finite
    const u2 = this.nextFloat();
    const radius = Math.sqrt(-2 * Math.log(u1));
    const angle = 2 * Math.PI * u2;
    this.spareNormal = radius * Math.sin(angle);
    return radius * Math.cos(angle);
  }
}
