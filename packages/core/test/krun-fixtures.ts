// Shared pieces of the libkrun engine tests: the stand-in libkrun of @smolvm/krun's contract tests
// (packages/krun/test/fixtures/fake-libkrun.c, compiled here the same way its global setup does), a fake
// host tree for the hypervisor checks, and fake guest files. None of this boots a VM.
import { execFile } from 'node:child_process';
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { buildCpio, type CpioEntry } from '@smolvm/guest';

export { readCalls, type Call } from '../../krun/test/helpers.js';

const run = promisify(execFile);
const fakeSource = fileURLToPath(new URL('../../krun/test/fixtures/fake-libkrun.c', import.meta.url));
const fakeKrunfwSource = fileURLToPath(new URL('../../krun/test/fixtures/fake-libkrunfw.c', import.meta.url));
export const agentDir = fileURLToPath(new URL('../../guest/agent', import.meta.url));
export const standInRunner = fileURLToPath(new URL('./krun-standin-runner.mjs', import.meta.url));

export interface KrunTestFixtures {
  dir: string;
  /** Every libkrun function. */
  full: string;
  /** No krun_has_feature, no network, no disk calls (an old or small libkrun). */
  minimal: string;
  /** No krun_create_ctx: not a usable libkrun. */
  noCore: string;
  /** `full` as `libkrun.so.1` -> `libkrun.so.1.19.0`, so the version shows in the file name. */
  versioned: string;
  /** A stand-in libkrunfw (krunfw_get_kernel, krunfw_get_version = 5), as `libkrunfw.so.5` in its own directory. */
  krunfw: string;
  /** A library that loads but is not libkrunfw (the stand-in libkrun). */
  notKrunfw: string;
  /** A fake filesystem root where /dev/kvm is usable (Linux). */
  kvmRoot: string;
  /** A fake root whose /dev/kvm is a PVM nested hypervisor. */
  pvmRoot: string;
  /** A fake root without /dev/kvm. */
  noKvmRoot: string;
}

async function compile(output: string, defines: string[], source = fakeSource): Promise<void> {
  const cc = process.env.CC ?? 'cc';
  const args = ['-shared', '-fPIC', '-O1', '-Wall', '-Wextra', '-Werror', ...defines, '-o', output, source];
  try {
    await run(cc, args);
  } catch (err) {
    throw new Error(`These tests need a C compiler for the stand-in libkrun (${cc} ${args.join(' ')}): ${(err as Error).message}`);
  }
}

async function fakeRoot(dir: string, files: Record<string, string>): Promise<string> {
  await mkdir(dir, { recursive: true });
  for (const [p, content] of Object.entries(files)) {
    await mkdir(join(dir, p, '..'), { recursive: true });
    await writeFile(join(dir, p), content);
  }
  return dir;
}

export async function makeKrunFixtures(): Promise<KrunTestFixtures> {
  const dir = await mkdtemp(join(tmpdir(), 'smolvm-krun-core-test-'));
  const ext = process.platform === 'darwin' ? 'dylib' : 'so';
  const f: KrunTestFixtures = {
    dir,
    full: join(dir, `fake-libkrun-full.${ext}`),
    minimal: join(dir, `fake-libkrun-minimal.${ext}`),
    noCore: join(dir, `fake-libkrun-nocore.${ext}`),
    versioned: join(dir, 'versioned/libkrun.so.1'),
    krunfw: join(dir, 'krunfw', process.platform === 'darwin' ? 'libkrunfw.5.dylib' : 'libkrunfw.so.5'),
    notKrunfw: '',
    kvmRoot: await fakeRoot(join(dir, 'root-kvm'), { 'dev/kvm': '', 'proc/cpuinfo': 'flags\t\t: fpu vmx sse\n' }),
    pvmRoot: await fakeRoot(join(dir, 'root-pvm'), { 'dev/kvm': '', 'sys/module/kvm_pvm/refcnt': '1', 'proc/cpuinfo': 'flags\t\t: fpu sse\n' }),
    noKvmRoot: await fakeRoot(join(dir, 'root-nokvm'), {}),
  };
  f.notKrunfw = f.full;
  await mkdir(join(dir, 'krunfw'));
  await Promise.all([
    compile(f.krunfw, [], fakeKrunfwSource),
    compile(f.full, []),
    compile(f.minimal, ['-DFAKE_NO_HAS_FEATURE', '-DFAKE_NO_NET', '-DFAKE_NO_BLK']),
    compile(f.noCore, ['-DFAKE_NO_CORE']),
  ]);
  await mkdir(join(dir, 'versioned'));
  await copyFile(f.full, join(dir, 'versioned/libkrun.so.1.19.0'));
  await symlink('libkrun.so.1.19.0', f.versioned);
  return f;
}

export async function removeKrunFixtures(f: KrunTestFixtures | undefined): Promise<void> {
  if (f) await rm(f.dir, { recursive: true, force: true });
}

/** A file that starts like an ELF vmlinux for this host's architecture (all libkrun's format check reads). */
export function fakeElfKernel(arch: string = process.arch): Buffer {
  const b = Buffer.alloc(64);
  b.writeUInt32BE(0x7f454c46, 0);
  b[4] = 2; // 64-bit
  b[5] = 1; // little endian
  b[6] = 1;
  b.writeUInt16LE(2, 16); // ET_EXEC
  b.writeUInt16LE(arch === 'arm64' ? 183 : 62, 18);
  return b;
}

/** A file that starts like an x86 bzImage ("HdrS" at 0x202). */
export function fakeBzImage(): Buffer {
  const b = Buffer.alloc(0x400);
  b.write('MZ', 0, 'latin1');
  b.write('HdrS', 0x202, 'latin1');
  return b;
}

/** An initramfs as @smolvm/guest builds it: `agent` as /init, plus the directories it mounts on. */
export async function writeFakeInitramfs(path: string, agent: Buffer): Promise<void> {
  const entries: CpioEntry[] = [
    { name: 'dev', mode: 0o40755 },
    { name: 'init', mode: 0o100755, data: agent },
    { name: 'proc', mode: 0o40755 },
  ];
  await writeFile(path, buildCpio(entries));
}

/** Builds the agent for the host (`make host`): the real agent, serving the protocol on a given fd. */
export async function buildHostAgent(outDir: string): Promise<string> {
  try {
    await run('make', ['-s', '-C', agentDir, 'host', `O=${outDir}`]);
  } catch (err) {
    const e = err as { stderr?: string; message: string };
    throw new Error(`Building the host agent (make -C ${agentDir} host) failed: ${e.stderr ?? e.message}`);
  }
  return join(outDir, 'smolvm-agent-host');
}

/** Whether a process id still names a live process (a reaped child does not). */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}
