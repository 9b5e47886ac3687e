// Builds what the contract tests need, once per run: the stand-in libkrun (test/fixtures/fake-libkrun.c)
// in three variants with the system C compiler, and this package's dist/ (the runner is spawned from it).
import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { TestProject } from 'vitest/node';

const run = promisify(execFile);
const packageDir = fileURLToPath(new URL('..', import.meta.url));
const source = join(packageDir, 'test/fixtures/fake-libkrun.c');

export interface KrunFixtures {
  /** Scratch directory of this run. */
  dir: string;
  /** Every libkrun.h function. */
  full: string;
  /** No krun_has_feature, no network calls, no disk calls (an older or smaller libkrun). */
  minimal: string;
  /** No krun_create_ctx: loads, but is not a usable libkrun. */
  noCore: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    krunFixtures: KrunFixtures;
  }
}

async function compile(output: string, defines: string[]): Promise<void> {
  const cc = process.env.CC ?? 'cc';
  const args = ['-shared', '-fPIC', '-O1', '-Wall', '-Wextra', '-Werror', ...defines, '-o', output, source];
  try {
    await run(cc, args);
  } catch (err) {
    throw new Error(
      `The contract tests need a C compiler to build their stand-in libkrun (${cc} ${args.join(' ')}): ${(err as Error).message}`,
    );
  }
}

export async function setup(project: TestProject): Promise<() => Promise<void>> {
  const dir = await mkdtemp(join(tmpdir(), 'smolvm-krun-test-'));
  const ext = process.platform === 'darwin' ? 'dylib' : 'so';
  const fixtures: KrunFixtures = {
    dir,
    full: join(dir, `fake-libkrun-full.${ext}`),
    minimal: join(dir, `fake-libkrun-minimal.${ext}`),
    noCore: join(dir, `fake-libkrun-nocore.${ext}`),
  };
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  await Promise.all([
    compile(fixtures.full, []),
    compile(fixtures.minimal, ['-DFAKE_NO_HAS_FEATURE', '-DFAKE_NO_NET', '-DFAKE_NO_BLK']),
    compile(fixtures.noCore, ['-DFAKE_NO_CORE']),
    run(process.execPath, [tsc, '-b'], { cwd: packageDir }).catch((err: { stdout?: string; message: string }) => {
      throw new Error(`tsc -b failed in ${packageDir}:\n${err.stdout ?? err.message}`);
    }),
  ]);
  project.provide('krunFixtures', fixtures);
  return async () => {
    await rm(dir, { recursive: true, force: true });
  };
}
