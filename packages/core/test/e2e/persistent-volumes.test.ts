// End-to-end: host directories mounted in a persistent machine at every start (9p under QEMU), made by the
// CLI and used through the SDK; checked when the machine is created, not only when it starts.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';
import { machineHome, runCli } from './helpers.js';

const T = 180_000;
// The volume limit checked here is QEMU's: make sure QEMU is the engine, whatever the host has.
const h = machineHome({ SMOLVM_ENGINE: 'qemu' });
let host: string;
beforeAll(() => {
  host = h.dir('host');
});

describe('volumes of a persistent machine', () => {
  it('are mounted at every start, writable or read-only, and shown by inspect', async () => {
    mkdirSync(join(host, 'rw'));
    mkdirSync(join(host, 'ro'));
    writeFileSync(join(host, 'rw', 'from-host.txt'), 'hello from the host\n');
    writeFileSync(join(host, 'ro', 'keep.txt'), 'unchanged\n');
    const made = await runCli({ ...h.env, PWD: host }, ['machine', 'create', 'vols', '--mem', '256', '--storage', '1', '-v', `${join(host, 'rw')}:/data`, '-v', `${join(host, 'ro')}:/srv/ro:ro`]);
    expect(made).toMatchObject({ code: 0, stdout: 'vols\n' });
    const inspect = await runCli(h.env, ['machine', 'inspect', 'vols']);
    expect(inspect.stdout).toMatch(new RegExp(`^volumes\\s+${join(host, 'rw')}:/data, ${join(host, 'ro')}:/srv/ro:ro$`, 'm'));

    const m = await Machine.get('vols', { hostEnv: h.env });
    await m.start();
    try {
      expect((await m.exec(['cat', '/data/from-host.txt'])).stdout).toBe('hello from the host\n');
      expect((await m.exec(['sh', '-c', 'echo from the guest > /data/from-guest.txt'])).exitCode).toBe(0);
      const ro = await m.exec(['sh', '-c', 'echo no > /srv/ro/keep.txt']);
      expect(ro.exitCode).not.toBe(0);
      expect(ro.stderr).toMatch(/Read-only file system/);
      m.disconnect();
      await m.restart();
      // Mounted again after a restart, and the host sees what the guest wrote.
      expect((await m.exec(['cat', '/data/from-guest.txt'])).stdout).toBe('from the guest\n');
    } finally {
      m.disconnect();
      await m.stop();
    }
    expect(readFileSync(join(host, 'rw', 'from-guest.txt'), 'utf8')).toBe('from the guest\n');
    expect(readFileSync(join(host, 'ro', 'keep.txt'), 'utf8')).toBe('unchanged\n');
  }, T);

  it('are refused when created with a missing host directory or more than QEMU can mount, leaving no machine', async () => {
    const missing = await runCli(h.env, ['machine', 'create', 'bad', '-v', `${join(host, 'nope')}:/x`]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`volume host directory ${join(host, 'nope')} does not exist`);
    const dirs = ['a', 'b', 'c'].map((d) => {
      mkdirSync(join(host, d), { recursive: true });
      return `${join(host, d)}:/${d}`;
    });
    await expect(Machine.create('bad', { volumes: dirs, hostEnv: h.env })).rejects.toMatchObject({
      code: 'SMOLVM_ERR_INVALID_VOLUME',
      message: 'too many volumes for a persistent machine under QEMU: 3; it can have at most 2',
    });
    expect((await Machine.list({ hostEnv: h.env })).map((r) => r.name)).not.toContain('bad');
  }, T);
});
