#!/usr/bin/env node
// Cold start: median wall time of `smolvm machine run -- true` (a new process each time: CLI start, boot,
// handshake, exec, shutdown) against the floor: plain QEMU with the same machine type, devices, kernel and
// root disk, where the kernel mounts the root disk itself and runs `init=/bin/true` from it (the least work
// that runs `true` from that disk: PID 1 exits, the kernel panics and resets at once). A second reference
// boots a trivial static init from an initramfs that never touches the disk. All run interleaved in this
// one process, so the ratios hold on a noisy machine even when absolute times drift. Also reports the CLI's
// own start-up (`--version`).
//   node bench/cold-start.mjs [--runs N]
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveGuestAssets, writeInitramfs } from '../packages/guest/dist/index.js';
import { chooseAccelerator, findQemu, qemuArgs } from '../packages/core/dist/index.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const cli = join(root, 'apps/cli/dist/bin.js');
const runs = Number(process.argv[process.argv.indexOf('--runs') + 1] || 7) || 7;

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};

function time(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'], ...opts });
    let err = '';
    child.stderr.on('data', (d) => (err += d));
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0) reject(new Error(`${cmd} ${args.slice(0, 3).join(' ')} exited ${code}: ${err.slice(-500)}`));
      else resolve(ms);
    });
  });
}

const work = mkdtempSync(join(tmpdir(), 'smolvm-bench-'));
try {
  // The floor's init: a static program whose only act is to reboot (which ends QEMU, as -no-reboot is set).
  writeFileSync(join(work, 'init.c'), '#include <sys/reboot.h>\n#include <unistd.h>\nint main(void){sync();reboot(RB_AUTOBOOT);return 0;}\n');
  const cc = spawnSync('musl-gcc', ['-static', '-Os', '-o', join(work, 'init'), join(work, 'init.c')], { stdio: 'inherit' });
  if (cc.status !== 0) throw new Error('musl-gcc failed: install musl-tools');
  await writeInitramfs(join(work, 'init'), join(work, 'floor.cpio'));

  const assets = await resolveGuestAssets();
  const qemu = findQemu();
  const accel = chooseAccelerator();
  // Same machine, devices and disk as smolvm's; the agent socket is a listening server nobody uses.
  const floorArgs = (kind) => {
    const dir = mkdtempSync(join(work, 'f-'));
    const args = qemuArgs({ cpus: 1, memoryMiB: 512, kernel: assets.kernel, initramfs: join(work, 'floor.cpio'), rootDisk: assets.rootfs, consoleLog: join(dir, 'console.log'), runDir: dir }, accel, join(dir, 'agent.sock'));
    if (kind === 'disk') {
      const i = args.indexOf('-initrd');
      args.splice(i, 2);
      const a = args.indexOf('-append');
      args[a + 1] = 'console=ttyS0 reboot=t panic=-1 quiet loglevel=3 root=/dev/vda ro rootfstype=ext4 init=/bin/true';
    }
    return { dir, args };
  };
  const floorRun = async (kind) => {
    const f = floorArgs(kind);
    const server = createServer((s) => s.on('error', () => {}));
    await new Promise((r) => server.listen(join(f.dir, 'agent.sock'), r));
    try {
      return await time(qemu.path, f.args);
    } finally {
      server.close();
    }
  };
  const { createServer } = await import('node:net');

  const floor = [];
  const initOnly = [];
  const smol = [];
  const version = [];
  process.stderr.write(`cold-start: ${runs} runs each, accelerator ${accel.accel}\n`);
  for (let i = 0; i < runs + 1; i++) {
    const tf = await floorRun('disk');
    const ti = await floorRun('initramfs');
    const ts = await time(process.execPath, [cli, 'machine', 'run', '--', 'true'], { env: { ...process.env, SMOLVM_QUIET: '1' } });
    const tv = await time(process.execPath, [cli, '--version']);
    if (i === 0) continue; // warm-up: page cache, first QEMU start
    floor.push(tf);
    initOnly.push(ti);
    smol.push(ts);
    version.push(tv);
  }
  const mf = median(floor);
  const mi = median(initOnly);
  const ms = median(smol);
  const mv = median(version);
  const result = {
    bench: 'cold-start',
    runs,
    accelerator: accel.accel,
    floorMs: Math.round(mf),
    initramfsOnlyMs: Math.round(mi),
    smolvmRunMs: Math.round(ms),
    cliStartupMs: Math.round(mv),
    ratio: +(ms / mf).toFixed(3),
    ratioWithoutCliStartup: +((ms - mv) / mf).toFixed(3),
    ratioVsInitramfsOnly: +((ms - mv) / mi).toFixed(3),
  };
  console.log(`floor: plain QEMU, same disk, init=/bin/true      median ${result.floorMs} ms`);
  console.log(`reference: trivial init in initramfs, no disk     median ${result.initramfsOnlyMs} ms`);
  console.log(`smolvm machine run -- true                        median ${result.smolvmRunMs} ms`);
  console.log(`smolvm --version (CLI start-up)                   median ${result.cliStartupMs} ms`);
  console.log(`ratio run/floor                                   ${result.ratio}x`);
  console.log(`ratio (run - CLI start-up)/floor                  ${result.ratioWithoutCliStartup}x   (target <= 1.15x)`);
  console.log(`ratio (run - CLI start-up)/initramfs-only         ${result.ratioVsInitramfsOnly}x`);
  console.log(JSON.stringify(result));
} finally {
  rmSync(work, { recursive: true, force: true });
}
