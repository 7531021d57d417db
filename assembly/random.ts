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

// @ts-ignore: decorator
@inline function mix32x4(h: v128): v128 {
  h = v128.xor(h, i32x4.shr_u(h, 16));
  h = i32x4.mul(h, i32x4.splat(0x85EBCA6B));
  h = v128.xor(h, i32x4.shr_u(h, 13));
  h = i32x4.mul(h, i32x4.splat(0xC2B2AE35));
  h = v128.xor(h, i32x4.shr_u(h, 16));
  return h;
}

// keepElement for elements i, i+1, i+2, i+3: all-ones lanes where kept (same decisions)
// @ts-ignore: decorator
@inline export function keepMask4(key: u32, i: u32, threshold: u32): v128 {
  const k = i32x4.splat(key);
  const idx = i32x4.add(i32x4.splat(i), i32x4(0, 1, 2, 3));
  return i32x4.ge_u(mix32x4(i32x4.add(mix32x4(v128.xor(idx, k)), k)), i32x4.splat(threshold));
}
