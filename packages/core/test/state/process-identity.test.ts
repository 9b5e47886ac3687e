import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { isProcessAlive, processStartTime } from '../../src/state/index.js';
import { spawnSleeper } from './helpers.js';

describe('process identity', () => {
  it('gives this process a stable start time and calls it alive', () => {
    const t = processStartTime(process.pid);
    expect(t).toMatch(/\S/);
    expect(processStartTime(process.pid)).toBe(t);
    expect(isProcessAlive(process.pid, t)).toBe(true);
    expect(isProcessAlive(process.pid)).toBe(true);
  });

  it('tells a reused pid from the recorded process by its start time', () => {
    expect(isProcessAlive(process.pid, 'not-the-start-time')).toBe(false);
  });

  it('has no start time for a process that is gone', async () => {
    const sleeper = spawnSleeper();
    const t = processStartTime(sleeper.pid);
    expect(t).toBeDefined();
    expect(isProcessAlive(sleeper.pid, t)).toBe(true);
    await sleeper.killHard();
    expect(processStartTime(sleeper.pid)).toBeUndefined();
    expect(isProcessAlive(sleeper.pid, t)).toBe(false);
    expect(isProcessAlive(sleeper.pid)).toBe(false);
  });

  it.each([0, -1, 1.5, Number.NaN, 2 ** 40])('calls pid %s not alive', (pid) => {
    expect(isProcessAlive(pid)).toBe(false);
    expect(processStartTime(pid)).toBeUndefined();
  });

  it.runIf(process.platform === 'linux')('calls a zombie (exited, not reaped) not alive', async () => {
    // sh starts a short sleep in the background, prints its pid, then becomes a long `sleep`, which never reaps
    // it: the short one ends while its parent is no longer a shell.
    const parent = spawn('sh', ['-c', 'sleep 0.2 & echo $!; exec sleep 10'], { stdio: ['ignore', 'pipe', 'ignore'] });
    try {
      const pid = Number(await new Promise<string>((resolve) => parent.stdout.once('data', (d: Buffer) => resolve(d.toString()))));
      expect(isProcessAlive(pid)).toBe(true);
      let zombie = false;
      for (let i = 0; i < 150 && !zombie; i++) {
        zombie = / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
        if (!zombie) await new Promise((r) => setTimeout(r, 20));
      }
      expect(zombie).toBe(true);
      expect(isProcessAlive(pid)).toBe(false);
    } finally {
      parent.kill('SIGKILL');
    }
  });
});
