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
  /** A writable disk (ext4) used as the root file system's upper layer; without it writes go to memory. */
  dataDisk?: string;
  /** Add a virtio-balloon with free page reporting, so memory the guest frees returns to the host. */
  balloon?: boolean;
  /**
   * Host directories mounted in the guest, in order: volume i is shared under the tag `smolvm<i>` and mounted
   * by the agent at `guestPath` (checked and normalised already, see `normalizeVolumes`).
   */
  volumes?: { hostPath: string; guestPath: string; readOnly: boolean }[];
  /** How long the guest may take to boot and answer the handshake. */
  bootTimeoutMs?: number;
}

export interface VmExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** The agent channel as raw bytes (for the supervisor's relay). */
export interface RawChannel {
  write(bytes: Buffer): boolean;
  onData(cb: (chunk: Buffer) => void): void;
  onClose(cb: () => void): void;
  /** Called with true when a write may proceed after `write` returned false. */
  onDrain(cb: () => void): void;
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
  /**
   * Detaches `connection` from the channel and hands the raw byte stream over (after the handshake),
   * so one owner can multiplex it among many clients. `connection` must not be used afterwards.
   */
  takeChannel(): RawChannel;
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
  /** True when the engine boots a kernel of its own (libkrunfw's) and ignores `VmSpec.kernel`. */
  bringsOwnKernel?(): boolean;
  boot(spec: VmSpec, options?: BootOptions): Promise<RunningVm>;
}
