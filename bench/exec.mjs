#!/usr/bin/env node
// Exec latency and throughput in a running VM, each printed as a ratio against a baseline measured in
// this same process:
//   - `exec -- true` round trip: SDK p50/p99 (in-process) and CLI p50 (`smolvm machine exec`, a new
//     process each time), against the floor: a no-op protocol PING round trip on the same channel.
//   - stdout throughput (guest `head -c` to the host) and cp throughput (files.write / files.readStream),
//     against the ceiling: the host's own `cat` of a file of the same size.
//   node bench/exec.mjs [--runs N] [--mib M]
import { spawn, spawnSync } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine } from '../packages/core/dist/index.js';

const arg = (name, def) => {
  const i = process.argv.indexOf(name);
  return i > 0 ? Number(process.argv[i + 1]) : def;
};
const runs = arg('--runs', 200);
const mib = arg('--mib', 128);
const cli = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url));
const pct = (xs, p) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))];
};
const now = () => performance.now();
const fmt = (x) => x.toFixed(2);

const work = mkdtempSync(join(tmpdir(), 'smolvm-bench-exec-'));
const env = { ...process.env, SMOLVM_HOME: join(work, 'home'), SMOLVM_QUIET: '1' };
const m = await Machine.boot({ memoryMiB: 512 });
let persistent;
try {
  // Warm-up (page cache of busybox in the guest, JIT on the host).
  for (let i = 0; i < 10; i++) await m.exec(['true']);
  const ping = [];
  const exec = [];
  for (let i = 0; i < runs; i++) {
    let t = now();
    await m.ping();
    ping.push(now() - t);
    t = now();
    await m.exec(['true']);
    exec.push(now() - t);
  }

  // CLI: a persistent machine, `smolvm machine exec NAME -- true` as a fresh process each time.
  persistent = await Machine.create('bench', { memoryMiB: 512, storageGiB: 1, hostEnv: env });
  await persistent.start();
  const cliTimes = [];
  for (let i = 0; i < Math.min(20, runs); i++) {
    const t = now();
    const r = spawnSync(process.execPath, [cli, 'machine', 'exec', 'bench', '--', 'true'], { env });
    if (r.status !== 0) throw new Error(`cli exec failed: ${r.stderr}`);
    cliTimes.push(now() - t);
  }

  // Throughput.
  const file = join(work, 'data.bin');
  writeFileSync(file, randomBytes(mib * 1024 * 1024));
  const hostCat = () =>
    new Promise((resolve, reject) => {
      const t = now();
      const c = spawn('cat', [file], { stdio: ['ignore', 'pipe', 'inherit'] });
      c.stdout.on('data', () => {});
      c.on('close', (code) => (code === 0 ? resolve(now() - t) : reject(new Error('cat failed'))));
    });
  await hostCat();
  const catMs = await hostCat();
  let t = now();
  let got = 0;
  const p = await m.spawn(['head', '-c', String(mib * 1024 * 1024), '/dev/zero'], { stdin: false });
  p.stdout.on('data', (d) => (got += d.length));
  await p.exited;
  const stdoutMs = now() - t;
  if (got !== mib * 1024 * 1024) throw new Error(`stdout lost bytes: ${got}`);
  let writeMs = NaN;
  let readMs = NaN;
  try {
    t = now();
    await m.files.write('/tmp/data.bin', createReadStream(file));
    writeMs = now() - t;
    t = now();
    let n = 0;
    for await (const c of await m.files.readStream('/tmp/data.bin')) n += c.length;
    readMs = now() - t;
    if (n !== mib * 1024 * 1024) throw new Error(`readStream lost bytes: ${n}`);
  } catch (e) {
    console.log(`cp throughput not measured: ${e.message}`);
  }
  const mbps = (ms) => (mib * 1.048576) / (ms / 1000);

  const pingP50 = pct(ping, 50);
  const result = {
    bench: 'exec',
    runs,
    pingP50Ms: +fmt(pingP50),
    sdkExecP50Ms: +fmt(pct(exec, 50)),
    sdkExecP99Ms: +fmt(pct(exec, 99)),
    cliExecP50Ms: +fmt(pct(cliTimes, 50)),
    ratioSdkP50ToPing: +fmt(pct(exec, 50) / pingP50),
    ratioSdkP99ToPing: +fmt(pct(exec, 99) / pingP50),
    ratioCliP50ToPing: +fmt(pct(cliTimes, 50) / pingP50),
    hostCatMBps: +mbps(catMs).toFixed(0),
    stdoutMBps: +mbps(stdoutMs).toFixed(1),
    cpToGuestMBps: +mbps(writeMs).toFixed(1),
    cpFromGuestMBps: +mbps(readMs).toFixed(1),
    stdoutToCat: +(catMs / stdoutMs).toFixed(4),
    cpToGuestToCat: +(catMs / writeMs).toFixed(4),
    cpFromGuestToCat: +(catMs / readMs).toFixed(4),
  };
  console.log(`ping (floor)         p50 ${result.pingP50Ms} ms`);
  console.log(`SDK exec -- true     p50 ${result.sdkExecP50Ms} ms (${result.ratioSdkP50ToPing}x ping)  p99 ${result.sdkExecP99Ms} ms (${result.ratioSdkP99ToPing}x ping)`);
  console.log(`CLI exec -- true     p50 ${result.cliExecP50Ms} ms (${result.ratioCliP50ToPing}x ping)`);
  console.log(`host cat (ceiling)   ${result.hostCatMBps} MB/s`);
  console.log(`stdout               ${result.stdoutMBps} MB/s (${result.stdoutToCat}x of host cat)`);
  console.log(`cp host->guest       ${result.cpToGuestMBps} MB/s (${result.cpToGuestToCat}x of host cat)`);
  console.log(`cp guest->host       ${result.cpFromGuestMBps} MB/s (${result.cpFromGuestToCat}x of host cat)`);
  console.log(JSON.stringify(result));
} finally {
  await m.stop();
  if (persistent) await persistent.remove({ force: true });
  rmSync(work, { recursive: true, force: true });
}
