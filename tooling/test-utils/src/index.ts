// Shared helpers for the test suites. Never built or published: vitest loads the TypeScript directly.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** A temporary directory removed when disposed (`await using dir = await tempDir()`). */
export async function tempDir(prefix = 'smolvm-test-'): Promise<{ path: string } & AsyncDisposable> {
  const path = await mkdtemp(join(tmpdir(), prefix));
  return {
    path,
    async [Symbol.asyncDispose]() {
      await rm(path, { recursive: true, force: true });
    },
  };
}

/** Processes whose command line mentions `text` (e.g. a private temp dir that only our VMs use). */
export function processesMentioning(text: string): number[] {
  try {
    return execFileSync('pgrep', ['-f', text], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Points this test file's temporary directory (TMPDIR, which smolvm uses for VM run dirs) at a fresh
 * private one, so leak checks see only this file's VMs even when other files boot VMs in parallel.
 */
export function isolateTmp(): { dir: string; leftovers(): { processes: number[]; entries: string[] }; dispose(): void } {
  const saved = process.env.TMPDIR;
  const dir = mkdtempSync(join(tmpdir(), 'smolvm-e2e-'));
  process.env.TMPDIR = dir;
  return {
    dir,
    leftovers: () => ({ processes: processesMentioning(dir), entries: readdirSync(dir) }),
    dispose: () => {
      if (saved === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = saved;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
