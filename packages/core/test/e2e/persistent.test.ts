// End-to-end: persistent machines with real supervisors and real VMs, driven through the SDK and the CLI
// interchangeably, including crashes of the supervisor and of QEMU.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Machine, isSmolvmError } from '../../src/index.js';
import { machineHome, processesMentioning, runCli } from './helpers.js';

const T = 180_000;
const h = machineHome();

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(h.env, args);

async function waitFor<T>(what: string, fn: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

const get = (name: string): Promise<Machine> => Machine.get(name, { hostEnv: h.env });

describe('persistent machines', () => {
  it('are the same machines from the SDK and the CLI', async () => {
    await Machine.create('sdk-made', { memoryMiB: 256, storageGiB: 1, hostEnv: h.env });
    const ls = await cli(['machine', 'ls', '--json']);
    expect(JSON.parse(ls.stdout).map((m: { name: string }) => m.name)).toContain('sdk-made');
    const made = await cli(['machine', 'create', 'cli-made', '--mem', '256', '--storage', '1', '-e', 'ORIGIN=cli', '-w', '/tmp']);
    expect(made).toMatchObject({ code: 0, stdout: 'cli-made\n' });
    const m = await get('cli-made');
    await m.start();
    const r = await m.exec(['sh', '-c', 'echo "$ORIGIN $(pwd)"']);
    expect(r.stdout).toBe('cli /tmp\n');
    const viaCli = await cli(['machine', 'exec', 'cli-made', '--', 'sh', '-c', 'echo "$ORIGIN"; exit 3']);
    expect(viaCli).toMatchObject({ code: 3, stdout: 'cli\n' });
    m.disconnect();
    await m.stop();
    expect((await m.inspect()).state).toBe('stopped');
  }, T);

  it('lets exactly one of two concurrent creates of a name succeed', async () => {
    const [a, b] = await Promise.all([cli(['machine', 'create', 'race', '--storage', '1']), cli(['machine', 'create', 'race', '--storage', '1'])]);
    expect([a.code, b.code].sort()).toEqual([0, 1]);
    expect((a.code === 1 ? a : b).stderr).toMatch(/machine named "race" already exists|already exists/);
  }, T);

  it('validates names and refuses to remove a running machine without -f', async () => {
    const bad = await cli(['machine', 'create', 'Not_Valid!']);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toMatch(/invalid machine name "Not_Valid!"/);
    await Machine.create('busy', { memoryMiB: 256, storageGiB: 1, hostEnv: h.env });
    const m = await get('busy');
    await m.start();
    const rm = await cli(['machine', 'rm', 'busy']);
    expect(rm.code).toBe(1);
    expect(rm.stderr).toMatch(/running/);
    const upd = await cli(['machine', 'update', 'busy', '--cpus', '2']);
    expect(upd.code).toBe(1);
    expect(upd.stderr).toMatch(/running/);
    const stop1 = await cli(['machine', 'stop', 'busy']);
    expect(stop1.code).toBe(0);
    const stop2 = await cli(['machine', 'stop', 'busy']);
    expect(stop2.stderr).toMatch(/already stopped/);
    expect((await cli(['machine', 'update', 'busy', '--cpus', '2'])).code).toBe(0);
    await m.start();
    expect((await m.exec(['nproc'])).stdout).toBe('2\n');
    m.disconnect();
    expect((await cli(['machine', 'rm', '-f', 'busy'])).code).toBe(0);
    await expect(get('busy')).rejects.toThrow(/no machine named "busy"/);
  }, T);

  it('keeps files across stop/start, runs init at every start, and shows logs and stats', async () => {
    await Machine.create('keeper', { memoryMiB: 256, storageGiB: 1, init: ['date +%s%N >> /var/starts'], hostEnv: h.env });
    const m = await get('keeper');
    await m.start();
    await m.exec(['sh', '-c', 'echo precious > /root/data']);
    await m.stop();
    await m.start();
    const r = await m.exec(['sh', '-c', 'cat /root/data; wc -l < /var/starts']);
    expect(r.stdout).toBe('precious\n2\n');
    const stats = await m.stats();
    expect(stats.guest.memTotalBytes).toBeGreaterThan(100 * 1024 * 1024);
    expect(stats.host.vmmRssBytes).toBeGreaterThan(0);
    const logs = await cli(['machine', 'logs', 'keeper']);
    expect(logs.stdout).toMatch(/==> supervisor: .*supervisor\.log <==/);
    expect(logs.stdout).toMatch(/init: date/);
    m.disconnect();
    await m.stop();
  }, T);

  it('reports a machine whose supervisor was killed -9 as stopped, and its synced files survive', async () => {
    await Machine.create('crash1', { memoryMiB: 256, storageGiB: 1, hostEnv: h.env });
    const m = await get('crash1');
    await m.start();
    await m.exec(['sh', '-c', 'echo survived > /root/f; sync']);
    m.disconnect();
    const info = await m.inspect();
    const vmm = info.status!.vmmPid!;
    process.kill(info.supervisorPid!, 'SIGKILL');
    // Never a ghost: the record reads as stopped as soon as the process is gone, and the VM powers itself
    // off (its agent sees the channel close).
    await waitFor('the record to read stopped', async () => ((await m.inspect()).state === 'stopped' ? true : undefined), 5_000);
    await waitFor('the orphaned VM to power off', async () => (processesMentioning(String(vmm)).length === 0 && !isAlive(vmm) ? true : undefined));
    await m.start();
    expect((await m.exec(['cat', '/root/f'])).stdout).toBe('survived\n');
    m.disconnect();
    await m.stop();
  }, T);

  it('notices QEMU killed -9: stopped with policy never, restarted with policy always', async () => {
    await Machine.create('crash2', { memoryMiB: 256, storageGiB: 1, hostEnv: h.env });
    const m = await get('crash2');
    await m.start();
    const vmm = (await m.inspect()).status!.vmmPid!;
    m.disconnect();
    process.kill(vmm, 'SIGKILL');
    const after = await waitFor('the record to show stopped', async () => {
      const i = await m.inspect();
      return i.state === 'stopped' ? i : undefined;
    });
    expect(after.lastExitReason).toMatch(/VM exited unexpectedly/);

    await Machine.create('phoenix', { memoryMiB: 256, storageGiB: 1, restartPolicy: 'always', restartMaxRetries: 3, hostEnv: h.env });
    const p = await get('phoenix');
    await p.start();
    const first = (await p.inspect()).status!.vmmPid!;
    process.kill(first, 'SIGKILL');
    const again = await waitFor('a restarted VM', async () => {
      const i = await p.inspect();
      return i.state === 'running' && i.status?.vmmPid && i.status.vmmPid !== first ? i : undefined;
    });
    expect(again.status!.restartCount).toBe(1);
    expect((await p.exec(['true'])).exitCode).toBe(0);
    p.disconnect();
    await p.stop();
  }, T);

  it('applies health checks: healthy when they pass; restarts, then gives up, when they fail', async () => {
    await Machine.create('healthy', { memoryMiB: 256, storageGiB: 1, health: { exec: ['true'], intervalMs: 300, retries: 2 }, hostEnv: h.env });
    const ok = await get('healthy');
    await ok.start();
    await waitFor('a passing health check', async () => ((await ok.inspect()).status?.healthy === true ? true : undefined));
    await ok.stop();

    await Machine.create('sickly', {
      memoryMiB: 256,
      storageGiB: 1,
      health: { exec: ['sh', '-c', 'exit 1'], intervalMs: 300, retries: 2 },
      restartPolicy: 'on-failure',
      restartMaxRetries: 1,
      hostEnv: h.env,
    });
    const bad = await get('sickly');
    await bad.start();
    const failed = await waitFor(
      'the machine to give up',
      async () => {
        const i = await bad.inspect();
        return i.state === 'failed' ? i : undefined;
      },
      60_000,
    );
    expect(failed.lastExitReason).toMatch(/gave up after 1 restarts/);
    expect(failed.restartCount).toBe(1);
  }, T);

  it('says why start fails when an init command fails, and leaves the machine stopped', async () => {
    await Machine.create('badinit', { memoryMiB: 256, storageGiB: 1, init: ['echo boom >&2; exit 9'], hostEnv: h.env });
    const m = await get('badinit');
    let err: unknown;
    try {
      await m.start();
    } catch (e) {
      err = e;
    }
    expect(isSmolvmError(err)).toBe(true);
    expect((err as Error).message).toMatch(/init command "echo boom >&2; exit 9" failed with exit code 9: boom/);
    expect((await m.inspect()).state).toBe('failed');
  }, T);
});

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return !/\) Z /.test(stat);
  } catch {
    return false;
  }
}

