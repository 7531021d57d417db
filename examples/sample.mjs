// Continue a prompt with a trained model, printing the text as it comes.
//   node examples/sample.mjs out/ "The state of the Union" [tokens]
// out/ is a run's checkpoint directory (npx wasmgpt --out-dir out/, or train({ outDir })).
import { Engine, GPT, stream, WasmgptError } from 'wasmgpt';

const [dir = 'out', prompt = '\n', tokens = '100'] = process.argv.slice(2);
const engine = await Engine.create({ threads: 2 });
try {
  const model = GPT.fromCheckpoint(engine, dir);
  process.stdout.write(prompt);
  for await (const piece of stream(model, prompt, { maxNewTokens: Number(tokens) })) {
    process.stdout.write(piece);
  }
  process.stdout.write('\n');
} catch (e) {
  if (!(e instanceof WasmgptError)) throw e; // a bug: keep the stack trace
  console.error(`error (${e.code}): ${e.message}`);
  process.exitCode = 1;
} finally {
  await engine.dispose();
}
