// Noticing that the process that launched us is gone. Under `npx tsx train.ts` a
// supervisor's SIGTERM to npx stops npm's shell, but the tsx launcher and this process
// run on, orphaned, with no signal: every quarter second, look whether the tsx launcher
// (our parent) still has the parent it had. Linux only (/proc); elsewhere, and when
// not started by tsx's launcher (signals then reach us directly), it does nothing.
import { readFileSync } from 'node:fs';

function parentOf(pid: number): number | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return null;
  }
}

function commandOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
  } catch {
    return '';
  }
}

// Calls onOrphaned once when our launcher's parent, or our parent, changes.
export function watchLauncher(onOrphaned: () => void, everyMs = 250): void {
  const launcher = process.ppid;
  if (!/\btsx\b/.test(commandOf(launcher))) return;
  const launcherParent = parentOf(launcher);
  if (launcherParent === null) return;
  const timer = setInterval(() => {
    if (process.ppid !== launcher || parentOf(launcher) !== launcherParent) {
      clearInterval(timer);
      onOrphaned();
    }
  }, everyMs);
  timer.unref();
}
