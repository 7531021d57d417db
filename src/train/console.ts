// The command line's view of a run: on a terminal one live progress line redrawn in place,
// elsewhere a step line every --log-interval steps; the run's other lines on stdout,
// warnings on stderr. The library's train() prints nothing; this is where printing lives.
import { ProgressView } from './progress.ts';
import { splitTextOption, runInThread, type RunMode, type TrainOptions, type TrainResult } from './trainer.ts';

export async function runInTerminal(options: TrainOptions, mode: RunMode, signal: AbortSignal): Promise<TrainResult> {
  const { config } = splitTextOption(options);
  const view = new ProgressView({
    live: process.stdout.isTTY === true,
    logInterval: config.logInterval,
    quiet: config.quiet,
    print: (line) => console.log(line),
    warn: (line) => process.stderr.write(line + '\n'),
    write: (text) => process.stdout.write(text),
    columns: () => process.stdout.columns || 80,
  });
  try {
    return await runInThread(options, {
      signal,
      onLog: (line, level) => (level === 'warning' ? view.warning(line) : view.line(line)),
      onStep: (step) => view.step(step),
      stepsOver: () => view.stepsOver(),
      stderrIsTTY: process.stderr.isTTY === true,
      writeStderr: (text) => process.stderr.write(text),
    }, mode);
  } finally {
    view.stepsOver(); // a run that failed mid-steps leaves its last progress on the screen
    view.close();
  }
}
