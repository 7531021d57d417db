// The package as a user gets it: `npm pack`, installed into a temporary project and run by
// plain node (no tsx). From dist/ a script trains with 2 threads, samples and exits by
// itself; the bin answers --help; internals cannot be imported; the type declarations
// check a user's TypeScript; and the examples run from the installed package.
import { describe, expect, it, beforeAll } from 'vitest';
import { execFileSync, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { get } from 'node:http';

const root = resolve(import.meta.dirname, '..');
const env = { ...process.env, NODE_OPTIONS: '' }; // nothing of vitest's or tsx's loaders
let project = '';

// `node args` in the project; at most `seconds`, so a process that does not exit by itself fails
function node(args: string[], seconds = 60): SpawnSyncReturns<string> {
  const r = spawnSync(process.execPath, args, { cwd: project, env, encoding: 'utf8', timeout: seconds * 1000 });
  if (r.error) throw r.error;
  return r;
}

beforeAll(() => {
  execFileSync(process.execPath, ['scripts/build-dist.mjs'], { cwd: root, env, stdio: 'pipe' });
  const dir = mkdtempSync(join(tmpdir(), 'wasmgpt-package-'));
  execFileSync('npm', ['pack', '--ignore-scripts', '--pack-destination', dir], { cwd: root, env, stdio: 'pipe' });
  const tarball = readdirSync(dir).find((f) => f.endsWith('.tgz'))!;
  project = join(dir, 'project');
  mkdirSync(project);
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'user-project', private: true, type: 'module' }));
  // the dependencies from npm's cache when it has them all (npm ci put them there), else the registry
  const install = (mode: string) => execFileSync('npm', ['install', mode, '--no-audit', '--no-fund', join(dir, tarball)], { cwd: project, env, stdio: 'pipe' });
  try {
    install('--offline');
  } catch {
    install('--prefer-offline');
  }
  cpSync(join(project, 'node_modules', 'wasmgpt', 'examples'), join(project, 'examples'), { recursive: true });
}, 240_000);

describe('the installed package, in plain node', () => {
  it('trains a few steps with 2 threads from dist/, samples, and the process exits by itself (a pool left undisposed included)', () => {
    writeFileSync(join(project, 'user.mjs'), `
      import { train, Engine, GPT, generate } from 'wasmgpt';
      const result = await train({
        text: 'the cat sat on the mat. '.repeat(200), tokenizer: 'char', nLayer: 1, nHead: 2, nEmbd: 32, blockSize: 16,
        batchSize: 4, maxIters: 6, evalInterval: 3, evalIters: 1, threads: 2, outDir: 'run', sampleTokens: 0, cacheDir: null,
      });
      const engine = await Engine.create({ threads: 2 });
      const model = GPT.fromCheckpoint(engine, 'run');
      const text = await generate(model, 'the', { maxNewTokens: 12 });
      const threads = engine.threads;
      await engine.dispose();
      const forgotten = await Engine.create({ threads: 2 }); // never disposed: its workers must not keep the process alive
      console.log(JSON.stringify({ from: import.meta.resolve('wasmgpt'), steps: result.steps, evals: result.evals.length, text, threads: [threads, forgotten.threads] }));
    `);
    const r = node(['user.mjs']);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.from).toMatch(/node_modules\/wasmgpt\/dist\/src\/index\.js$/);
    expect(out).toMatchObject({ steps: 6, evals: 3, threads: [2, 2] });
    expect(out.text).toHaveLength(12);
  });

  it('npx wasmgpt: --help, and a mistake (train named) as one line with exit code 1', () => {
    const help = spawnSync('npx', ['--no-install', 'wasmgpt', '--help'], { cwd: project, env, encoding: 'utf8', timeout: 30_000 });
    expect(help.status).toBe(0);
    expect(help.stdout).toContain('Usage: wasmgpt [train] [options]');
    expect(help.stdout).toContain('wasmgpt sample --from out/');
    const bad = spawnSync('npx', ['--no-install', 'wasmgpt', 'train', '--max-iters', 'many'], { cwd: project, env, encoding: 'utf8', timeout: 30_000 });
    expect(bad.status).toBe(1);
    expect(bad.stderr.trim()).toBe('error: invalid --max-iters "many": must be a non-negative integer');
  });

  it('npx wasmgpt sample | eval | export | find-lr | plot run from the compiled JavaScript', () => {
    const wasmgpt = (...args: string[]) => {
      const r = spawnSync('npx', ['--no-install', 'wasmgpt', ...args], { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
      expect(r.status, `wasmgpt ${args.join(' ')}: ${r.stderr}`).toBe(0);
      return r;
    };
    writeFileSync(join(project, 'text.txt'), 'a rose is a rose is a rose. '.repeat(300));
    const tiny = ['--data', 'text.txt', '--tokenizer', 'char', '--n-layer', '1', '--n-head', '2', '--n-embd', '16', '--block-size', '16',
      '--batch-size', '2', '--eval-iters', '1', '--sample-tokens', '0', '--no-cache', '--threads', '2'];
    wasmgpt('train', ...tiny, '--max-iters', '4', '--eval-interval', '2', '--out-dir', 'bin-run', '--log-file', 'bin-run.jsonl');
    expect(wasmgpt('sample', '--from', 'bin-run', '--prompt', 'a rose', '--max-new-tokens', '8').stdout).toMatch(/^a rose.{8}\n$/s);
    expect(wasmgpt('eval', '--from', 'bin-run', '--data', 'text.txt', '--json').stdout).toMatch(/"type":"eval","loss":\d/);
    expect(wasmgpt('export', '--from', 'bin-run', '--to', 'bin-hf').stdout).toMatch(/^exported bin-run as Hugging Face GPT-2/);
    expect(wasmgpt('find-lr', ...tiny, '--sweep-steps', '5', '--out-dir', 'bin-lr').stdout).toMatch(/lr finder: 5 steps/);
    expect(wasmgpt('plot', 'bin-run.jsonl', '--out', 'bin-run.svg').stdout).toMatch(/^wrote bin-run\.svg/);
  });

  it('internals are not exported: a deep import is refused', () => {
    const r = node(['-e', "import('wasmgpt/dist/src/ops/matmul.js').then(() => console.log('imported'), (e) => console.log(e.code))"]);
    expect(r.stdout.trim()).toBe('ERR_PACKAGE_PATH_NOT_EXPORTED');
  });

  it('the type declarations check a user\'s script, and catch a misspelt option', () => {
    writeFileSync(join(project, 'check.ts'), `
      import { train, findLearningRate, Engine, GPT, generate, stream, WasmgptError, type TrainOptions, type GenerateOptions } from 'wasmgpt';
      const options: TrainOptions = { maxIters: 10, text: ['one document', 'another'], precision: 'bf16' };
      // @ts-expect-error: maxIter is not an option
      const misspelt: TrainOptions = { maxIter: 10 };
      const result = await train(options, {
        signal: AbortSignal.timeout(1000),
        onStep: (s) => s.loss.toFixed(2), onEval: (e) => e.valLoss > e.trainLoss, onLog: (line, level) => level === 'warning' && line,
      });
      const steps: number = result.steps;
      const engine = await Engine.create({ threads: 2 });
      const model = GPT.fromCheckpoint(engine, 'out', { batchSize: 2 });
      const sampling: GenerateOptions = { maxNewTokens: 5, topK: 40 };
      const text: string = await generate(model, 'a', sampling);
      for await (const piece of stream(model, text)) piece.toUpperCase();
      try { await findLearningRate({}); } catch (e) { if (e instanceof WasmgptError) e.code satisfies string; }
      export { misspelt, steps };
    `);
    const tsc = spawnSync(process.execPath, [
      join(root, 'node_modules', 'typescript', 'bin', 'tsc'), '--noEmit', '--strict', '--target', 'es2022', '--module', 'nodenext',
      '--moduleResolution', 'nodenext', '--types', 'node', '--typeRoots', join(root, 'node_modules', '@types'), 'check.ts',
    ], { cwd: project, env, encoding: 'utf8', timeout: 60_000 });
    expect(tsc.stdout + tsc.stderr).toBe('');
    expect(tsc.status).toBe(0);
  }, 60_000);
});

describe('examples/ (run from the installed package)', () => {
  it('train-tiny.mjs learns its verse and continues a prompt; sample.mjs streams from its checkpoint, and names a wrong directory', () => {
    const trained = node(['examples/train-tiny.mjs', 'tiny']);
    expect(trained.status).toBe(0);
    const losses = [...trained.stdout.matchAll(/step (\d+): train loss ([\d.]+), val loss ([\d.]+)/g)].map((m) => Number(m[3]));
    expect(losses).toHaveLength(4);
    expect(losses[3]).toBeLessThan(losses[0] / 4); // from ~3.5 (uniform over its characters) to well under 1
    expect(trained.stdout).toMatch(/300 steps at \d+ tok\/s; checkpoint in tiny\n/);
    expect(trained.stdout).toMatch(/\nTwinkle.{20,}/s);

    const sampled = node(['examples/sample.mjs', 'tiny', 'Up above', '30']);
    expect(sampled.status).toBe(0);
    expect(sampled.stdout.startsWith('Up above')).toBe(true);
    expect(sampled.stdout.length).toBeGreaterThan('Up above'.length + 20);

    const wrong = node(['examples/sample.mjs', 'no-such-run', 'x']);
    expect(wrong.status).toBe(1);
    expect(wrong.stderr.trim()).toMatch(/^error \(E_CHECKPOINT\): no-such-run is not a checkpoint directory/);
  });

  it('server.mjs answers /status while it trains, serves a sample after, and exits by itself on SIGINT', async () => {
    const server = spawn(process.execPath, ['examples/server.mjs', '0', '12'], { cwd: project, env });
    let stdout = '';
    server.stdout.on('data', (d) => { stdout += d; });
    server.stderr.on('data', (d) => { stdout += d; });
    const exited = new Promise<number | null>((done) => server.on('exit', (code) => done(code)));
    const port = await new Promise<number>((done, fail) => {
      const poll = setInterval(() => {
        const m = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stdout);
        if (m) { clearInterval(poll); done(Number(m[1])); }
        if (server.exitCode !== null) { clearInterval(poll); fail(new Error(stdout)); }
      }, 20);
    });
    const fetchJson = (path: string) => new Promise<{ ms: number; body: Record<string, unknown> }>((done, fail) => {
      const t0 = performance.now();
      get({ host: '127.0.0.1', port, path }, (res) => {
        let text = '';
        res.on('data', (d) => { text += d; });
        res.on('end', () => done({ ms: performance.now() - t0, body: JSON.parse(text) }));
      }).on('error', fail);
    });
    const duringSteps: number[] = [];
    let status = await fetchJson('/status');
    while (status.body.state === 'training') {
      if ((status.body.step as number) > 0) duringSteps.push(status.ms);
      await new Promise((r) => setTimeout(r, 25));
      status = await fetchJson('/status');
    }
    expect(status.body).toMatchObject({ state: 'done', steps: 12 });
    expect(duringSteps.length).toBeGreaterThan(5); // answered again and again while the steps ran
    expect(Math.max(...duringSteps)).toBeLessThan(1000); // generous for a loaded machine; bench/host.ts measures it closely
    const sample = await fetchJson('/sample?prompt=The');
    expect(typeof sample.body.text).toBe('string');
    expect((sample.body.text as string).length).toBeGreaterThan(0);
    server.kill('SIGINT');
    expect(await exited).toBe(0);
  }, 120_000);
});
