// End-to-end: one real VM, many processes through the SDK's exec/spawn.
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';

const T = 120_000;
let m: Machine;
beforeAll(async () => {
  m = await Machine.boot({ cpus: 2 });
}, T);
afterAll(async () => {
  await m?.stop();
});

describe('machine.exec', () => {
  it('runs many commands concurrently over the one channel', async () => {
    const results = await Promise.all(
      Array.from({ length: 12 }, (_, i) => m.exec(['sh', '-c', `sleep 0.$((${i} % 3)); echo job-${i}; exit ${i}`])),
    );
    results.forEach((r, i) => expect(r).toMatchObject({ exitCode: i, stdout: `job-${i}\n` }));
  }, T);

  it('feeds stdin from a buffer and reports EOF', async () => {
    const r = await m.exec(['sh', '-c', 'wc -c; echo eof-seen'], { stdin: Buffer.alloc(300_000, 1) });
    expect(r.stdout.trim().split(/\s+/)).toEqual(['300000', 'eof-seen']);
  }, T);

  it('caps collected output and says it was truncated', async () => {
    const r = await m.exec(['sh', '-c', 'head -c 100000 /dev/zero'], { maxOutputBytes: 1000 });
    expect(r.stdout.length).toBe(1000);
    expect(r.truncated).toBe(true);
  }, T);

  it('kills at timeoutMs and aborts on an AbortSignal', async () => {
    const t = await m.exec(['sleep', '30'], { timeoutMs: 500 });
    expect(t).toMatchObject({ timedOut: true, signal: 'SIGKILL', exitCode: 137 });
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 300);
    const a = await m.exec(['sleep', '30'], { signal: ac.signal });
    expect(a).toMatchObject({ signal: 'SIGKILL', exitCode: 137 });
  }, T);

  it('runs as another user', async () => {
    const r = await m.exec(['id', '-u'], { user: '1234:99' });
    expect(r.stdout).toBe('1234\n');
  }, T);
});

describe('machine.spawn', () => {
  it('gives Node streams: stdin in, stdout out, kill, exited', async () => {
    const p = await m.spawn(['sh', '-c', 'while read l; do echo "got:$l"; done']);
    let out = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stdin.write('a\n');
    p.stdin.end('b\n');
    const x = await p.exited;
    expect(x).toMatchObject({ exitCode: 0, signal: null });
    expect(out).toBe('got:a\ngot:b\n');
    const s = await m.spawn(['sleep', '30'], { stdin: false });
    s.kill('SIGTERM');
    expect(await s.exited).toMatchObject({ exitCode: 143, signal: 'SIGTERM' });
  }, T);

  it('a stalled reader holds back only its own stream, and loses nothing', async () => {
    // The slow process writes 4 MB that nobody reads for a while; a second process must still finish.
    const slow = await m.spawn(['sh', '-c', 'head -c 4000000 /dev/urandom | tee /tmp/slow | sha256sum > /tmp/slow.sum; cat /tmp/slow'], { stdin: false });
    slow.stdout.pause();
    const quick = await m.exec(['sh', '-c', 'echo quick']);
    expect(quick.stdout).toBe('quick\n');
    const hash = createHash('sha256');
    let bytes = 0;
    await new Promise<void>((resolve, reject) => {
      slow.stdout.pipe(
        new Writable({
          write(chunk: Buffer, _e, cb) {
            hash.update(chunk);
            bytes += chunk.length;
            setTimeout(cb, 1); // a slow consumer
          },
          final(cb) {
            cb();
            resolve();
          },
        }),
      ).on('error', reject);
    });
    await slow.exited;
    expect(bytes).toBe(4_000_000);
    const sum = await m.exec(['cat', '/tmp/slow.sum']);
    expect(sum.stdout.split(' ')[0]).toBe(hash.digest('hex'));
  }, T);

  it('runs under a pseudo-terminal with the given size', async () => {
    const r = await m.exec(['sh', '-c', 'stty size; tty'], { tty: { rows: 33, cols: 101 } });
    expect(r.stdout).toMatch(/^33 101\r?\n\/dev\/pts\/\d+/);
  }, T);

  it('answers a ping (the floor of exec latency)', async () => {
    await expect(m.ping()).resolves.toBeUndefined();
  });
});
