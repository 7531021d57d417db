// Dropout masks (assembly/random.ts): a kernel keeps element i when a hash of (key, i)
// clears the threshold, so a mask is just its key, derived here from (seed, step, site).
// No state, so any split of a range across threads draws the same mask.

// A dropout site's mask for one forward pass: threshold = 0 means no dropout.
export interface DropoutMask {
  key: number;
  threshold: number;
  scale: number;
}

export const NO_DROPOUT: DropoutMask = { key: 0, threshold: 0, scale: 1 };

function mix32(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

// The mask of one dropout site in one forward pass. Different (seed, step, site) give
// unrelated masks.
export function dropoutMask(p: number, seed: number, step: number, site: number): DropoutMask {
  if (p <= 0) return NO_DROPOUT;
  const key = mix32(mix32(mix32(seed >>> 0) ^ step) + Math.imul(site + 1, 0x9e3779b9));
  const threshold = Math.min(Math.round(p * 2 ** 32), 2 ** 32 - 1);
  return { key, threshold, scale: 1 / (1 - p) };
}
