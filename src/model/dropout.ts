// Dropout sites by name. A layer declares its sites (LayerSpec.dropout); a forward pass
// draws one mask per site, keyed by (seed, pass, the site's position in the model's
// list of sites), so masks are the same wherever they are computed: the model and the
// tests both call dropoutMasks.
import { dropoutMask, NO_DROPOUT, type DropoutMask } from '../ops/random.ts';

export type PassMasks = ReadonlyMap<string, DropoutMask>;

// The masks of forward pass `pass` (counted from init) with drop probability p.
export function dropoutMasks(sites: readonly string[], p: number, seed: number, pass: number): PassMasks {
  return new Map(sites.map((site, i) => [site, dropoutMask(p, seed, pass, i)]));
}

export function noDropout(sites: readonly string[]): PassMasks {
  return new Map(sites.map((site) => [site, NO_DROPOUT]));
}

export function maskOf(masks: PassMasks, site: string): DropoutMask {
  const m = masks.get(site);
  if (!m) throw new Error(`no dropout mask for site ${site}`);
  return m;
}
