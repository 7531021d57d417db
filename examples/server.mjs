// Training inside an HTTP server that keeps answering: the run goes on in a thread of its
// own, so /status is served while it trains.
//   node examples/server.mjs [port] [steps]
//   curl localhost:8080/status           where the run is
//   curl -X POST localhost:8080/stop     stop it (a checkpoint is saved first)
//   curl 'localhost:8080/sample?prompt=The'   after training: text from the model
// Ctrl-C stops the run, saves, and exits.
import { createServer } from 'node:http';
import { train, Engine, GPT, generate } from 'wasmgpt';

const status = { state: 'training', step: 0, maxIters: 0, loss: null, valLoss: null, tokPerS: 0 };
const stop = new AbortController();
let model = null;

const server = createServer(async (req, res) => {
  const url = new URL(req.url, 'http://localhost');
  const reply = (code, body) => res.writeHead(code, { 'content-type': 'application/json' }).end(JSON.stringify(body));
  if (url.pathname === '/status') return reply(200, status);
  if (url.pathname === '/stop' && req.method === 'POST') {
    stop.abort();
    return reply(202, { state: 'stopping' });
  }
  if (url.pathname === '/sample') {
    if (!model) return reply(409, { error: 'the model is still training' });
    const prompt = url.searchParams.get('prompt') || '\n';
    return reply(200, { prompt, text: await generate(model, prompt, { maxNewTokens: 40 }) });
  }
  reply(404, { error: 'try /status, POST /stop or /sample?prompt=...' });
});
server.listen(Number(process.argv[2] ?? 8080), '127.0.0.1', () => console.log(`listening on http://127.0.0.1:${server.address().port}`));
process.on('SIGINT', () => stop.abort());

const outDir = 'out-server';
const maxIters = Number(process.argv[3] ?? 200);
const result = await train({ maxIters, evalInterval: Math.max(1, maxIters >> 1), threads: 2, outDir, sampleTokens: 0 }, {
  signal: stop.signal,
  onStep: (s) => Object.assign(status, { step: s.step + 1, maxIters: s.maxIters, loss: s.loss, tokPerS: Math.round(s.tokPerS) }),
  onEval: (e) => { status.valLoss = e.valLoss; },
});
Object.assign(status, { state: result.interrupted ? 'stopped' : 'done', steps: result.steps });
console.log(`${status.state} after ${result.steps} steps`);

if (!result.interrupted) {
  const engine = await Engine.create({ threads: 1 });
  model = GPT.fromCheckpoint(engine, outDir);
  process.once('SIGINT', () => server.close(() => engine.dispose()));
  console.log('sampling at /sample?prompt=...; Ctrl-C to quit');
} else {
  server.close();
}
