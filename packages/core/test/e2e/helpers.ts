// Shared by the end-to-end tests: leak checks (from the shared test utilities), the built CLI, and the
// teardown of a test's persistent machines.
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, expect } from 'vitest';
import { isolateTmp } from '@smolvm/test-utils';
import { Machine } from '../../src/index.js';

export { isolateTmp, processesMentioning } from '@smolvm/test-utils';

type Tmp = ReturnType<typeof isolateTmp>;

const cliBin = fileURLToPath(new URL('../../../../apps/cli/dist/bin.js', import.meta.url));

/** Runs the built `smolvm` CLI with `env`; resolves with its exit code and output. */
export function runCli(env: NodeJS.ProcessEnv, args: string[]): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [cliBin, ...args], { env });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

/**
 * Removes every machine of `env`'s SMOLVM_HOME (stopping running ones), then checks that no supervisor, VM
 * or socket outlived them in `tmp` (the per-user runtime base of persistent machines may stay, empty), and
 * disposes of `tmp`.
 */
export async function removeMachinesAndCheck(env: NodeJS.ProcessEnv, tmp: Tmp, cleanup: () => void = () => {}): Promise<void> {
  for (const m of await Machine.list({ hostEnv: env }).catch(() => [])) await (await Machine.get(m.name, { hostEnv: env })).remove({ force: true });
  cleanup();
  try {
    const left = tmp.leftovers();
    expect(left.processes).toEqual([]);
    for (const e of left.entries) expect(readdirSync(join(tmp.dir, e))).toEqual([]);
  } finally {
    tmp.dispose();
  }
}

export interface MachineHome {
  /** `process.env` with SMOLVM_HOME (a private one), SMOLVM_QUIET and the extra variables. */
  readonly env: NodeJS.ProcessEnv;
  /** The private TMPDIR the leak checks look at. */
  readonly tmp: Tmp;
  /** A new directory in the private TMPDIR, removed with it. */
  dir(prefix: string): string;
}

/**
 * A test file's own SMOLVM_HOME in a private TMPDIR, made before its tests; after them every machine is
 * removed and nothing may be left running or lying there (`removeMachinesAndCheck`).
 */
export function machineHome(extraEnv: NodeJS.ProcessEnv = {}, timeoutMs = 180_000): MachineHome {
  const dirs: string[] = [];
  const h = {
    env: {} as NodeJS.ProcessEnv,
    tmp: undefined as unknown as Tmp,
    dir(prefix: string): string {
      const d = mkdtempSync(join(h.tmp.dir, `${prefix}-`));
      dirs.push(d);
      return d;
    },
  };
  beforeAll(() => {
    h.tmp = isolateTmp();
    h.env = { ...process.env, SMOLVM_HOME: h.dir('home'), SMOLVM_QUIET: '1', ...extraEnv };
  });
  afterAll(() => removeMachinesAndCheck(h.env, h.tmp, () => dirs.forEach((d) => rmSync(d, { recursive: true, force: true }))), timeoutMs);
  return h;
}
