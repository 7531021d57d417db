// --resume: N steps, stop, resume, N more is the same run as 2N straight, bit for bit.
import { describe, it, expect } from 'vitest';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { train } from '../src/train/trainer.ts';
import { ConfigError, type TrainConfig } from '../src/train/config.ts';
import { loadCheckpointState } from '../src/train/checkpoint.ts';
import { paramsHash } from '../src/train/trainer.ts';

const tmp = () => mkdtempSync(join(tmpdir(), 'wasmgpt-resume-'));
const quiet = {};
const text = 'Resume me exactly: the same batches, the same masks, the same moments.\n'.repeat(60);

function options(dir: string, threads: number, overrides: Partial<TrainConfig> = {}): Partial<TrainConfig> {
  const data = join(dir, 'corpus.txt');
  writeFileSync(data, text);
  return {
    data: [data], tokenizer: 'char', cacheDir: null, nLayer: 2, nHead: 2, nEmbd: 16, blockSize: 16, batchSize: 3, gradAccum: 2,
    dropout: 0.1, warmupIters: 2, evalInterval: 4, evalIters: 2, sampleTokens: 0, threads, ...overrides,
  };
}

const stepLosses = (log: string) => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step').map((r) => [r.step, r.loss]);

describe('--resume', () => {
  it.each([1, 2])('%i thread(s): 2N straight = N, stop, resume, N more (weights bitwise, the loss of every step; dropout and grad-accum on)', async (threads) => {
    const N = 6;
    const a = tmp();
    const straight = await train(options(a, threads, { maxIters: 2 * N, outDir: join(a, 'out'), logFile: join(a, 'log.jsonl') }), quiet);

    const b = tmp();
    const first = options(b, threads, { maxIters: N, lrDecayIters: 2 * N, outDir: join(b, 'out'), logFile: join(b, 'log.jsonl') });
    await train(first, quiet);
    expect(loadCheckpointState(join(b, 'out')).step).toBe(N);
    const lines: string[] = [];
    const resumed = await train({ ...first, maxIters: 2 * N, lrDecayIters: undefined, resume: true }, { onLog: (l) => lines.push(l) });
    expect(lines.join('\n')).toMatch(new RegExp(`resumed from .* at step ${N}`));

    expect(paramsHash(resumed.params)).toBe(paramsHash(straight.params));
    // the log was appended to, one step record per step, the same losses
    expect(stepLosses(join(b, 'log.jsonl'))).toEqual(stepLosses(join(a, 'log.jsonl')));
    expect(stepLosses(join(b, 'log.jsonl'))).toHaveLength(2 * N);
  });

  it('fp16: the checkpoint carries the loss scaler, so the run resumes bitwise with the same scale (overflows and a growth on the way)', async () => {
    const N = 6;
    // 2^28 overflows the first steps; an interval of 2 grows the scale between them
    const fp16 = { precision: 'fp16' as const, lossScale: 2 ** 28, scaleGrowthInterval: 2 };
    const records = (log: string) => readFileSync(log, 'utf8').trim().split('\n').map((l) => JSON.parse(l)).filter((r) => r.type === 'step').map((r) => [r.step, r.loss, r.loss_scale, r.skipped]);
    const a = tmp();
    const straight = await train(options(a, 2, { ...fp16, maxIters: 2 * N, outDir: join(a, 'out'), logFile: join(a, 'log.jsonl') }), quiet);
    const b = tmp();
    const first = options(b, 2, { ...fp16, maxIters: N, lrDecayIters: 2 * N, outDir: join(b, 'out'), logFile: join(b, 'log.jsonl') });
    await train(first, quiet);
    const saved = loadCheckpointState(join(b, 'out')).lossScaler!;
    expect(saved.skipped).toBeGreaterThan(0);
    const lines: string[] = [];
    // --loss-scale now differs: the checkpoint's scale wins
    const resumed = await train({ ...first, maxIters: 2 * N, lrDecayIters: undefined, lossScale: 1, resume: true }, { onLog: (l) => lines.push(l) });
    expect(lines.join('\n')).toContain(`resumed from ${join(b, 'out')} at step ${N}, loss scale ${saved.scale}`);
    expect(paramsHash(resumed.params)).toBe(paramsHash(straight.params));
    const log = records(join(b, 'log.jsonl'));
    expect(log).toEqual(records(join(a, 'log.jsonl')));
    expect(log.some((r) => r[3] === true)).toBe(true);
    expect(new Set(log.map((r) => r[2])).size).toBeGreaterThan(2);
  });

  it('refuses an option that defines the model, data or optimizer, naming it; a changed corpus; a missing checkpoint', async () => {
    const dir = tmp();
    const first = options(dir, 1, { maxIters: 3, outDir: join(dir, 'out') });
    await train(first, quiet);
    await expect(train({ ...first, maxIters: 6, nEmbd: 32, resume: true }, quiet)).rejects.toThrow(/--resume: --n-embd is 16 in the checkpoint in .*, 32 now/);
    await expect(train({ ...first, maxIters: 6, lr: 2e-3, resume: true }, quiet)).rejects.toThrow(/--resume: --lr is 0.003 in the checkpoint/);
    await expect(train({ ...first, maxIters: 6, activation: 'swiglu', resume: true }, quiet)).rejects.toThrow(/--resume: --activation is "gelu" in the checkpoint/);
    // schedule length, intervals and the memory options may change
    await expect(train({ ...first, maxIters: 6, recompute: 'blocks', lmHeadChunk: 5, resume: true }, quiet)).resolves.toBeTruthy();
    writeFileSync((first.data as string[])[0], text.toUpperCase());
    await expect(train({ ...first, maxIters: 9, resume: true }, quiet)).rejects.toThrow(/the corpus is not the one the checkpoint .* was trained on/);
    await expect(train({ ...first, outDir: join(dir, 'empty'), resume: true }, quiet)).rejects.toThrow(/no checkpoint in/);
    await expect(train({ ...first, maxIters: 6, nEmbd: 32, resume: true }, quiet)).rejects.toBeInstanceOf(ConfigError);
  });
});
