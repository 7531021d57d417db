// The matmul tile chosen per machine (src/engine/tune.ts): a calibration under 2 seconds
// that picks a tile the build ships, cached on disk and read back by the next process;
// tuning off gives the default tile; and whichever tile runs, a model's loss and every
// gradient are the same bits, at 1 and 2 threads.
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Engine } from '../src/engine/engine.ts';
import { calibrate, chooseTile } from '../src/engine/tune.ts';
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
    expect(TILES.relaxed).toContain(c.tile);
    expect(Object.keys(c.gflops).sort()).toEqual([...TILES.relaxed].sort());
    for (const g of Object.values(c.gflops)) expect(g).toBeGreaterThan(0.5);
    expect(c.seconds).toBeLessThan(2);
    // the fastest wins, unless it beats the default by under 2%
    const best = Object.entries(c.gflops).sort((a, b) => b[1]! - a[1]!)[0][0];
    expect(c.tile === best || c.gflops[best as Tile]! <= c.gflops[DEFAULT_TILE]! * 1.02).toBe(true);
  });

  it('the choice is written to the cache file and read back by the next process; off and single-tile builds measure nothing', () => {
    const file = join(mkdtempSync(join(tmpdir(), 'wasmgpt-tiles-')), 'tiles.json');
    const script = `import { chooseTile } from ${JSON.stringify(join(root, 'src/engine/tune.ts'))};
      console.log(JSON.stringify(chooseTile('relaxed', { cacheFile: ${JSON.stringify(file)} })));`;
    const run = () => {
      const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: root, encoding: 'utf8', timeout: 60_000 });
      expect(r.stderr).toBe('');
      return JSON.parse(r.stdout);
    };
    const first = run();
    expect(first.how).toBe('calibrated');
    const cache = JSON.parse(readFileSync(file, 'utf8'));
    expect(Object.values(cache)).toEqual([{ tile: first.tile, gflops: first.gflops }]);
    expect(Object.keys(cache)[0]).toMatch(/^relaxed\|.*\|v8 /);
    const second = run();
    expect(second).toMatchObject({ how: 'cached', tile: first.tile, gflops: first.gflops, seconds: 0 });
    expect(chooseTile('relaxed', { tune: false, cacheFile: file })).toMatchObject({ tile: DEFAULT_TILE, how: 'off' });
    expect(chooseTile('simd', { cacheFile: file })).toMatchObject({ tile: '2x16', how: 'only' });
  });

  it.each([1, 2])('a GPT gives the same loss and gradients, bit for bit, with every tile (%i threads)', async (threads) => {
    const config = { vocabSize: 37, blockSize: 24, nLayer: 2, nHead: 2, nEmbd: 40, dropout: 0.1, bias: true };
    const ids = Int32Array.from({ length: 3 * 24 }, (_, i) => (i * 11 + (i >> 2)) % 37);
    const targets = Int32Array.from(ids, (v, i) => ids[(i + 1) % ids.length]);
    const results: { tile: string; loss: number; grads: Float32Array }[] = [];
    for (const tile of TILES.relaxed) {
      const engine = await Engine.create({ kernels: 'relaxed', tile, threads });
      expect(engine.tiling.tile).toBe(tile);
      const model = new GPT(engine, config, 3);
      model.init(3);
      const loss = model.forward(ids, targets, 3, 24, { train: true });
      model.backward();
      results.push({ tile, loss, grads: model.grads().slice() });
      await engine.dispose();
    }
    for (const r of results.slice(1)) {
      expect(Object.is(r.loss, results[0].loss)).toBe(true);
      expectBitwiseEqual(r.grads, results[0].grads, `gradients, tile ${r.tile} vs ${results[0].tile}`);
    }
  });
});
