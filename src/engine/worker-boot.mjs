// Worker entry. Compiled JavaScript runs worker.js directly; under tsx the
// TypeScript worker needs tsx registered in this thread first (Node 20 cannot
// load a .ts worker file even with the loader in execArgv).
import { existsSync } from 'node:fs';

const compiled = new URL('./worker.js', import.meta.url);
if (existsSync(compiled)) {
  await import(compiled.href);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import(new URL('./worker.ts', import.meta.url).href);
}
