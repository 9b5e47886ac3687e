// The root directory of a VM booted on libkrunfw's kernel. That kernel has no initramfs: libkrun shares
// a host directory as the guest's root (virtio-fs, krun_set_root), boots with `init=/init.krun` (libkrun
// serves that file itself; nothing is written to the directory for it), and its init starts the program
// named by krun_set_exec. So the directory holds our static agent and the empty directories the guest
// mounts on, nothing else:
//
//   /.smolvm/agent   the agent (0755), run by libkrun's init as PID 1 (KRUN_INIT_PID1=1)
//   /dev /proc /sys  libkrun's init mounts devtmpfs, proc and sysfs here (and cgroup2, devpts and a tmpfs
//                    below them); it creates them when missing, which would write into the directory
//   /tmp /run        the agent mounts tmpfs here
//   /smolvm          the agent mounts a tmpfs here and builds the workload root inside it
//
// The guest never writes to it (the agent refuses to create anything on the share), so one directory per
// agent build serves every VM: it is made once under the cache directory, keyed by the agent's hash,
// atomically (built under a temporary name, then renamed), and checked before each use.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, open, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, SmolvmError } from './errors.js';

/** Where libkrun's init finds the agent (the path given to krun_set_exec). */
export const KRUN_ROOT_AGENT_PATH = '/.smolvm/agent';

/** The directories of the root, all 0755 and empty. */
export const KRUN_ROOT_DIRS = ['.smolvm', 'dev', 'proc', 'sys', 'tmp', 'run', 'smolvm'] as const;

/** Bumped when the layout above changes, so an old cached directory is not reused. */
const LAYOUT_VERSION = 1;

/** `${SMOLVM_CACHE_DIR:-${XDG_CACHE_HOME:-~/.cache}/smolvm}/krun-root`, as the kernel and OCI caches. */
export function krunRootCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  const base = env.SMOLVM_CACHE_DIR || join(env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache'), 'smolvm');
  return join(base, 'krun-root');
}

const GUEST_NOT_BUILT = 'SMOLVM_ERR_GUEST_NOT_BUILT';
const pad4 = (n: number): number => (4 - (n % 4)) % 4;

/**
 * The agent inside an initramfs built by `@smolvm/guest` (an uncompressed "newc" cpio whose `init` is the
 * agent). Throws `SMOLVM_ERR_GUEST_NOT_BUILT` when the file is not such an archive.
 */
export async function agentFromInitramfs(initramfs: string): Promise<Buffer> {
  let data: Buffer;
  try {
    data = await readFile(initramfs);
  } catch (e) {
    throw new SmolvmError(GUEST_NOT_BUILT, `cannot read the initramfs ${initramfs}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, {
      hint: 'Build the guest (pnpm build), or point SMOLVM_GUEST_ASSETS at a built one.',
      cause: e,
    });
  }
  let off = 0;
  while (off + 110 <= data.length) {
    const magic = data.toString('latin1', off, off + 6);
    if (magic !== '070701' && magic !== '070702') break;
    const field = (i: number): number => parseInt(data.toString('latin1', off + 6 + i * 8, off + 14 + i * 8), 16);
    const mode = field(1);
    const size = field(6);
    const nameSize = field(11);
    const nameStart = off + 110;
    const name = data.toString('utf8', nameStart, nameStart + nameSize - 1);
    const dataStart = nameStart + nameSize + pad4(110 + nameSize);
    if (name === 'TRAILER!!!' || dataStart + size > data.length) break;
    if ((name === 'init' || name === './init') && (mode & 0o170000) === 0o100000) return data.subarray(dataStart, dataStart + size);
    off = dataStart + size + pad4(size);
  }
  throw new SmolvmError(GUEST_NOT_BUILT, `${initramfs} holds no agent (/init): it is not an initramfs built by @smolvm/guest`, {
    hint: 'Build the guest (pnpm build), or point SMOLVM_GUEST_ASSETS at a built one.',
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

/** Whether `dir` is a complete root for this agent: real directories, and the agent's exact bytes. */
async function isComplete(dir: string, agentHash: string): Promise<boolean> {
  try {
    if (!(await lstat(dir)).isDirectory()) return false;
    for (const d of KRUN_ROOT_DIRS) {
      if (!(await lstat(join(dir, d))).isDirectory()) return false;
    }
    const agent = join(dir, KRUN_ROOT_AGENT_PATH);
    const st = await lstat(agent);
    if (!st.isFile() || (st.mode & 0o111) === 0) return false;
    return sha256(await readFile(agent)) === agentHash;
  } catch {
    return false;
  }
}

async function build(tmp: string, agent: Buffer): Promise<void> {
  await mkdir(tmp, { mode: 0o755 });
  for (const d of KRUN_ROOT_DIRS) await mkdir(join(tmp, d), { mode: 0o755 });
  const agentPath = join(tmp, KRUN_ROOT_AGENT_PATH);
  await writeFile(agentPath, agent, { mode: 0o755 });
  const fh = await open(agentPath, 'r');
  try {
    await fh.sync();
  } finally {
    await fh.close();
  }
  // Exact modes, whatever the umask.
  for (const d of ['', ...KRUN_ROOT_DIRS]) await chmod(join(tmp, d), 0o755);
  await chmod(agentPath, 0o755);
}

/**
 * The root directory for `agent` (its bytes), made if needed and checked: `<cacheDir>/v1-<hash>`. Safe for
 * concurrent callers in any number of processes: each builds under its own temporary name and renames it
 * into place; a loser of the race discards its copy and uses the winner's. A directory that is incomplete
 * or whose agent differs (damaged, or changed behind our back) is moved aside and rebuilt.
 */
export async function prepareKrunRoot(agent: Buffer, options: { cacheDir?: string; env?: NodeJS.ProcessEnv } = {}): Promise<string> {
  const cacheDir = options.cacheDir ?? krunRootCacheDir(options.env);
  const hash = sha256(agent);
  const dir = join(cacheDir, `v${LAYOUT_VERSION}-${hash.slice(0, 24)}`);
  try {
    await mkdir(cacheDir, { recursive: true, mode: 0o700 });
  } catch (e) {
    throw new SmolvmError(ErrorCode.BOOT_FAILED, `cannot create ${cacheDir} for the libkrun root directory: ${(e as Error).message}`, {
      hint: 'Set SMOLVM_CACHE_DIR to a writable directory.',
      cause: e,
    });
  }
  for (let attempt = 0; attempt < 5; attempt++) {
    if (await isComplete(dir, hash)) return dir;
    const suffix = `${process.pid}-${randomBytes(6).toString('hex')}`;
    // Something is there but not right: move it aside (one rename, so a concurrent reader sees either
    // the old directory or none), then delete it.
    try {
      await lstat(dir);
      const stale = join(cacheDir, `.stale-${suffix}`);
      try {
        await rename(dir, stale);
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e; // another process moved it first
      }
      await rm(stale, { recursive: true, force: true });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') {
        throw new SmolvmError(ErrorCode.BOOT_FAILED, `cannot replace the damaged libkrun root directory ${dir}: ${(e as Error).message}`, {
          hint: `Remove ${dir} and try again.`,
          cause: e,
        });
      }
    }
    const tmp = join(cacheDir, `.tmp-${suffix}`);
    try {
      await build(tmp, agent);
      await rename(tmp, dir);
      return dir;
    } catch (e) {
      await rm(tmp, { recursive: true, force: true });
      const code = (e as NodeJS.ErrnoException).code;
      // rename(2) onto a non-empty directory: another process finished first; check its copy. (Onto
      // something that is not a directory: it is moved aside on the next round.)
      if (code === 'ENOTEMPTY' || code === 'EEXIST' || code === 'ENOTDIR') continue;
      throw new SmolvmError(ErrorCode.BOOT_FAILED, `cannot build the libkrun root directory in ${cacheDir}: ${(e as Error).message}`, {
        hint: 'Set SMOLVM_CACHE_DIR to a writable directory.',
        cause: e,
      });
    }
  }
  throw new SmolvmError(ErrorCode.BOOT_FAILED, `the libkrun root directory ${dir} kept changing while it was prepared`, {
    hint: `Something else is modifying ${cacheDir}; remove ${dir} and try again.`,
  });
}
