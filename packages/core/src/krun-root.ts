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
// The share is writable (krun_set_root has no read-only form), and a workload, root in its guest, can
// reach it (/proc/1/root) even though the agent itself never writes there. So every VM gets a directory of
// its own, made fresh at each boot and removed when the VM ends: what one guest writes there cannot reach
// another VM, a later boot, or the agent the next boot runs. It lives on disk, under the cache directory
// (`krun-root/<pid>-<random>`, pid of the process that owns the VM), not in the run directory, which is
// often a tmpfs in host memory; directories of processes that are gone are swept at the next boot.
import { randomBytes } from 'node:crypto';
import { chmod, lstat, mkdir, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ErrorCode, SmolvmError } from './errors.js';
import { isProcessAlive } from './state/process-identity.js';

/** Where libkrun's init finds the agent (the path given to krun_set_exec). */
export const KRUN_ROOT_AGENT_PATH = '/.smolvm/agent';

/** The directories of the root, all 0755 and empty. */
export const KRUN_ROOT_DIRS = ['.smolvm', 'dev', 'proc', 'sys', 'tmp', 'run', 'smolvm'] as const;

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

/**
 * Removes a VM's root directory even where its guest took permissions away (virtio-fs passes a guest's
 * chmod through): directories are made accessible to us first, walking without following symlinks.
 */
export async function removeKrunRoot(dir: string): Promise<void> {
  const open = async (d: string): Promise<void> => {
    const st = await lstat(d).catch(() => undefined);
    if (!st?.isDirectory()) return;
    await chmod(d, 0o700).catch(() => {});
    for (const name of await readdir(d).catch(() => [] as string[])) await open(join(d, name));
  };
  await open(dir);
  await rm(dir, { recursive: true, force: true });
}

/**
 * Makes a root directory for one VM under `parent` (the cache's `krun-root`), after sweeping the
 * directories of processes that are gone: the mount-point directories and the agent (0755 each, whatever
 * the umask). Returns its path; the caller removes it (`removeKrunRoot`) when the VM has ended.
 */
export async function prepareKrunRoot(agent: Buffer, parent: string): Promise<string> {
  const dir = join(parent, `${process.pid}-${randomBytes(6).toString('hex')}`);
  try {
    await mkdir(parent, { recursive: true, mode: 0o700 });
    for (const name of await readdir(parent)) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (Number.isInteger(pid) && pid > 0 && !isProcessAlive(pid)) await removeKrunRoot(join(parent, name)).catch(() => {});
    }
    await mkdir(dir, { mode: 0o755 });
    for (const d of KRUN_ROOT_DIRS) await mkdir(join(dir, d), { mode: 0o755 });
    const agentPath = join(dir, KRUN_ROOT_AGENT_PATH);
    await writeFile(agentPath, agent, { mode: 0o755, flag: 'wx' });
    for (const d of ['', ...KRUN_ROOT_DIRS]) await chmod(join(dir, d), 0o755);
    await chmod(agentPath, 0o755);
    return dir;
  } catch (e) {
    await rm(dir, { recursive: true, force: true }).catch(() => {});
    throw new SmolvmError(ErrorCode.BOOT_FAILED, `cannot make a libkrun root directory in ${parent}: ${(e as Error).message}`, {
      hint: 'Set SMOLVM_CACHE_DIR to a writable directory.',
      cause: e,
    });
  }
}
