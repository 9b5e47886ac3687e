#!/usr/bin/env node
// Persistent machines, each figure against a baseline measured in this same process:
//   - start of a stopped machine to its first exec, against `Machine.run(['true'])` (boot, exec, stop);
//   - host memory of an idle running machine: supervisor + VMM RSS minus the guest memory in use;
//   - elastic memory: VMM RSS at idle, after the guest fills 1 GiB, and after it frees it again
//     (virtio-balloon free page reporting hands freed pages back to the host);
//   - `smolvm machine ls` wall time with 50 machines, against `smolvm --version`.
//   node bench/machines.mjs [--runs N]
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Machine } from '../packages/core/dist/index.js';

const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 5) || 5;
const cli = fileURLToPath(new URL('../apps/cli/dist/bin.js', import.meta.url));
const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const now = () => performance.now();
const MiB = 1024 * 1024;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

const work = mkdtempSync(join(tmpdir(), 'smolvm-bench-machines-'));
const hostEnv = { ...process.env, SMOLVM_HOME: join(work, 'home'), SMOLVM_QUIET: '1' };
const out = { bench: 'machines', runs };
try {
  // 1. start -> first exec, against Machine.run.
  const m = await Machine.create('startbench', { memoryMiB: 512, storageGiB: 1, hostEnv });
  const starts = [];
  const oneshots = [];
  for (let i = 0; i < runs + 1; i++) {
    let t = now();
    await m.start();
    await m.exec(['true']);
    const ts = now() - t;
    m.disconnect();
    await m.stop();
    t = now();
    await Machine.run({ cmd: ['true'], memoryMiB: 512 });
    const tr = now() - t;
    if (i === 0) continue;
    starts.push(ts);
    oneshots.push(tr);
  }
  out.startToFirstExecMs = Math.round(median(starts));
  out.machineRunTrueMs = Math.round(median(oneshots));
  out.ratioStartToRun = +(median(starts) / median(oneshots)).toFixed(3);
  await m.remove({ force: true });

  // 2 + 3. idle memory and elastic memory.
  const big = await Machine.create('membench', { memoryMiB: 1536, storageGiB: 1, hostEnv });
  await big.start();
  await sleep(3000);
  const guestUsed = async () => {
    const s = await big.stats();
    return { s, used: s.guest.memTotalBytes - s.guest.memAvailableBytes };
  };
  const idle = await guestUsed();
  out.idleSupervisorRssMiB = +(idle.s.host.supervisorRssBytes / MiB).toFixed(1);
  out.idleVmmRssMiB = +(idle.s.host.vmmRssBytes / MiB).toFixed(1);
  out.idleGuestUsedMiB = +(idle.used / MiB).toFixed(1);
  out.idleOverheadMiB = +((idle.s.host.supervisorRssBytes + idle.s.host.vmmRssBytes - idle.used) / MiB).toFixed(1);
  // Fill 1 GiB of guest memory (a tmpfs file), then free it.
  await big.exec(['sh', '-c', 'dd if=/dev/zero of=/dev/shm/fill bs=1M count=1024 2>/dev/null']);
  const filled = await guestUsed();
  out.filledVmmRssMiB = +(filled.s.host.vmmRssBytes / MiB).toFixed(1);
  await big.exec(['rm', '/dev/shm/fill']);
  // Free page reporting runs about every 2 s in the guest; give it up to 20 s.
  let after = filled;
  for (let i = 0; i < 20; i++) {
    await sleep(1000);
    after = await guestUsed();
    if (after.s.host.vmmRssBytes < idle.s.host.vmmRssBytes + 128 * MiB) break;
  }
  out.afterFreeVmmRssMiB = +(after.s.host.vmmRssBytes / MiB).toFixed(1);
  out.afterFreeToIdle = +(after.s.host.vmmRssBytes / idle.s.host.vmmRssBytes).toFixed(3);
  big.disconnect();
  await big.remove({ force: true });

  // 4. machine ls with 50 machines.
  for (let i = 0; i < 50; i++) await Machine.create(`m${String(i).padStart(2, '0')}`, { storageGiB: 1, hostEnv });
  const ls = [];
  const ver = [];
  for (let i = 0; i < runs + 1; i++) {
    let t = now();
    const r = spawnSync(process.execPath, [cli, 'machine', 'ls'], { env: hostEnv, encoding: 'utf8' });
    if (r.status !== 0 || r.stdout.trim().split('\n').length !== 51) throw new Error(`machine ls failed: ${r.stderr}`);
    const tl = now() - t;
    t = now();
    spawnSync(process.execPath, [cli, '--version'], { env: hostEnv });
    const tv = now() - t;
    if (i === 0) continue;
    ls.push(tl);
    ver.push(tv);
  }
  out.ls50Ms = Math.round(median(ls));
  out.versionMs = Math.round(median(ver));
  out.ratioLsToVersion = +(median(ls) / median(ver)).toFixed(3);

  console.log(`start stopped machine -> first exec   median ${out.startToFirstExecMs} ms`);
  console.log(`Machine.run(['true']) (baseline)       median ${out.machineRunTrueMs} ms   ratio ${out.ratioStartToRun}x`);
  console.log(`idle machine: supervisor RSS ${out.idleSupervisorRssMiB} MiB + VMM RSS ${out.idleVmmRssMiB} MiB - guest used ${out.idleGuestUsedMiB} MiB = overhead ${out.idleOverheadMiB} MiB`);
  console.log(`elastic memory: VMM RSS idle ${out.idleVmmRssMiB} MiB, after filling 1 GiB ${out.filledVmmRssMiB} MiB, after freeing ${out.afterFreeVmmRssMiB} MiB (${out.afterFreeToIdle}x idle)`);
  console.log(`smolvm machine ls, 50 machines         median ${out.ls50Ms} ms (smolvm --version ${out.versionMs} ms, ratio ${out.ratioLsToVersion}x)`);
  console.log(JSON.stringify(out));
} finally {
  for (const r of await Machine.list({ hostEnv }).catch(() => [])) {
    await (await Machine.get(r.name, { hostEnv })).remove({ force: true }).catch(() => {});
  }
  rmSync(work, { recursive: true, force: true });
}
