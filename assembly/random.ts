// Counter-based hashing for dropout masks: the keep/drop decision for element i
// depends only on (key, i), where the caller derives key from (seed, step, site).
// No state, so any split of a range across threads draws the same mask.

// @ts-ignore: decorator
@inline function mix32(h: u32): u32 {
  h ^= h >>> 16;
  h *= 0x85EBCA6B;
  h ^= h >>> 13;
  h *= 0xC2B2AE35;
  h ^= h >>> 16;
  return h;
}

// true when element i is kept; threshold = round(p * 2^32) for drop probability p
// @ts-ignore: decorator
@inline export function keepElement(key: u32, i: u32, threshold: u32): bool {
  return mix32(mix32(i ^ key) + key) >= threshold;
}
