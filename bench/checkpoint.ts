// Checkpoint benchmark and crash test for a config's model (default L: GPT-2 small).
//   npx tsx bench/checkpoint.ts [--config L] [--saves 3] [--dir D]     save and load time, file sizes
//   npx tsx bench/checkpoint.ts --crash 20 [--config L] [--dir D]      kill -9 a saving process at random
//                                                                      moments, 20 times; after each, the
//                                                                      latest checkpoint must load and verify
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { parameterLayout } from '../src/model/parameters.ts';
import { saveCheckpoint, loadCheckpoint, loadCheckpointState, type CheckpointState } from '../src/train/checkpoint.ts';
import { formatBytes } from '../src/engine/arena.ts';
import { Rng } from '../src/engine/random.ts';
import { median } from '../src/train/log.ts';
import { benchConfigs } from './configs.ts';

const args = yargs(hideBin(process.argv))
  .options({
    config: { type: 'string', default: 'L', describe: 'S, M or L' },
    saves: { type: 'number', default: 3, describe: 'timed saves (and loads)' },
    crash: { type: 'number', default: 0, describe: 'kill -9 rounds (0: time saves instead)' },
    dir: { type: 'string', describe: 'checkpoint directory (default: a new temporary one)' },
    child: { type: 'boolean', default: false, hidden: true },
  })
  .strict()
  .parseSync();

const config = benchConfigs[args.config.toUpperCase() as keyof typeof benchConfigs];
const modelConfig = config.model;
const layout = parameterLayout(modelConfig);
const dir = args.dir ?? mkdtempSync(join(tmpdir(), 'wasmgpt-ckpt-bench-'));

function data(step: number) {
  const rng = new Rng(step);
  const params = new Float32Array(layout.total);
  for (const s of layout.specs) for (let i = 0; i < s.size; i++) params[s.offset + i] = rng.normal() * 0.02;
  const state: CheckpointState = {
    step, adamSteps: step, batches: { state: step, spareNormal: null }, dropout: { seed: 1, pass: step }, modelConfig,
    trainConfig: {}, tokenizer: { kind: 'char', vocab: [] } as never, kernels: 'relaxed', valLoss: null, dataHash: 'bench', lossScaler: null,
  };
  return { state, params, m: params.map((x) => x * 0.1), v: params.map((x) => x * x) };
}

if (args.child) {
  // saves step after step until killed
  const d = data(1);
  console.log('saving');
  for (let step = loadCheckpointState(dir).step + 1; ; step++) saveCheckpoint(dir, layout, { ...d, state: { ...d.state, step } });
} else if (args.crash > 0) {
  saveCheckpoint(dir, layout, data(0)); // a first complete checkpoint
  let loaded = 0;
  for (let round = 1; round <= args.crash; round++) {
    const child = spawn(process.execPath, ['--import', 'tsx', ...process.argv.slice(1), '--child', '--dir', dir], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((r) => child.stdout.once('data', r)); // its saves have begun
    const wait = Math.random() * 12_000; // somewhere in the next few saves
    await new Promise((r) => setTimeout(r, wait));
    child.kill('SIGKILL');
    await new Promise((r) => child.on('exit', r));
    try {
      const c = loadCheckpoint(dir, layout);
      loaded++;
      console.log(`round ${round}: killed after ${Math.round(wait)} ms; the checkpoint of step ${c.state.step} loads and verifies; files: ${readdirSync(dir).length}`);
    } catch (e) {
      console.log(`round ${round}: killed after ${Math.round(wait)} ms; BROKEN: ${(e as Error).message}`);
    }
  }
  console.log(`${loaded} of ${args.crash} kills left a checkpoint that loads and verifies (${loadCheckpointState(dir).step} saves completed in all)`);
  process.exitCode = loaded === args.crash ? 0 : 1;
} else {
  const d = data(1);
  const saves: number[] = [];
  const loads: number[] = [];
  for (let i = 0; i < args.saves; i++) {
    let t = performance.now();
    saveCheckpoint(dir, layout, { ...d, state: { ...d.state, step: i + 1 } });
    saves.push(performance.now() - t);
    t = performance.now();
    loadCheckpoint(dir, layout);
    loads.push(performance.now() - t);
  }
  const files = readdirSync(dir).map((f) => `${f} ${formatBytes(statSync(join(dir, f)).size)}`);
  console.log(`config ${args.config}: ${(layout.specs.reduce((n, s) => n + s.size, 0) / 1e6).toFixed(1)}M parameters; ` +
    `save ${(median(saves) / 1000).toFixed(2)} s, load ${(median(loads) / 1000).toFixed(2)} s (medians of ${args.saves}); step ${loadCheckpointState(dir).step}`);
  console.log(`files: ${files.join(', ')}`);
}
