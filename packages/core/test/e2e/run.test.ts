// End-to-end: every test boots a real microVM with QEMU (TCG on hosts without usable KVM) on the built
// guest kernel, agent and default image. Nothing here is mocked.
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile, copyFile } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveGuestAssets } from '@smolvm/guest';
import { Machine, isSmolvmError } from '../../src/index.js';
import { isolateTmp } from './helpers.js';

const T = 120_000;
let tmp: ReturnType<typeof isolateTmp>;

beforeAll(() => {
  tmp = isolateTmp();
});

afterAll(() => {
  // Whatever happened above, no VM, socket or temp directory may outlive its run.
  try {
    expect(tmp.leftovers()).toEqual({ processes: [], entries: [] });
  } finally {
    tmp.dispose();
  }
});

async function withEnv<T>(vars: Record<string, string | undefined>, fn: () => Promise<T>): Promise<T> {
  const saved = Object.fromEntries(Object.keys(vars).map((k) => [k, process.env[k]]));
  for (const [k, v] of Object.entries(vars)) {
    if (v === undefined) delete process.env[k];
    else process.env[k] = v;
  }
  try {
    return await fn();
  } finally {
    for (const [k, v] of Object.entries(saved)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

describe('Machine.run boots a real VM', () => {
  it('runs uname in the guest kernel built from packages/guest', async () => {
    const assets = await resolveGuestAssets();
    const banner = /Linux version (\S+)/.exec(readFileSync(assets.kernel).toString('latin1'))?.[1];
    expect(banner).toBeDefined();
    const r = await Machine.run({ cmd: ['uname', '-r'] });
    expect(r).toMatchObject({ exitCode: 0, signal: null, stderr: '' });
    expect(r.stdout.trim()).toBe(banner);
    const cmdline = await Machine.run({ cmd: ['cat', '/proc/cmdline'] });
    expect(cmdline.stdout).toMatch(/smolvm\.root=\/dev\/vda/);
  }, T);

  it.each([0, 1, 42])('returns exit code %i', async (code) => {
    const r = await Machine.run({ cmd: ['sh', '-c', `exit ${code}`] });
    expect(r.exitCode).toBe(code);
  }, T);

  it('keeps stdout and stderr apart and streams them', async () => {
    const streamed: string[] = [];
    const r = await Machine.run({
      cmd: ['sh', '-c', 'echo to-out; echo to-err >&2; echo more-out'],
      onStdout: (c) => void streamed.push(`out:${c.toString()}`),
      onStderr: (c) => void streamed.push(`err:${c.toString()}`),
    });
    expect(r.stdout).toBe('to-out\nmore-out\n');
    expect(r.stderr).toBe('to-err\n');
    expect(streamed.join('')).toContain('err:to-err\n');
  }, T);

  it('applies env, working directory and resources', async () => {
    const r = await Machine.run({
      cmd: ['sh', '-c', 'echo "$GREETING|$(pwd)|$(nproc)|$(awk \'/MemTotal/ {print int($2/1024)}\' /proc/meminfo)"'],
      env: { GREETING: 'hello world' },
      cwd: '/etc',
      cpus: 2,
      memoryMiB: 300,
    });
    expect(r.exitCode).toBe(0);
    const [greeting, cwd, cpus, memMiB] = r.stdout.trim().split('|');
    expect(greeting).toBe('hello world');
    expect(cwd).toBe('/etc');
    expect(cpus).toBe('2');
    expect(Number(memMiB)).toBeGreaterThan(200);
    expect(Number(memMiB)).toBeLessThanOrEqual(300);
  }, T);

  it('gives 127 and says so when the command does not exist', async () => {
    const r = await Machine.run({ cmd: ['no-such-command', 'x'] });
    expect(r.exitCode).toBe(127);
    expect(r.stderr).toMatch(/no-such-command.*not found/);
  }, T);

  it('reports a kill by signal as 128+n', async () => {
    const r = await Machine.run({ cmd: ['sh', '-c', 'kill -TERM $$'] });
    expect(r).toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
  }, T);

  it('runs workloads in the default image, not in the initramfs', async () => {
    const r = await Machine.run({ cmd: ['cat', '/etc/os-release'] });
    expect(r.stdout).toMatch(/smolvm default image/);
  }, T);
});

describe('Machine.run fails clearly', () => {
  async function failure(fn: () => Promise<unknown>): Promise<Error & { code: string; hint?: string }> {
    try {
      await fn();
    } catch (e) {
      expect(isSmolvmError(e)).toBe(true);
      return e as Error & { code: string };
    }
    throw new Error('expected a failure');
  }

  it('refuses an empty command, 0 MiB and 999 CPUs before booting', async () => {
    expect((await failure(() => Machine.run({ cmd: [] }))).message).toMatch(/cmd must be a non-empty array/);
    expect((await failure(() => Machine.run({ cmd: ['true'], memoryMiB: 0 }))).message).toMatch(/memory must be/);
    expect((await failure(() => Machine.run({ cmd: ['true'], cpus: 999 }))).message).toMatch(/cpus must be/);
  });

  it('names a missing kernel file', async () => {
    const e = await withEnv({ SMOLVM_KERNEL: '/nonexistent/vmlinux' }, () => failure(() => Machine.run({ cmd: ['true'] })));
    expect(e.code).toBe('SMOLVM_ERR_KERNEL_MISSING');
    expect(e.message).toMatch(/\/nonexistent\/vmlinux \(SMOLVM_KERNEL\) does not exist/);
  });

  it('names a file that is not a kernel', async () => {
    const e = await withEnv({ SMOLVM_KERNEL: '/etc/hostname' }, () => failure(() => Machine.run({ cmd: ['true'] })));
    expect(e.code).toBe('SMOLVM_ERR_KERNEL_INVALID');
  });

  it('reports QEMU refusing a broken kernel, with its error', async () => {
    const dir = await mkdtemp(join(tmp.dir, '..', 'smolvm-test-'));
    try {
      const broken = join(dir, 'vmlinux');
      await writeFile(broken, Buffer.concat([Buffer.from([0x7f, 0x45, 0x4c, 0x46]), Buffer.alloc(4096, 7)]));
      const e = await withEnv({ SMOLVM_KERNEL: broken }, () => failure(() => Machine.run({ cmd: ['true'] })));
      expect(e.code).toBe('SMOLVM_ERR_QEMU_FAILED');
      expect(e.message).toMatch(/QEMU exited before the guest was up/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, T);

  it('reports a guest that cannot boot (no init in the initramfs), with the console', async () => {
    const assets = await resolveGuestAssets();
    const dir = await mkdtemp(join(tmp.dir, '..', 'smolvm-test-'));
    try {
      await writeFile(join(dir, 'initramfs.cpio'), Buffer.alloc(512));
      await copyFile(assets.rootfs, join(dir, 'rootfs.ext4'));
      await writeFile(join(dir, 'manifest.json'), JSON.stringify({ kernel: assets.kernel, initramfs: 'initramfs.cpio', rootfs: 'rootfs.ext4', agentVersion: 'x' }));
      const e = await withEnv({ SMOLVM_GUEST_ASSETS: dir }, () => failure(() => Machine.run({ cmd: ['true'] })));
      expect(e.code).toBe('SMOLVM_ERR_QEMU_FAILED');
      expect(e.hint).toMatch(/Kernel panic|No working init|Guest console/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }, T);

  it('says how to install QEMU when it is missing', async () => {
    const e = await withEnv({ SMOLVM_QEMU: '/nonexistent/qemu' }, () => failure(() => Machine.run({ cmd: ['true'] })));
    expect(e.code).toBe('SMOLVM_ERR_QEMU_NOT_FOUND');
    expect(e.hint).toMatch(/Install QEMU/);
  });
});
