// The contract between an engine and the runner process (dist/runner-main.js). Importing this file
// loads nothing native.
import { fileURLToPath } from 'node:url';
import type { KrunErrorJson } from './errors.js';

/**
 * Absolute path of the runner executable (`dist/runner-main.js`). Spawn it with
 * `spawn(process.execPath, [runnerPath, '--spec-fd', '3'], { stdio: [..., 'pipe'] })` and write the
 * JSON spec to fd 3, or omit `--spec-fd` and write the spec to its stdin.
 */
// From src/ (tests) and dist/ alike, ../dist/ is the build output.
export const runnerPath: string = fileURLToPath(new URL('../dist/runner-main.js', import.meta.url));

/** The runner's exit status when it fails before the VM starts (BSD `EX_SOFTWARE`). */
export const RUNNER_EXIT_SETUP_FAILED = 70;

/** Exit statuses of libkrun's own init inside the guest. */
export const KRUN_EXIT_INIT_SETUP_FAILED = 125;
export const KRUN_EXIT_INIT_CANNOT_EXECUTE = 126;
export const KRUN_EXIT_INIT_NOT_FOUND = 127;

/** The one JSON line the runner writes to stderr when it fails before the VM starts. */
export interface RunnerErrorLine {
  error: KrunErrorJson;
}

/** Serialises an error report as the runner's stderr line (no trailing newline). */
export function formatRunnerError(error: KrunErrorJson): string {
  const line: RunnerErrorLine = { error };
  return JSON.stringify(line);
}

/**
 * Finds the runner's error report in its stderr (the last line that parses as `{"error":{...}}`;
 * libkrun may log other lines before it). Undefined when there is none: then the exit status is the
 * workload's (or libkrun's init's), not the runner's.
 */
export function parseRunnerError(stderr: string): KrunErrorJson | undefined {
  const lines = stderr.split('\n');
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i]!.trim();
    if (!line.startsWith('{"error":')) continue;
    try {
      const parsed = JSON.parse(line) as Partial<RunnerErrorLine>;
      const error = parsed.error;
      if (error && typeof error.code === 'string' && typeof error.message === 'string') return error;
    } catch {
      // Not ours (or cut short); keep looking.
    }
  }
  return undefined;
}

/**
 * A sentence for the exit status of a runner process. 125, 126 and 127 are libkrun's init failing
 * inside the guest (a workload can also exit with them; a shell does for the same reasons). 70 is the
 * runner's own failure only when its stderr holds the JSON error line (see {@link parseRunnerError}).
 */
export function describeExitStatus(code: number | null, signal?: NodeJS.Signals | null): string {
  if (code === null) {
    return signal ? `The VM process was killed by ${signal}.` : 'The VM process ended without an exit status.';
  }
  switch (code) {
    case 0:
      return 'The workload exited successfully (status 0).';
    case RUNNER_EXIT_SETUP_FAILED:
      return 'Status 70: the libkrun runner failed before starting the VM (its stderr holds a JSON error line), or the workload itself exited with 70.';
    case KRUN_EXIT_INIT_SETUP_FAILED:
      return "Status 125: libkrun's init could not set up the environment inside the VM (mounts, rlimits, workdir, console); raise the log level to see why.";
    case KRUN_EXIT_INIT_CANNOT_EXECUTE:
      return "Status 126: libkrun's init found the program but could not execute it (not executable, wrong architecture, or a missing interpreter or loader).";
    case KRUN_EXIT_INIT_NOT_FOUND:
      return "Status 127: libkrun's init could not find the program inside the VM (the path is looked up in the guest root, not on the host).";
    default:
      return `The workload exited with status ${code}.`;
  }
}
