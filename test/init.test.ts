// Weight-init schemes: each 2-D weight's empirical standard deviation against its formula,
// biases 0, LayerNorm gains 1, and the default is GPT-2's init as before.
import { describe, it, expect } from 'vitest';
import { Engine } from '../src/engine/engine.ts';
import { GPT } from '../src/model/gpt.ts';
import { INIT_SCHEMES, initStd, type InitOptions } from '../src/model/init.ts';
import { paramsHash } from '../src/train/trainer.ts';

const config = { vocabSize: 300, blockSize: 64, nLayer: 3, nHead: 4, nEmbd: 256, dropout: 0, bias: true };

function stats(v: Float32Array): { mean: number; std: number } {
  let s = 0, s2 = 0;
  for (const x of v) { s += x; s2 += x * x; }
  const mean = s / v.length;
  return { mean, std: Math.sqrt(s2 / v.length - mean * mean) };
}

describe('weight init', () => {
  const engine = new Engine({ kernels: 'simd' });
  const model = new GPT(engine, config, 1, { optimizer: false });

  it.each(INIT_SCHEMES)('%s: every weight matrix has the std of its formula (within 2%), biases 0, gains 1', (scheme) => {
    const options: InitOptions = { scheme, std: 0.05 };
    model.init(11, options);
    const seen = new Set<number>();
    for (const s of model.layout.specs) {
      const v = model.param(s.name);
      if (s.init === 'zeros') expect(v.every((x) => x === 0), s.name).toBe(true);
      else if (s.init === 'ones') expect(v.every((x) => x === 1), s.name).toBe(true);
      else {
        const want = initStd(s, config.nLayer, options);
        const got = stats(v);
        expect(Math.abs(got.std / want - 1), `${s.name}: std ${got.std} vs ${want}`).toBeLessThan(0.02);
        expect(Math.abs(got.mean), `${s.name}: mean`).toBeLessThan(4 * want / Math.sqrt(v.length));
        seen.add(Math.round(want * 1e6));
      }
    }
    // the formulas themselves, on this model
    const c = config.nEmbd;
    const fc = model.layout.byName.get('h.0.mlp.c_fc.weight')!; // [4C, C]
    const proj = model.layout.byName.get('h.0.mlp.c_proj.weight')!; // [C, 4C]
    const expected: Record<string, [number, number]> = {
      gpt2: [0.02, 0.02 / Math.sqrt(2 * config.nLayer)],
      xavier: [Math.sqrt(2 / (c + 4 * c)), Math.sqrt(2 / (4 * c + c))],
      kaiming: [Math.sqrt(2 / c), Math.sqrt(2 / (4 * c))],
      normal: [0.05, 0.05],
    };
    expect([initStd(fc, config.nLayer, options), initStd(proj, config.nLayer, options)]).toEqual(expected[scheme]);
    if (scheme !== 'normal') expect(seen.size).toBeGreaterThan(1);
  });

  it('the default is gpt2, and a seed gives one set of weights', () => {
    model.init(5);
    const a = paramsHash(model.params());
    model.init(5, { scheme: 'gpt2', std: 0.3 });
    expect(paramsHash(model.params())).toBe(a);
    model.init(6);
    expect(paramsHash(model.params())).not.toBe(a);
  });
});
