// Worker entry: runs the module named by workerData.entry (a file URL without its
// extension). Compiled JavaScript runs entry.js directly; under tsx the TypeScript
// entry needs tsx registered in this thread first (Node 20 cannot load a .ts worker
// file even with the loader in execArgv).
import { existsSync } from 'node:fs';
import { workerData } from 'node:worker_threads';

const compiled = new URL(`${workerData.entry}.js`);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(`${workerData.entry}.ts`);
}
