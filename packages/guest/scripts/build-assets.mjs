#!/usr/bin/env node
// Builds what a VM boots from into dist/assets: the static agent, the initramfs holding it, the default
// busybox image (ext4) and, unless SMOLVM_SKIP_KERNEL=1, the guest kernel (cached in the user cache dir by
// config hash, so only the first build takes minutes). Run by the package's `build` after tsc.
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildExt4, writeInitramfs } from '../dist/index.js';

const pkg = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(pkg, 'dist', 'assets');
const buildDir = join(pkg, 'build');
mkdirSync(out, { recursive: true });
mkdirSync(buildDir, { recursive: true });
const log = (m) => process.stderr.write(`[guest] ${m}\n`);

function must(cmd, args, opts = {}) {
  const r = spawnSync(cmd, args, { stdio: ['ignore', 'inherit', 'inherit'], ...opts });
  if (r.error) throw new Error(`${cmd}: ${r.error.message}`);
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited with ${r.status}`);
  return r;
}

// 1. agent (static, musl)
log('building the agent (musl-gcc -static)');
must('make', ['-s', '-C', join(pkg, 'agent'), `O=${buildDir}`]);
const agent = join(buildDir, 'smolvm-agent');
const agentVersion = JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')).version;

// 2. initramfs
await writeInitramfs(agent, join(out, 'initramfs.cpio'));

// 3. default image: busybox-static and the files a shell expects
const busybox = process.env.SMOLVM_BUSYBOX ?? ['/bin/busybox', '/usr/bin/busybox'].find((p) => existsSync(p));
if (!busybox) throw new Error('busybox not found: install busybox-static (Debian/Ubuntu) or set SMOLVM_BUSYBOX');
const elf = readFileSync(busybox);
const phoff = Number(elf.readBigUInt64LE(0x20));
const phnum = elf.readUInt16LE(0x38);
for (let i = 0; i < phnum; i++) {
  if (elf.readUInt32LE(phoff + i * 56) === 3) throw new Error(`${busybox} is dynamically linked: install busybox-static`);
}
const stage = mkdtempSync(join(tmpdir(), 'smolvm-rootfs-'));
try {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'proc', 'sys', 'dev', 'run', 'root', 'home', 'mnt', 'var/log', 'var/tmp', 'tmp']) {
    mkdirSync(join(stage, d), { recursive: true });
  }
  chmodSync(join(stage, 'tmp'), 0o1777);
  chmodSync(join(stage, 'var/tmp'), 0o1777);
  chmodSync(join(stage, 'root'), 0o700);
  copyFileSync(busybox, join(stage, 'bin/busybox'));
  chmodSync(join(stage, 'bin/busybox'), 0o755);
  const applets = spawnSync(busybox, ['--list-full'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
  for (const a of applets) {
    if (a === 'bin/busybox' || a.includes('..') || !a.includes('/')) continue;
    const depth = a.split('/').length - 1; // directories between the root and the link
    const target = a.startsWith('bin/') && depth === 1 ? 'busybox' : '../'.repeat(depth) + 'bin/busybox';
    try {
      symlinkSync(target, join(stage, a));
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
    }
  }
  writeFileSync(join(stage, 'etc/passwd'), 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  writeFileSync(join(stage, 'etc/group'), 'root:x:0:\nnogroup:x:65534:\n');
  writeFileSync(join(stage, 'etc/hostname'), 'smolvm\n');
  writeFileSync(join(stage, 'etc/hosts'), '127.0.0.1 localhost\n::1 localhost\n');
  writeFileSync(join(stage, 'etc/os-release'), 'NAME="smolvm default image"\nID=smolvm\nPRETTY_NAME="smolvm default image (busybox)"\n');
  await buildExt4({ sourceDir: stage, output: join(out, 'rootfs.ext4'), sizeMiB: 64, label: 'smolvm-root', rootOwned: true });
} finally {
  rmSync(stage, { recursive: true, force: true });
}
log(`default image: busybox with ${applets_count()} applets`);
function applets_count() {
  return spawnSync(busybox, ['--list'], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean).length;
}

// 4. kernel
let kernel;
if (process.env.SMOLVM_SKIP_KERNEL === '1') {
  log('SMOLVM_SKIP_KERNEL=1: not building the kernel (set SMOLVM_KERNEL to boot one)');
} else {
  const r = spawnSync('bash', [join(pkg, 'scripts', 'build-kernel.sh')], { stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error('kernel build failed (see above)');
  kernel = r.stdout.trim().split('\n').pop();
}

const manifest = { kernel, initramfs: 'initramfs.cpio', rootfs: 'rootfs.ext4', agentVersion };
writeFileSync(join(out, 'manifest.json.tmp'), JSON.stringify(manifest, null, 2) + '\n');
renameSync(join(out, 'manifest.json.tmp'), join(out, 'manifest.json'));
log(`assets ready in ${out}`);
