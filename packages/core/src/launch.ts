// Boots one VM from the guest assets: shared by ephemeral machines (in this process) and supervisors.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { resolveGuestAssets } from '@smolvm/guest';
import type { RunningVm } from './engine.js';
import { isResolvedImage, resolveImage, type ImageInput, type ImagePullOptions, type ResolvedImage } from './images.js';
import { checkCpus, checkMemory } from './options.js';
import { selectEngine } from './select-engine.js';
import { checkVolumeHostDirs, normalizeVolumes, type VolumeInput } from './volumes.js';

export interface LaunchOptions {
  cpus?: number;
  memoryMiB?: number;
  /** Writable disk for the root file system's upper layer (persistent machines). */
  dataDisk?: string;
  balloon?: boolean;
  /**
   * Host directories to mount in the guest: `"HOST:GUEST[:ro]"` or `{ hostPath, guestPath, readOnly? }`;
   * relative host paths start from `process.cwd()`. Checked (and the host directories looked at) before boot.
   */
  volumes?: readonly VolumeInput[];
  /** Directory for the VM's sockets; a private temporary one (removed by `cleanup`) when absent. */
  runDir?: string;
  consoleLogPath?: string;
  hostEnv?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
  onNotice?: (message: string) => void;
  /** Root file system image (see `resolveImage`), or one resolved already; the default busybox image when absent or null. */
  image?: ImageInput | ResolvedImage | null;
  platform?: ImagePullOptions['platform'];
  insecureRegistry?: boolean;
  onProgress?: ImagePullOptions['onProgress'];
  /** Runs after every check and the image are done, right before the engine boots (e.g. to bind host ports). */
  beforeBoot?: () => Promise<void>;
}

export interface LaunchedVm {
  vm: RunningVm;
  /** The image the VM booted, when not the default one. */
  image: ResolvedImage | undefined;
  /** Removes what the launch created (the temporary run dir). */
  cleanup(): Promise<void>;
}

/** The image to boot: none (the default image), one resolved already, or resolved (pulled, built) now. */
async function launchImage(options: LaunchOptions, hostEnv: NodeJS.ProcessEnv): Promise<ResolvedImage | undefined> {
  const { image } = options;
  if (image === undefined || image === null) return undefined;
  if (isResolvedImage(image)) return image;
  return resolveImage(image, {
    hostEnv,
    ...(options.platform !== undefined ? { platform: options.platform } : {}),
    ...(options.insecureRegistry ? { insecureRegistry: true } : {}),
    ...(options.onProgress ? { onProgress: options.onProgress } : {}),
    ...(options.signal ? { signal: options.signal } : {}),
  });
}

export async function launchVm(options: LaunchOptions): Promise<LaunchedVm> {
  const cpus = checkCpus(options.cpus);
  const memoryMiB = checkMemory(options.memoryMiB);
  const hostEnv = options.hostEnv ?? process.env;
  const volumes = normalizeVolumes(options.volumes);
  const engine = selectEngine(hostEnv);
  engine.check();
  await checkVolumeHostDirs(volumes);
  // libkrun with libkrunfw's kernel needs no kernel of ours (on macOS there is usually none built).
  const assets = await resolveGuestAssets(hostEnv, { requireKernel: !(engine.bringsOwnKernel?.() ?? false) });
  const image = await launchImage(options, hostEnv);
  await options.beforeBoot?.();
  const ownDir = options.runDir === undefined;
  const runDir = options.runDir ?? (await mkdtemp(join(tmpdir(), 'smolvm-')));
  const cleanup = async (): Promise<void> => {
    if (ownDir) await rm(runDir, { recursive: true, force: true });
  };
  try {
    const vm = await engine.boot(
      {
        cpus,
        memoryMiB,
        kernel: assets.kernel,
        initramfs: assets.initramfs,
        rootDisk: image?.diskPath ?? assets.rootfs,
        ...(options.dataDisk ? { dataDisk: options.dataDisk } : {}),
        ...(options.balloon ? { balloon: true } : {}),
        ...(volumes.length > 0 ? { volumes } : {}),
        consoleLog: options.consoleLogPath ?? join(runDir, 'console.log'),
        runDir,
      },
      { ...(options.signal ? { signal: options.signal } : {}), ...(options.onNotice ? { onNotice: options.onNotice } : {}) },
    );
    return { vm, image, cleanup };
  } catch (e) {
    await cleanup();
    throw e;
  }
}
