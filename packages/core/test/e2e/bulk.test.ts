// End-to-end: 1 GiB of stdout through the VM boundary arrives complete, and memory stays bounded on both
// sides (the host process and the guest agent) while a deliberately slow consumer reads it.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';
import { isolateTmp } from './helpers.js';

const T = 600_000;
const GiB = 1024 * 1024 * 1024;
let m: Machine;
let tmp: ReturnType<typeof isolateTmp>;
beforeAll(async () => {
  tmp = isolateTmp();
  m = await Machine.boot({ memoryMiB: 512 });
}, T);
afterAll(async () => {
  await m?.stop();
  try {
    expect(tmp.leftovers()).toEqual({ processes: [], entries: [] });
  } finally {
    tmp.dispose();
  }
});

describe('bulk output', () => {
  it('delivers 1 GiB of stdout completely with bounded memory', async () => {
    const rssBefore = process.memoryUsage().rss;
    let peakRss = rssBefore;
    const sampler = setInterval(() => {
      peakRss = Math.max(peakRss, process.memoryUsage().rss);
    }, 50);
    const p = await m.spawn(['head', '-c', String(GiB), '/dev/zero'], { stdin: false });
    let bytes = 0;
    let chunks = 0;
    for await (const chunk of p.stdout) {
      bytes += (chunk as Buffer).length;
      // Every so often the consumer stalls, so the guest must wait on credit rather than buffer.
      if (++chunks % 2000 === 0) await new Promise((r) => setTimeout(r, 20));
    }
    const exit = await p.exited;
    clearInterval(sampler);
    expect(exit.exitCode).toBe(0);
    expect(bytes).toBe(GiB);
    // Host: the process never held more than a few windows of data (generous bound for GC slack).
    expect(peakRss - rssBefore).toBeLessThan(128 * 1024 * 1024);
    // Guest: the agent's peak resident memory stayed small.
    const status = await m.exec(['cat', '/proc/1/status']);
    const hwmKiB = Number(/VmHWM:\s+(\d+) kB/.exec(status.stdout)?.[1]);
    expect(hwmKiB).toBeGreaterThan(0);
    expect(hwmKiB).toBeLessThan(16 * 1024);
  }, T);
});
