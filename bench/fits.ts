// What fits the 4 GiB wasm32 limit, by the memory plan alone (nothing is allocated): for
// each config, the largest batch at a given block size and the longest block at batch 1,
// in fp32 and in 16 bits (bf16 and fp16 plan the same bytes), with and without
// activation recompute, the LM head chunked as training does by default.
//   npx tsx bench/fits.ts [--config S,M,L] [--block-size 1024] [--lm-head-chunk 256] [--json F]
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Engine } from '../src/engine/engine.ts';
import { GPT, type GPTOptions } from '../src/model/gpt.ts';
import { WASM32_LIMIT, formatBytes } from '../src/engine/arena.ts';
import type { GPTConfig } from '../src/model/config.ts';
import { benchConfigs } from './configs.ts';

// the largest n in [1, limit] with ok(n) (ok is monotone: true, then false), or 0
export function largestFitting(ok: (n: number) => boolean, limit: number): number {
  if (!ok(1)) return 0;
  let lo = 1, hi = 2;
  while (hi <= limit && ok(hi)) { lo = hi; hi *= 2; }
  hi = Math.min(hi, limit + 1);
  while (hi - lo > 1) {
    const mid = Math.floor((lo + hi) / 2);
    if (ok(mid)) lo = mid; else hi = mid;
  }
  return lo;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) await main();

async function main(): Promise<void> {
  const args = yargs(hideBin(process.argv))
    .options({
      config: { type: 'string', default: 'S,M,L', describe: 'comma-separated configs' },
      'block-size': { type: 'number', default: 1024, describe: 'the block size of the largest-batch search' },
      'lm-head-chunk': { type: 'number', default: 256, describe: 'rows per LM-head chunk (0 = whole head)' },
      json: { type: 'string', describe: 'write results as JSON here' },
    })
    .strict()
    .parseSync();

  const engine = new Engine({ kernels: 'simd' });
  const fits = (model: GPTConfig, B: number, o: GPTOptions) => GPT.plan(engine, model, B, o).end <= WASM32_LIMIT;

  const results: Record<string, unknown>[] = [];
  for (const name of args.config.split(',').map((s) => s.trim().toUpperCase()) as (keyof typeof benchConfigs)[]) {
    const preset = benchConfigs[name];
    if (!preset) throw new Error(`unknown config ${name} (use S, M or L)`);
    const T = args['block-size'];
    console.log(`${name} (${preset.model.nLayer} layers, n_embd ${preset.model.nEmbd}, vocab ${preset.model.vocabSize}):`);
    for (const recompute of ['none', 'blocks'] as const) {
      for (const precision of ['fp32', 'bf16'] as const) {
        const o: GPTOptions = { recompute, precision, lmHeadChunk: args['lm-head-chunk'] };
        const batch = largestFitting((B) => fits({ ...preset.model, blockSize: T }, B, o), 4096);
        const block = largestFitting((t) => fits({ ...preset.model, blockSize: t }, 1, o), 1 << 20);
        const plan = batch ? GPT.plan(engine, { ...preset.model, blockSize: T }, batch, o) : null;
        console.log(`  ${precision === 'bf16' ? 'bf16/fp16' : 'fp32'}, recompute ${recompute}: largest batch at block ${T}: ${batch}` +
          `${plan ? ` (${formatBytes(plan.total)})` : ''}; longest block at batch 1: ${block}`);
        results.push({ config: name, precision: precision === 'bf16' ? '16-bit' : 'fp32', recompute, lm_head_chunk: args['lm-head-chunk'], block_size: T, max_batch: batch, max_block_size_at_batch_1: block, plan_bytes: plan?.total ?? null });
      }
    }
  }
  if (args.json) writeFileSync(args.json, JSON.stringify(results, null, 2));
}
