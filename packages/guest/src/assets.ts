import { open, readFile, stat } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { GuestError } from './errors.js';

/** Files a VM boots from. All absolute paths. */
export interface GuestAssets {
  /** The kernel to boot; empty when it was not required and none is there (`kernelSource` 'none'). */
  kernel: string;
  /**
   * Where the kernel came from: `SMOLVM_KERNEL`, the cached build of this package's config, or nowhere
   * (`requireKernel: false`, for an engine that brings its own kernel, and none was built).
   */
  kernelSource: 'env' | 'built' | 'none';
  initramfs: string;
  /** The default image: a busybox root file system (ext4). */
  rootfs: string;
  agentVersion: string;
}

interface Manifest {
  kernel?: string;
  initramfs: string;
  rootfs: string;
  agentVersion: string;
}

const SETUP_HINT = 'Run the project setup (`pnpm setup`, or `bash tooling/setup`), which builds the guest kernel, agent and default image.';

/** Directory holding the built initramfs, default image and manifest (`SMOLVM_GUEST_ASSETS` overrides). */
export function guestAssetsDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SMOLVM_GUEST_ASSETS) return resolve(env.SMOLVM_GUEST_ASSETS);
  return join(dirname(fileURLToPath(import.meta.url)), 'assets');
}

async function exists(p: string): Promise<boolean> {
  try {
    return (await stat(p)).isFile();
  } catch {
    return false;
  }
}

/**
 * Checks that a file looks like a kernel QEMU can boot directly: an ELF `vmlinux` (PVH entry) or an x86
 * bzImage. Catches the common mistakes (wrong path, a directory, a text file) before QEMU does, with a
 * clearer message.
 */
export async function checkKernelFile(path: string, origin: string): Promise<void> {
  let fh;
  try {
    fh = await open(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new GuestError(
      'SMOLVM_ERR_KERNEL_MISSING',
      code === 'ENOENT' ? `the kernel ${path} (${origin}) does not exist` : `cannot read the kernel ${path} (${origin}): ${code}`,
      { hint: origin === 'SMOLVM_KERNEL' ? 'Point SMOLVM_KERNEL at a vmlinux or bzImage, or unset it to use the built one.' : SETUP_HINT, cause: e },
    );
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new GuestError('SMOLVM_ERR_KERNEL_INVALID', `the kernel ${path} (${origin}) is not a file`);
    const head = Buffer.alloc(0x210);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    const isElf = bytesRead >= 4 && head.readUInt32BE(0) === 0x7f454c46;
    const isBzImage = bytesRead >= 0x206 && head.toString('latin1', 0x202, 0x206) === 'HdrS';
    if (!isElf && !isBzImage) {
      throw new GuestError('SMOLVM_ERR_KERNEL_INVALID', `${path} (${origin}) is not a Linux kernel image (neither an ELF vmlinux nor a bzImage)`, {
        hint: origin === 'SMOLVM_KERNEL' ? 'Point SMOLVM_KERNEL at a kernel built with CONFIG_PVH=y (vmlinux) or a bzImage.' : SETUP_HINT,
      });
    }
  } finally {
    await fh.close();
  }
}

export interface ResolveGuestAssetsOptions {
  /**
   * Fail when no kernel is available (default true). False for an engine that boots a kernel of its own
   * (libkrun with libkrunfw's): a missing build is then `kernelSource: 'none'`, while a `SMOLVM_KERNEL` or
   * a built kernel that is broken is still an error.
   */
  requireKernel?: boolean;
}

export async function resolveGuestAssets(env: NodeJS.ProcessEnv = process.env, options: ResolveGuestAssetsOptions = {}): Promise<GuestAssets> {
  const dir = guestAssetsDir(env);
  let manifest: Manifest;
  try {
    manifest = JSON.parse(await readFile(join(dir, 'manifest.json'), 'utf8')) as Manifest;
  } catch (e) {
    throw new GuestError('SMOLVM_ERR_GUEST_NOT_BUILT', `the guest agent and default image are not built (no ${join(dir, 'manifest.json')})`, {
      hint: SETUP_HINT,
      cause: e,
    });
  }
  const initramfs = join(dir, manifest.initramfs);
  const rootfs = join(dir, manifest.rootfs);
  for (const p of [initramfs, rootfs]) {
    if (!(await exists(p))) throw new GuestError('SMOLVM_ERR_GUEST_NOT_BUILT', `guest file ${p} is missing`, { hint: SETUP_HINT });
  }
  let kernel: string;
  let kernelSource: GuestAssets['kernelSource'];
  if (env.SMOLVM_KERNEL) {
    kernel = resolve(env.SMOLVM_KERNEL);
    kernelSource = 'env';
    await checkKernelFile(kernel, 'SMOLVM_KERNEL');
  } else if (!manifest.kernel && options.requireKernel === false) {
    kernel = '';
    kernelSource = 'none';
  } else {
    if (!manifest.kernel) {
      throw new GuestError('SMOLVM_ERR_KERNEL_MISSING', 'no guest kernel has been built (the guest was built with SMOLVM_SKIP_KERNEL)', {
        hint: `${SETUP_HINT} Or set SMOLVM_KERNEL to a kernel image.`,
      });
    }
    kernel = manifest.kernel;
    kernelSource = 'built';
    await checkKernelFile(kernel, 'the cached kernel build');
  }
  return { kernel, kernelSource, initramfs, rootfs, agentVersion: manifest.agentVersion };
}
