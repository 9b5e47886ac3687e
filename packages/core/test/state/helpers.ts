// Helpers for the state tests: a private SMOLVM_HOME per test, and a JavaScript build of the state layer that
// child processes (real, separate processes contending on one database) can import.
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** A temp dir holding `home` (a SMOLVM_HOME that does not exist yet); removed on dispose. */
export async function tempHome(): Promise<{ root: string; home: string } & AsyncDisposable> {
  const root = await mkdtemp(join(tmpdir(), 'smolvm-state-'));
  return {
    root,
    home: join(root, 'home'),
    async [Symbol.asyncDispose]() {
      await rm(root, { recursive: true, force: true });
    },
  };
}

/**
 * Compiles src/state (and what it imports) to JavaScript under the package's node_modules/.cache (so the
 * output resolves better-sqlite3 like the package does) and returns the path of its index.js. Only the state
 * layer's own import graph is compiled, so work in progress elsewhere in src/ cannot break these tests.
 */
export async function buildStateLayer(): Promise<{ index: string; dir: string } & AsyncDisposable> {
  const cache = join(pkgDir, 'node_modules', '.cache');
  await mkdir(cache, { recursive: true });
  const dir = await mkdtemp(join(cache, 'state-test-'));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await promisify(execFile)(process.execPath, [
    tsc,
    '--outDir', dir,
    '--rootDir', join(pkgDir, 'src'),
    '--module', 'nodenext',
    '--moduleResolution', 'nodenext',
    '--target', 'es2022',
    '--types', 'node',
    '--skipLibCheck',
    '--noCheck',
    join(pkgDir, 'src/state/index.ts'),
  ], { cwd: pkgDir });
  return {
    dir,
    index: join(dir, 'state', 'index.js'),
    async [Symbol.asyncDispose]() {
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export interface ChildResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Writes `source` (an ES module) to `dir` and runs it with node; resolves when it exits. */
export async function runModule(dir: string, fileName: string, source: string, args: string[] = [], timeoutMs = 30_000): Promise<ChildResult> {
  const file = join(dir, fileName);
  await writeFile(file, source);
  return await new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** A long-lived child process (a stand-in supervisor) and a way to kill it -9 and wait until it is reaped. */
export function spawnSleeper(): { child: ChildProcess; pid: number; killHard(): Promise<void> } {
  const child = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    child,
    pid: child.pid!,
    async killHard() {
      child.kill('SIGKILL');
      await exited;
    },
  };
}
