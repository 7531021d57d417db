// Train a tiny GPT on a string, then let it continue a prompt.
//   node examples/train-tiny.mjs [outDir]        (in a checkout: npm run build:js first)
import { train, Engine, GPT, generate } from 'wasmgpt';

const verse = `Twinkle, twinkle, little star,
How I wonder what you are!
Up above the world so high,
Like a diamond in the sky.
`;
const outDir = process.argv[2] ?? 'out-tiny';

const result = await train({
  text: verse.repeat(50),            // one document; an array of strings is several
  tokenizer: 'char',
  nLayer: 2, nHead: 2, nEmbd: 64, blockSize: 32, batchSize: 8,
  maxIters: 300, lr: 3e-3, warmupIters: 10, evalInterval: 100, evalIters: 4,
  sampleTokens: 0, cacheDir: null, outDir,
}, {
  onEval: (e) => console.log(`step ${e.step}: train loss ${e.trainLoss.toFixed(3)}, val loss ${e.valLoss.toFixed(3)}`),
});
console.log(`${result.steps} steps at ${Math.round(result.tokPerS)} tok/s; checkpoint in ${outDir}`);

const engine = await Engine.create({ threads: 1 });
const model = GPT.fromCheckpoint(engine, outDir);
const text = await generate(model, 'Twinkle', { maxNewTokens: 60, temperature: 0.5 });
console.log(`Twinkle${text}`);
await engine.dispose();
