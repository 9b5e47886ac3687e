// Shared pieces of the contract tests: the stand-in library's call records, and child processes.
import { spawn } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type * as KoffiTypes from 'koffi';
import { inject } from 'vitest';
import type { KrunFixtures } from './global-setup.js';

export const packageDir = fileURLToPath(new URL('..', import.meta.url));
export const distIndex = join(packageDir, 'dist/index.js');
export const distRunner = join(packageDir, 'dist/runner-main.js');

export function fixtures(): KrunFixtures {
  return inject('krunFixtures');
}

/** One call recorded by the stand-in libkrun. */
export interface Call {
  fn: string;
  args: unknown[];
  ret: number;
}

export function readCalls(logFile: string): Call[] {
  if (!existsSync(logFile)) return [];
  return readFileSync(logFile, 'utf8')
    .split('\n')
    .filter((line) => line.length > 0)
    .map((line) => JSON.parse(line) as Call);
}

type Koffi = typeof KoffiTypes;

/** Calls fake_krun_reset() of a stand-in library (contexts restart at 0). */
export function resetFake(libraryPath: string): void {
  const koffi = createRequire(import.meta.url)('koffi') as Koffi;
  koffi.load(libraryPath).func('void fake_krun_reset(void)')();
}

export interface ChildResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

export interface RunNodeOptions {
  env?: NodeJS.ProcessEnv;
  /** Written to the child's stdin (then closed). */
  stdin?: string;
  /** Written to the child's fd 3 (a pipe; then closed). */
  fd3?: string;
  /** Write stdin / fd 3 only after this long (a slow engine). */
  writeDelayMs?: number;
  timeoutMs?: number;
}

/** Runs `node ...args` and collects its output and exit status. */
export function runNode(args: readonly string[], options: RunNodeOptions = {}): Promise<ChildResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: packageDir,
      env: options.env ?? process.env,
      stdio: ['pipe', 'pipe', 'pipe', ...(options.fd3 !== undefined ? (['pipe'] as const) : [])],
    });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 15_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    const write = () => {
      child.stdin!.on('error', () => {});
      child.stdin!.end(options.stdin ?? '');
      if (options.fd3 !== undefined) {
        const fd3 = child.stdio[3] as NodeJS.WritableStream;
        fd3.on('error', () => {});
        fd3.end(options.fd3);
      }
    };
    if (options.writeDelayMs) setTimeout(write, options.writeDelayMs);
    else write();
  });
}

/** The environment for a child that must see exactly these libkrun-related variables. */
export function childEnv(vars: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const key of Object.keys(env)) {
    if (key.startsWith('FAKE_KRUN_') || key === 'SMOLVM_LIBKRUN') delete env[key];
  }
  for (const [key, value] of Object.entries(vars)) if (value !== undefined) env[key] = value;
  return env;
}
