// The matmul tiles chosen per machine (src/engine/tune.ts): a calibration under 2 seconds
// that picks, per matmul form and path, a tile the build ships, cached on disk and read
// back by the next process; tuning off gives the default tile; and whichever tiles run
// (one for all, or mixed by class), a model's loss and every gradient are the same bits,
// at 1 and 2 threads.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { MATMUL_CLASSES, calibrate, chooseTiles, planTiles, type MatmulClass } from '../src/engine/tune.ts';
import { DEFAULT_TILE, TILES, buildSupported, type Tile } from '../src/engine/wasm.ts';
import { GPT } from '../src/model/gpt.ts';
import { expectBitwiseEqual } from './harness.ts';

const root = join(import.meta.dirname, '..');

describe('the matmul tile', () => {
  it('calibration times every tile of the relaxed build in under 2 seconds and picks one it ships', () => {
    if (!buildSupported('relaxed')) {
      console.log('skipped: this runtime has no relaxed SIMD, the only build with more than one tile');
      return;
    }
    const c = calibrate('relaxed');
    expect(TILES.relaxed).toContain(c.primary);
    expect(Object.keys(c.gflops).sort()).toEqual([...MATMUL_CLASSES].sort());
    for (const cls of MATMUL_CLASSES) {
      const rates = c.gflops[cls]!;
      expect(Object.keys(rates).sort()).toEqual([...TILES.relaxed].sort());
      for (const g of Object.values(rates)) expect(g).toBeGreaterThan(0.5);
      // the fastest wins, unless it beats the default by under 2%
      const best = Object.entries(rates).sort((a, b) => b[1]! - a[1]!)[0][0] as Tile;
      expect(c.tiles[cls] === best || rates[best]! <= rates[DEFAULT_TILE]! * 1.02).toBe(true);
    }
    expect(c.seconds).toBeLessThan(2);
  });

  it('the choice is written to the cache file and read back by the next process; off and single-tile builds measure nothing', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'wasmgpt-tiles-')), 'tiles.json');
    const script = `import { chooseTiles } from ${JSON.stringify(join(root, 'src/engine/tune.ts'))};
      console.log(JSON.stringify(chooseTiles('relaxed', { cacheFile: ${JSON.stringify(file)} })));`;
    const run = () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout);
    };
    const first = run();
    expect(first.how).toBe('calibrated');
    const cache = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.values(cache)).toEqual([{ tiles: first.tiles, primary: first.primary, gflops: first.gflops }]);
    expect(Object.keys(cache)[0]).toMatch(/^relaxed\|.*\|v8 /);
    const second = run();
    expect(second).toMatchObject({ how: 'cached', tiles: first.tiles, primary: first.primary, gflops: first.gflops, seconds: 0 });
    const off = chooseTiles('relaxed', { tune: false, cacheFile: file });
    expect(off).toMatchObject({ primary: DEFAULT_TILE, how: 'off' });
    expect(planTiles(off)).toEqual([DEFAULT_TILE]);
    expect(chooseTiles('simd', { cacheFile: file })).toMatchObject({ primary: '2x16', how: 'only' });
  });

  // every class on one tile, then mixed: each class on the other tile than its neighbour
  const mixed = (first: Tile, second: Tile): Partial<Record<MatmulClass, Tile>> =>
    Object.fromEntries(MATMUL_CLASSES.map((c, i) => [c, i % 2 ? second : first]));
  const plans: { label: string; tile: Tile | Partial<Record<MatmulClass, Tile>> }[] = [
    ...TILES.relaxed.map((t) => ({ label: t, tile: t })),
    { label: 'mixed by class', tile: mixed(TILES.relaxed[0], TILES.relaxed[TILES.relaxed.length - 1]) },
    { label: 'mixed the other way', tile: mixed(TILES.relaxed[TILES.relaxed.length - 1], TILES.relaxed[0]) },
  ];

  it.each([1, 2])('a GPT gives the same loss and gradients, bit for bit, with every tile and tiles mixed by class (%i threads)', async (threads) => {
    // rows 72: the QKV and MLP products take the column path, the rest rows
    const config = { vocabSize: 37, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 40, dropout: 0.1, bias: true };
    const ids = Int32Array.from({ length: 3 * 24 }, (_, i) => (i * 11 + (i >> 2)) % 37);
    const targets = Int32Array.from(ids, (v, i) => ids[(i + 1) % ids.length]);
    const results: { label: string; loss: number; grads: Float32Array }[] = [];
    for (const { label, tile } of plans) {
      const engine = await Engine.create({ kernels: 'relaxed', tile, threads });
      if (typeof tile === 'string') expect(planTiles(engine.tiling)).toEqual([tile]);
      else expect(planTiles(engine.tiling).length).toBe(2);
      const model = new GPT(engine, config, 3);
      model.init(3);
      const loss = model.forward(ids, targets, 3, 24, { train: true });
      model.backward();
      results.push({ label, loss, grads: model.grads().slice() });
      await engine.dispose();
    }
    for (const r of results.slice(1)) {
      expect(Object.is(r.loss, results[0].loss)).toBe(true);
      expectBitwiseEqual(r.grads, results[0].grads, `gradients, ${r.label} vs ${results[0].label}`);
    }
  });

  it('tiles by class: an unknown class or tile is refused', () => {
    expect(() => new Engine({ kernels: 'relaxed', tile: { 'forward/diagonal': '4x8' } as never })).toThrow(/no matmul class forward\/diagonal/);
    expect(() => new Engine({ kernels: 'relaxed', tile: { 'forward/rows': '8x8' } as never })).toThrow(/has no 8x8 tile/);
  });
});
