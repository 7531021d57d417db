// Generation speed with and without the key/value cache, back to back: per prompt length,
// the cached decoder (src/model/decoder.ts: the prompt once, then one position a token)
// and the training model running the whole window for every token. Random weights.
//   npx tsx bench/generate.ts [--config L] [--block-size 1024] [--prompts 16,512] [--new-tokens 16] [--threads 2] [--json F]
import { writeFileSync } from 'node:fs';
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
import { Engine } from '../src/engine/engine.ts';
import { Rng } from '../src/engine/random.ts';
import { GPT } from '../src/model/gpt.ts';
import { Decoder } from '../src/model/decoder.ts';
import { generateTokens, generateWithoutCache } from '../src/train/sample.ts';
import { availableParallelism } from 'node:os';
import { benchConfigs } from './configs.ts';

const args = yargs(hideBin(process.argv))
  .options({
    config: { type: 'string', default: 'L', choices: ['S', 'M', 'L'] },
    'block-size': { type: 'number', default: 1024 },
    prompts: { type: 'string', default: '16,512', describe: 'comma-separated prompt lengths' },
    'new-tokens': { type: 'number', default: 16 },
    threads: { type: 'number', default: availableParallelism() },
    json: { type: 'string' },
  })
  .strict()
  .parseSync();

const config = { ...benchConfigs[args.config as 'S' | 'M' | 'L'].model, blockSize: args['block-size'] };
const engine = await Engine.create({ threads: args.threads });
const model = new GPT(engine, config, 1, { optimizer: false, lmHeadChunk: 256 });
model.init(1);
const decoder = new Decoder(engine, config, { params: model.buffers.params });
const greedy = { maxNewTokens: args['new-tokens'], temperature: 1, topK: 1 };
const rows: Record<string, unknown>[] = [];
console.log(`config ${args.config} (block ${config.blockSize}, ${(model.numParams / 1e6).toFixed(1)}M parameters), kernels ${engine.build}, ${engine.threads} threads, ${greedy.maxNewTokens} new tokens`);
for (const P of args.prompts.split(',').map(Number)) {
  const rng = new Rng(P);
  const prompt = Array.from({ length: P }, () => rng.int(config.vocabSize));
  generateWithoutCache(model, prompt, { ...greedy, maxNewTokens: 1 }, new Rng(1)); // warm-up
  // with the cache: the prompt once, then each token
  let t0 = performance.now();
  const steps: number[] = [];
  let prefill = 0;
  const cached: number[] = [];
  for (const id of generateTokens(decoder, prompt, greedy, new Rng(1))) {
    const t = performance.now();
    if (cached.length === 0) prefill = t - t0;
    else steps.push(t - t0);
    t0 = t;
    cached.push(id);
  }
  const decodeMs = steps.reduce((a, b) => a + b, 0) / steps.length;
  // without: the whole window for every token
  t0 = performance.now();
  const plain = generateWithoutCache(model, prompt, greedy, new Rng(1)).slice(P);
  const plainMs = (performance.now() - t0) / greedy.maxNewTokens;
  const same = plain.every((id, i) => id === cached[i]);
  console.log(`prompt ${P}: cache: prompt + first token ${prefill.toFixed(0)} ms, then ${decodeMs.toFixed(1)} ms/token (${(1000 / decodeMs).toFixed(1)} tok/s); ` +
    `no cache: ${plainMs.toFixed(0)} ms/token (${(1000 / plainMs).toFixed(2)} tok/s); ${(plainMs / decodeMs).toFixed(1)}x; greedy tokens ${same ? 'the same' : 'DIFFER'}`);
  rows.push({ prompt: P, prefill_ms: prefill, cached_ms_per_token: decodeMs, uncached_ms_per_token: plainMs, speedup: plainMs / decodeMs, same_tokens: same });
}
await engine.dispose();
if (args.json) writeFileSync(args.json, JSON.stringify({ config: args.config, block_size: config.blockSize, rows }, null, 2));
