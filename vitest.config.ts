import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    testTimeout: 120_000,
    hookTimeout: 120_000,
    // wasm kernels are CPU-bound: two files at a time on a 2-core machine
    maxWorkers: 2,
  },
});
