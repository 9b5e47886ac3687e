// End-to-end: file access in a real VM through the agent's file operations.
import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';
import { isolateTmp } from './helpers.js';

const T = 120_000;
let m: Machine;
let tmp: ReturnType<typeof isolateTmp>;
beforeAll(async () => {
  tmp = isolateTmp();
  m = await Machine.boot();
}, T);
afterAll(async () => {
  await m?.stop();
  try {
    expect(tmp.leftovers()).toEqual({ processes: [], entries: [] });
  } finally {
    tmp.dispose();
  }
});

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('machine.files', () => {
  it('writes and reads binary files with their mode', async () => {
    const data = randomBytes(3 * 1024 * 1024 + 17);
    await m.files.write('/root/blob.bin', data, { mode: 0o640 });
    expect(sha(await m.files.read('/root/blob.bin'))).toBe(sha(data));
    const st = await m.files.stat('/root/blob.bin');
    expect(st).toMatchObject({ kind: 'file', mode: 0o640, sizeBytes: data.length, name: 'blob.bin' });
    const inGuest = await m.exec(['sh', '-c', 'sha256sum /root/blob.bin; stat -c %a /root/blob.bin']);
    expect(inGuest.stdout).toBe(`${sha(data)}  /root/blob.bin\n640\n`);
  }, T);

  it('streams a write from a Node stream and reads back as a stream', async () => {
    const chunks = Array.from({ length: 40 }, (_, i) => Buffer.alloc(100_000, i));
    await m.files.write('/tmp/streamed', Readable.from(chunks), { mkdirs: true });
    const back: Buffer[] = [];
    for await (const c of await m.files.readStream('/tmp/streamed')) back.push(c as Buffer);
    expect(sha(Buffer.concat(back))).toBe(sha(Buffer.concat(chunks)));
  }, T);

  it('lists, makes and removes directories', async () => {
    await m.files.mkdir('/srv/a/b/c', { parents: true, mode: 0o750 });
    await m.files.write('/srv/a/b/c/f.txt', 'x');
    await m.exec(['ln', '-s', '/etc/passwd', '/srv/a/link']);
    const entries = await m.files.list('/srv/a');
    expect(entries.map((e) => [e.name, e.kind])).toEqual([
      ['b', 'directory'],
      ['link', 'symlink'],
    ]);
    expect(entries[1]!.target).toBe('/etc/passwd');
    await expect(m.files.remove('/srv/a')).rejects.toThrow(/ENOTEMPTY/);
    await m.files.remove('/srv/a', { recursive: true });
    await expect(m.files.stat('/srv/a')).rejects.toThrow(/ENOENT/);
    // The link target was not followed by the recursive remove.
    expect((await m.exec(['test', '-f', '/etc/passwd'])).exitCode).toBe(0);
  }, T);

  it('reports errors with the errno and the path', async () => {
    await expect(m.files.read('/no/such/file')).rejects.toMatchObject({ code: 'SMOLVM_ERR_GUEST_FS', errnoName: 'ENOENT' });
    await expect(m.files.read('/etc')).rejects.toMatchObject({ errnoName: 'EISDIR' });
  }, T);

  it('keeps paths and symlinks inside the machine root', async () => {
    // In the guest, the agent's own initramfs lives outside the workload root; /init is the agent binary.
    await m.exec(['sh', '-c', 'ln -s / /tmp/rootlink; ln -s ../../../../.. /tmp/uplink']);
    const viaDots = await m.files.list('/../../..');
    const root = await m.files.list('/');
    expect(viaDots.map((e) => e.name)).toEqual(root.map((e) => e.name));
    expect(root.map((e) => e.name)).not.toContain('init');
    expect(root.map((e) => e.name)).not.toContain('smolvm');
    expect((await m.files.list('/tmp/uplink')).map((e) => e.name)).toEqual(root.map((e) => e.name));
    await m.files.write('/tmp/rootlink/tmp/through-link', 'ok');
    expect((await m.exec(['cat', '/tmp/through-link'])).stdout).toBe('ok');
  }, T);

  it('leaves no partial file when a write fails midway', async () => {
    async function* failing(): AsyncGenerator<Buffer> {
      yield Buffer.alloc(500_000, 1);
      throw new Error('source broke');
    }
    await expect(m.files.write('/root/partial.bin', failing())).rejects.toThrow(/source broke/);
    await expect(m.files.stat('/root/partial.bin')).rejects.toThrow(/ENOENT/);
    const leftovers = await m.exec(['sh', '-c', 'ls -A /root']);
    expect(leftovers.stdout).not.toMatch(/partial/);
  }, T);
});
