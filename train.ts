// Command-line entry: `npx tsx train.ts [options]` trains a GPT (defaults: the
// bundled State of the Union corpus, GPT-2 tokens, a 4-layer model, about a minute on
// two cores). The options come from the table in src/train/config.ts.
import { hideBin } from 'yargs/helpers';
import { train } from './src/train/trainer.ts';
import { parseTrainArgs } from './src/train/cli-args.ts';
import { isUserError } from './src/train/errors.ts';

// Ctrl-C: finish the current step, save a checkpoint, exit 130. A second Ctrl-C exits at once.
const abort = new AbortController();
process.on('SIGINT', () => {
  if (abort.signal.aborted) process.exit(130);
  console.error('\ninterrupt: saving a checkpoint after this step (Ctrl-C again to quit now)');
  abort.abort();
});

try {
  const result = await train(parseTrainArgs(hideBin(process.argv)), { signal: abort.signal });
  process.exitCode = result.interrupted ? 130 : 0;
} catch (e) {
  // a user's mistake (or a failure they can act on) gets one line; anything else is a
  // bug of ours and keeps its stack trace
  if (isUserError(e)) {
    console.error(`error: ${e.message}`);
    process.exitCode = 1;
  } else {
    throw e;
  }
}
