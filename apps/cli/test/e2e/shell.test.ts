// End-to-end: `smolvm machine shell` on a stopped machine starts it and gives a usable shell, driven
// through tmux as a person would; `machine inspect` and `machine logs` describe it afterwards.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 180_000;
const work = mkdtempSync(join(tmpdir(), 'smolvm-e2e-shell-'));
const env = { ...process.env, SMOLVM_QUIET: '1', TMPDIR: join(work, 'tmp'), SMOLVM_HOME: join(work, 'home') };
mkdirSync(env.TMPDIR, { recursive: true });
const smolvm = (...args: string[]) => spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', timeout: T });
const hasTmux = spawnSync('tmux', ['-V']).status === 0;

afterAll(() => {
  smolvm('machine', 'rm', '-f', 'shelly');
  rmSync(work, { recursive: true, force: true });
}, T);

describe.skipIf(!hasTmux)('smolvm machine shell (through tmux; skipped without tmux)', () => {
  const session = `smolvm-shell-${process.pid}`;
  const screen = (): string => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
  async function waitFor(re: RegExp, ms = 60_000): Promise<void> {
    const end = Date.now() + ms;
    while (!re.test(screen())) {
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${screen()}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('starts a stopped machine and opens a shell in it', async () => {
    expect(smolvm('machine', 'create', 'shelly', '--mem', '256', '--storage', '1', '-e', 'WHO=shelly').status).toBe(0);
    const envs = Object.entries(env).map(([k, v]) => `${k}='${String(v).replace(/'/g, "'\\''")}'`).filter((e) => /^(SMOLVM_|TMPDIR|PATH)/.test(e));
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', 'sh', '-c', `env ${envs.join(' ')} ${process.execPath} ${bin} machine shell shelly; echo "shell-exit=$?"; sleep 30`);
    try {
      await waitFor(/^\/ #\s*$/m);
      execFileSync('tmux', ['send-keys', '-t', session, 'echo "I am $WHO: $((40+2))"', 'Enter']);
      await waitFor(/^I am shelly: 42$/m);
      execFileSync('tmux', ['send-keys', '-t', session, 'exit', 'Enter']);
      await waitFor(/^shell-exit=0$/m);
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
    const inspect = smolvm('machine', 'inspect', 'shelly');
    expect(inspect.stdout).toMatch(/^state\s+running$/m);
    expect(inspect.stdout).toMatch(/^env\s+WHO=shelly$/m);
    expect(JSON.parse(smolvm('machine', 'inspect', 'shelly', '--json').stdout)).toMatchObject({ name: 'shelly', state: 'running' });
  }, T);
});

function tmux(...args: string[]): void {
  execFileSync('tmux', args);
}
