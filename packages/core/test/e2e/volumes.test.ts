// End-to-end: host directories mounted in a real microVM (9p under QEMU). One VM serves the read, write and
// read-only cases; the refusals happen before anything boots.
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Machine, isSmolvmError } from '../../src/index.js';
import { isolateTmp, processesMentioning } from './helpers.js';

const T = 120_000;
let tmp: ReturnType<typeof isolateTmp>;
let host: string;
let machine: Machine | undefined;

beforeAll(async () => {
  tmp = isolateTmp();
  host = join(tmp.dir, 'host');
  mkdirSync(join(host, 'rw'), { recursive: true });
  mkdirSync(join(host, 'ro'), { recursive: true });
  writeFileSync(join(host, 'rw', 'hello.txt'), 'from the host\n');
  writeFileSync(join(host, 'ro', 'keep.txt'), 'unchanged\n');
  machine = await Machine.boot({
    memoryMiB: 256,
    volumes: [
      `${join(host, 'rw')}:/data`,
      { hostPath: join(host, 'ro'), guestPath: '/srv/deep/ro', readOnly: true },
    ],
  });
}, T);

afterAll(async () => {
  try {
    await machine?.stop();
    const left = tmp.leftovers();
    // The host directory of the volumes is ours; nothing else may outlive the VM.
    expect({ processes: left.processes, entries: left.entries.filter((e) => e !== 'host') }).toEqual({ processes: [], entries: [] });
  } finally {
    tmp.dispose();
  }
}, T);

describe('volumes', () => {
  it('reads a host file through a volume', async () => {
    const r = await machine!.exec(['cat', '/data/hello.txt']);
    expect(r).toMatchObject({ exitCode: 0, stdout: 'from the host\n' });
  }, T);

  it('writes from the guest, and the host sees it', async () => {
    const r = await machine!.exec(['sh', '-c', 'mkdir -p /data/sub && echo from the guest > /data/sub/out.txt']);
    expect(r).toMatchObject({ exitCode: 0, stderr: '' });
    expect(readFileSync(join(host, 'rw', 'sub', 'out.txt'), 'utf8')).toBe('from the guest\n');
  }, T);

  it('refuses writes to a :ro volume (EROFS), creating its mount point, and leaves the host file unchanged', async () => {
    const r = await machine!.exec(['sh', '-c', 'cat /srv/deep/ro/keep.txt; echo changed > /srv/deep/ro/keep.txt; echo rc=$?; touch /srv/deep/ro/new 2>&1; grep " /srv/deep/ro " /proc/mounts']);
    expect(r.stdout).toMatch(/^unchanged\n/);
    expect(r.stdout).toMatch(/rc=[1-9]/);
    expect(`${r.stdout}${r.stderr}`).toMatch(/Read-only file system/);
    expect(r.stdout).toMatch(/^smolvm1 \/srv\/deep\/ro 9p ro[, ]/m);
    expect(readFileSync(join(host, 'ro', 'keep.txt'), 'utf8')).toBe('unchanged\n');
    expect(existsSync(join(host, 'ro', 'new'))).toBe(false);
  }, T);
});

describe('volumes refused before boot', () => {
  it('refuses a guest path with ".." with a clear coded error', async () => {
    const err = await Machine.boot({ volumes: [`${host}:/data/../etc`] }).then(
      () => new Error('booted'),
      (e: unknown) => e,
    );
    expect(isSmolvmError(err)).toBe(true);
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_INVALID_VOLUME' });
    expect((err as Error).message).toMatch(/must not contain "\.\."/);
    const obj = await Machine.boot({ volumes: [{ hostPath: host, guestPath: '/a/../../etc' }] }).catch((e: unknown) => e);
    expect(obj).toMatchObject({ code: 'SMOLVM_ERR_INVALID_VOLUME' });
    const spaced = await Machine.boot({ volumes: [{ hostPath: host, guestPath: '/my data' }] }).catch((e: unknown) => e);
    expect(spaced).toMatchObject({ code: 'SMOLVM_ERR_INVALID_VOLUME' });
  });

  it('names a missing host directory, before any VM starts', async () => {
    const missing = join(tmp.dir, 'no-such-dir');
    const before = processesMentioning(tmp.dir).length;
    const err = await Machine.boot({ volumes: [`${missing}:/data`] }).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_VOLUME_NOT_FOUND' });
    expect((err as Error).message).toBe(`volume host directory ${missing} does not exist`);
    const file = await Machine.boot({ volumes: [`${join(host, 'rw', 'hello.txt')}:/data`] }).catch((e: unknown) => e);
    expect(file).toMatchObject({ code: 'SMOLVM_ERR_VOLUME_NOT_FOUND' });
    expect((file as Error).message).toMatch(/is not a directory/);
    expect(processesMentioning(tmp.dir).length).toBe(before);
  });
});
