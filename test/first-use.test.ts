// A checkout that was never built (`npm install` builds nothing): the first engine builds
// every wasm target it reads, each once, and runs. The tile calibration reads every
// tile's bytes for its cache key before compiling any, so a missing tile must be built
// there too (a fresh clone once failed with ENOENT on build/relaxed-4x8.wasm).
import { describe, expect, it } from 'vitest';
import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildSupported, TILES } from '../src/engine/wasm.ts';

const root = join(import.meta.dirname, '..');

describe('a checkout without build/', () => {
  it('builds each wasm target it needs on first use, once, calibrates the tiles and runs a step on 2 threads', () => {
    const dir = mkdtempSync(join(tmpdir(), 'wasmgpt-checkout-'));
    try {
      for (const f of ['src', 'assembly', 'asconfig.json', 'package.json', 'tsconfig.json']) cpSync(join(root, f), join(dir, f), { recursive: true });
      symlinkSync(join(root, 'node_modules'), join(dir, 'node_modules'));
      const script = `
        import { Engine } from './src/engine/engine.ts';
        import { GPT } from './src/model/gpt.ts';
        const engine = await Engine.create({ threads: 2 });
        const model = new GPT(engine, { vocabSize: 11, blockSize: 8, nLayer: 1, nHead: 2, nEmbd: 16, dropout: 0, bias: true }, 2);
        model.init(1);
        const ids = Int32Array.from({ length: 16 }, (_, i) => i % 11);
        const loss = model.forward(ids, ids, 2, 8, { train: true });
        model.backward();
        console.log(JSON.stringify({ build: engine.build, how: engine.tiling.how, loss }));
        await engine.dispose();`;
      writeFileSync(join(dir, 'first-step.ts'), script); // a file: the pool's workers inherit execArgv, where -e is refused
      const r = spawnSync(process.execPath, ['--import', 'tsx', 'first-step.ts'], {
        cwd: dir, encoding: 'utf8', timeout: 120_000, env: { ...process.env, XDG_CACHE_HOME: join(dir, 'cache') },
      });
      expect(r.status, r.stderr).toBe(0);
      const out = JSON.parse(r.stdout.trim().split('\n').pop()!);
      expect(Number.isFinite(out.loss)).toBe(true);
      const built = [...r.stderr.matchAll(/^building the wasm kernels \(([\w-]+);/gm)].map((m) => m[1]).sort();
      // the build the runtime runs, with every tile it ships (each built once), and nothing else
      const targets = TILES[out.build as 'simd' | 'relaxed'].map((t) => (t === '2x16' ? out.build : `${out.build}-${t}`));
      if (out.build === 'relaxed') expect(out.how).toBe('calibrated');
      expect(built).toEqual([...new Set([...(buildSupported('relaxed') ? ['relaxed'] : []), ...targets])].sort());
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
