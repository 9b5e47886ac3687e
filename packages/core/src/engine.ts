import type { AgentConnection, HelloInfo } from '@smolvm/protocol';

/** What an engine needs to start a VM. Paths are absolute. */
export interface VmSpec {
  cpus: number;
  memoryMiB: number;
  kernel: string;
  initramfs: string;
  /** Read-only base root file system (ext4). */
  rootDisk: string;
  /** Extra kernel command line. */
  kernelArgs?: string[];
  /** File that receives the guest console (kernel messages, agent log). */
  consoleLog: string;
  /** Directory for sockets and other runtime files of this VM (private to the user). */
  runDir: string;
  /** How long the guest may take to boot and answer the handshake. */
  bootTimeoutMs?: number;
}

export interface VmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A booted VM with its agent channel open and handshaken. */
export interface RunningVm {
  readonly connection: AgentConnection;
  readonly hello: HelloInfo;
  readonly pid: number | undefined;
  /** Resolves when the VMM process has ended. */
  readonly exited: Promise<VmExit>;
  /** Asks the guest to power off; kills the VMM if it has not ended within `timeoutMs`. */
  shutdown(timeoutMs?: number): Promise<VmExit>;
  /** Kills the VMM at once. */
  kill(): void;
}

export interface BootOptions {
  signal?: AbortSignal;
  /** Called once with a sentence about slow paths (e.g. software emulation). */
  onNotice?: (message: string) => void;
}

export interface Engine {
  readonly name: 'qemu' | 'libkrun';
  /** Throws a coded error when this host cannot run the engine (e.g. QEMU missing), before any work. */
  check(): void;
  boot(spec: VmSpec, options?: BootOptions): Promise<RunningVm>;
}
