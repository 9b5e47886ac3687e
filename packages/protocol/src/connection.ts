import { constants as osConstants } from 'node:os';
import { FrameDecodeError, ProtocolError } from './errors.js';
import {
  ALL_CAPABILITIES,
  Capability,
  ExecFlag,
  FrameReader,
  MAX_DATA_CHUNK,
  PROTOCOL_VERSION,
  STDIN_WINDOW,
  encodeFrame,
  type Frame,
} from './frame.js';

/** Default credit the host grants the agent for each of stdout and stderr of a stream. */
export const DEFAULT_OUTPUT_WINDOW = 262_144;

export interface HelloInfo {
  version: number;
  capabilities: number;
  agent: string;
}

export interface ExecRequest {
  argv: string[];
  env: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  tty?: { rows: number; cols: number };
  /** The host will send stdin; otherwise the process reads /dev/null. */
  stdin?: boolean;
  /** Initial output credit per fd, in bytes. */
  windowBytes?: number;
}

export type FsRequest =
  | { op: 'write'; path: string; mode?: number; mkdirs?: boolean }
  | { op: 'read' | 'stat' | 'list'; path: string }
  | { op: 'mkdir'; path: string; mode?: number; parents?: boolean }
  | { op: 'remove'; path: string; recursive?: boolean };

export interface ExitInfo {
  exitCode: number;
  /** Terminating signal number, or 0. */
  signal: number;
  /** errno of a failed execve, or 0 when the program started. */
  execErrno: number;
}

/** A file operation failed in the guest (`FS_DONE` with an errno). */
export class GuestFsError extends ProtocolError {
  readonly errno: number;
  readonly errnoName: string;
  constructor(errno: number, message: string) {
    const name = errnoNames.get(errno) ?? `errno ${errno}`;
    super('SMOLVM_ERR_GUEST_FS', `${message} (${name})`);
    this.name = 'GuestFsError';
    this.errno = errno;
    this.errnoName = name;
  }
}

const errnoNames = new Map<number, string>(Object.entries(osConstants.errno).map(([k, v]) => [v, k]));

export interface FsEntry {
  kind: 'file' | 'directory' | 'symlink' | 'char-device' | 'block-device' | 'fifo' | 'socket';
  /** Permission bits (0o7777). */
  mode: number;
  uid: number;
  gid: number;
  sizeBytes: number;
  mtimeMs: number;
  name: string;
  /** Link target, for symlinks. */
  target?: string;
}

const kinds: FsEntry['kind'][] = ['file', 'directory', 'symlink', 'char-device', 'block-device', 'fifo', 'socket'];

export interface ExecHandlers {
  /**
   * Output data. Unless `manualAck` is set, credit is returned as soon as the handler returns; with
   * `manualAck` the consumer calls `stream.ack(fd, bytes)` once it has really consumed the data.
   */
  onStdout?: (data: Buffer) => void;
  onStderr?: (data: Buffer) => void;
  /** Directory entries of `FS_STAT` / `FS_LIST`. */
  onEntry?: (entry: FsEntry) => void;
  /** The agent sent `FIN` on stdout (1) or stderr (2): no more data on that fd. */
  onEnd?: (fd: 1 | 2) => void;
  manualAck?: boolean;
}

/** The agent reported an error for a stream or for the whole channel. */
export class AgentError extends ProtocolError {
  readonly agentCode: number;
  constructor(agentCode: number, message: string) {
    super('SMOLVM_ERR_AGENT', `the guest agent reported: ${message}`);
    this.name = 'AgentError';
    this.agentCode = agentCode;
  }
}

export class ChannelClosedError extends ProtocolError {
  constructor(reason: string, options?: { cause?: unknown }) {
    super('SMOLVM_ERR_CHANNEL_CLOSED', `the agent channel closed: ${reason}`, options);
    this.name = 'ChannelClosedError';
  }
}

interface Deferred<T> {
  promise: Promise<T>;
  resolve(v: T): void;
  reject(e: unknown): void;
}

function deferred<T>(): Deferred<T> {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  // Callers may attach handlers late; never let an early rejection crash the process.
  promise.catch(() => {});
  return { promise, resolve, reject };
}

/** One running process in the guest. */
export class ExecStream {
  readonly id: number;
  readonly exited: Promise<ExitInfo>;
  private readonly done = deferred<ExitInfo>();
  private stdinCredit = STDIN_WINDOW;
  private stdinQueue: Array<{ data: Buffer; resolve: () => void }> = [];
  private stdinEnded = false;
  private finSent = false;
  private pendingAck = [0, 0, 0];
  private finished = false;

  constructor(
    private readonly conn: AgentConnection,
    id: number,
    private readonly handlers: ExecHandlers,
    private readonly windowBytes: number,
  ) {
    this.id = id;
    this.exited = this.done.promise;
  }

  /** Sends stdin data; resolves once the agent has credit for it (so callers get natural backpressure). */
  writeStdin(data: Buffer): Promise<void> {
    if (this.stdinEnded) return Promise.reject(new ProtocolError('SMOLVM_ERR_STDIN_ENDED', 'stdin was already ended'));
    if (this.finished || data.length === 0) return Promise.resolve();
    return new Promise((resolve) => {
      this.stdinQueue.push({ data, resolve });
      this.flushStdin();
    });
  }

  endStdin(): void {
    if (this.stdinEnded) return;
    this.stdinEnded = true;
    this.flushStdin();
  }

  signal(signo: number): void {
    if (!this.finished) this.conn.send({ type: 'SIGNAL', stream: this.id, signo });
  }

  resize(rows: number, cols: number): void {
    if (!this.finished) this.conn.send({ type: 'RESIZE', stream: this.id, rows, cols });
  }

  /** Returns output credit for `bytes` consumed from fd 1 or 2 (only needed with `manualAck`). */
  ack(fd: 1 | 2, bytes: number): void {
    if (this.finished || bytes <= 0) return;
    this.pendingAck[fd]! += bytes;
    // Batch grants: one WINDOW frame per half window keeps the frame rate low without stalling the agent.
    if (this.pendingAck[fd]! >= this.windowBytes / 2) {
      this.conn.send({ type: 'WINDOW', stream: this.id, fd, increment: this.pendingAck[fd]! });
      this.pendingAck[fd] = 0;
    }
  }

  private flushStdin(): void {
    while (this.stdinQueue.length > 0 && this.stdinCredit > 0 && !this.finished) {
      const head = this.stdinQueue[0]!;
      const n = Math.min(head.data.length, this.stdinCredit, MAX_DATA_CHUNK);
      this.conn.send({ type: 'STDIN', stream: this.id, fin: false, data: head.data.subarray(0, n) });
      this.stdinCredit -= n;
      if (n === head.data.length) {
        this.stdinQueue.shift();
        head.resolve();
      } else {
        head.data = head.data.subarray(n);
      }
    }
    if (this.stdinEnded && !this.finSent && this.stdinQueue.length === 0 && !this.finished) {
      this.finSent = true;
      this.conn.send({ type: 'STDIN', stream: this.id, fin: true, data: Buffer.alloc(0) });
    }
  }

  /** @internal */
  handle(frame: Frame): void {
    switch (frame.type) {
      case 'STDOUT':
      case 'STDERR': {
        const fd = frame.type === 'STDOUT' ? 1 : 2;
        if (frame.data.length > 0) {
          const cb = fd === 1 ? this.handlers.onStdout : this.handlers.onStderr;
          cb?.(frame.data);
          if (!this.handlers.manualAck) this.ack(fd, frame.data.length);
        }
        if (frame.fin) this.handlers.onEnd?.(fd);
        break;
      }
      case 'WINDOW':
        if (frame.fd === 0) {
          this.stdinCredit += frame.increment;
          this.flushStdin();
        }
        break;
      case 'EXIT':
        this.finish();
        this.done.resolve({ exitCode: frame.exitCode, signal: frame.signal, execErrno: frame.execErrno });
        break;
      case 'ERROR':
        this.finish();
        this.done.reject(new AgentError(frame.code, frame.message.toString('utf8')));
        break;
      case 'FS_ENTRY':
        this.handlers.onEntry?.({
          kind: kinds[frame.kind - 1]!,
          mode: frame.mode,
          uid: frame.uid,
          gid: frame.gid,
          sizeBytes: Number(frame.size),
          mtimeMs: Number(frame.mtime) * 1000,
          name: frame.name.toString('utf8'),
          ...(frame.kind === 3 ? { target: frame.target.toString('utf8') } : {}),
        });
        break;
      case 'FS_DONE':
        this.finish();
        if (frame.errno === 0) this.done.resolve({ exitCode: 0, signal: 0, execErrno: 0 });
        else this.done.reject(new GuestFsError(frame.errno, frame.message.toString('utf8')));
        break;
      default:
        break;
    }
  }

  /** @internal */
  fail(err: Error): void {
    if (this.finished) return;
    this.finish();
    this.done.reject(err);
  }

  private finish(): void {
    this.finished = true;
    for (const q of this.stdinQueue) q.resolve();
    this.stdinQueue = [];
    this.conn.forget(this.id);
  }
}

export interface AgentConnectionOptions {
  /** Writes bytes to the transport. */
  send(bytes: Buffer): void;
}

/**
 * The host side of the protocol, without I/O: feed received bytes to `receive`, and it calls `send` with
 * bytes to write. Multiplexes any number of exec streams over the one channel.
 */
export class AgentConnection {
  private readonly reader = new FrameReader();
  private readonly streams = new Map<number, ExecStream>();
  private readonly pings = new Map<bigint, Deferred<void>>();
  private nextStream = 1;
  private nextNonce = 1n;
  private hello: Deferred<HelloInfo> | undefined;
  private peer: HelloInfo | undefined;
  private closedWith: Error | undefined;

  constructor(private readonly options: AgentConnectionOptions) {}

  get closed(): boolean {
    return this.closedWith !== undefined;
  }

  /** @internal */
  send(frame: Frame): void {
    if (this.closedWith) return;
    this.options.send(encodeFrame(frame));
  }

  /** @internal */
  forget(id: number): void {
    this.streams.delete(id);
  }

  handshake(): Promise<HelloInfo> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    this.hello ??= deferred<HelloInfo>();
    this.send({ type: 'HELLO', stream: 0, minVersion: PROTOCOL_VERSION, maxVersion: PROTOCOL_VERSION, capabilities: ALL_CAPABILITIES });
    return this.hello.promise;
  }

  /** Round trip of a no-op frame; resolves when the agent answers. */
  ping(): Promise<void> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    const nonce = this.nextNonce++;
    const d = deferred<void>();
    this.pings.set(nonce, d);
    this.send({ type: 'PING', stream: 0, nonce });
    return d.promise;
  }

  exec(req: ExecRequest, handlers: ExecHandlers = {}): ExecStream {
    if (this.closedWith) throw this.closedWith;
    const id = this.allocateStream();
    const windowBytes = req.windowBytes ?? DEFAULT_OUTPUT_WINDOW;
    const stream = new ExecStream(this, id, handlers, windowBytes);
    this.streams.set(id, stream);
    this.send({
      type: 'EXEC',
      stream: id,
      flags: (req.tty ? ExecFlag.TTY : 0) | (req.stdin ? ExecFlag.STDIN : 0),
      uid: req.uid ?? 0,
      gid: req.gid ?? 0,
      rows: req.tty?.rows ?? 0,
      cols: req.tty?.cols ?? 0,
      window: windowBytes,
      argv: req.argv.map((a) => Buffer.from(a)),
      env: req.env.map((e) => Buffer.from(e)),
      cwd: Buffer.from(req.cwd ?? ''),
    });
    return stream;
  }

  /**
   * Starts a file operation (SPEC.md, "File operations"). The returned stream's `exited` resolves when the
   * agent reports success and rejects with GuestFsError otherwise; `FS_WRITE` content goes through
   * `writeStdin`/`endStdin`, `FS_READ` content arrives through `onStdout`.
   */
  fs(op: FsRequest, handlers: ExecHandlers = {}): ExecStream {
    if (this.closedWith) throw this.closedWith;
    if (this.peer && (this.peer.capabilities & Capability.FILES) === 0) {
      throw new ProtocolError('SMOLVM_ERR_AGENT_TOO_OLD', `the guest agent (${this.peer.agent}) does not support file operations`, {});
    }
    const id = this.allocateStream();
    const windowBytes = DEFAULT_OUTPUT_WINDOW;
    const stream = new ExecStream(this, id, handlers, windowBytes);
    this.streams.set(id, stream);
    const path = Buffer.from(op.path);
    switch (op.op) {
      case 'write':
        this.send({ type: 'FS_WRITE', stream: id, mode: op.mode ?? 0o644, flags: op.mkdirs ? 1 : 0, path });
        break;
      case 'read':
        this.send({ type: 'FS_READ', stream: id, window: windowBytes, path });
        break;
      case 'stat':
        this.send({ type: 'FS_STAT', stream: id, path });
        break;
      case 'list':
        this.send({ type: 'FS_LIST', stream: id, path });
        break;
      case 'mkdir':
        this.send({ type: 'FS_MKDIR', stream: id, mode: op.mode ?? 0o755, flags: op.parents ? 1 : 0, path });
        break;
      case 'remove':
        this.send({ type: 'FS_REMOVE', stream: id, flags: op.recursive ? 1 : 0, path });
        break;
    }
    return stream;
  }

  /**
   * Opens a TCP connection from the agent to `127.0.0.1:port` inside the guest (SPEC.md, "TCP
   * connections"). Bytes for the guest service go through `writeStdin` (`endStdin` half-closes), its
   * replies arrive through `onStdout` and `onEnd(1)`. `exited` resolves when both directions are done and
   * rejects with GuestFsError when the connection failed or broke (`ECONNREFUSED`: nothing listens);
   * `signal(9)` aborts it.
   */
  tcpConnect(port: number, handlers: ExecHandlers = {}, windowBytes = DEFAULT_OUTPUT_WINDOW): ExecStream {
    if (this.closedWith) throw this.closedWith;
    // An agent without TCP treats type 0x28 as unknown and closes the channel: never send it unasked.
    if (!this.peer) throw new ProtocolError('SMOLVM_ERR_HANDSHAKE_PENDING', 'TCP connections need the handshake first (the agent must offer them)', {});
    if ((this.peer.capabilities & Capability.TCP) === 0) {
      throw new ProtocolError('SMOLVM_ERR_AGENT_TOO_OLD', `the guest agent (${this.peer.agent}) does not support TCP connections`, {});
    }
    if (!Number.isInteger(port) || port < 1 || port > 65535) throw new RangeError(`port ${port} is not 1..65535`);
    const id = this.allocateStream();
    const stream = new ExecStream(this, id, handlers, windowBytes);
    this.streams.set(id, stream);
    this.send({ type: 'TCP_CONNECT', stream: id, window: windowBytes, port });
    return stream;
  }

  private allocateStream(): number {
    const id = this.nextStream;
    this.nextStream = this.nextStream >= 0x7fffffff ? 1 : this.nextStream + 1;
    return id;
  }

  shutdown(): void {
    this.send({ type: 'SHUTDOWN', stream: 0 });
  }

  /** Feeds bytes read from the transport. */
  receive(chunk: Buffer): void {
    if (this.closedWith) return;
    let frames: Array<Frame | FrameDecodeError>;
    try {
      frames = this.reader.push(chunk);
    } catch (e) {
      this.close(e instanceof Error ? e : new Error(String(e)));
      return;
    }
    for (const f of frames) {
      if (f instanceof FrameDecodeError) {
        const s = f.streamId !== undefined ? this.streams.get(f.streamId) : undefined;
        if (s) s.fail(f);
        else this.close(f);
        continue;
      }
      this.dispatch(f);
    }
  }

  private dispatch(f: Frame): void {
    switch (f.type) {
      case 'HELLO_ACK':
        this.peer = { version: f.version, capabilities: f.capabilities, agent: f.agent.toString('utf8') };
        this.hello?.resolve(this.peer);
        return;
      case 'PONG': {
        const d = this.pings.get(f.nonce);
        this.pings.delete(f.nonce);
        d?.resolve();
        return;
      }
      case 'PING':
        this.send({ type: 'PONG', stream: 0, nonce: f.nonce });
        return;
      case 'ERROR':
        if (f.stream === 0) {
          this.close(new AgentError(f.code, f.message.toString('utf8')));
          return;
        }
        this.streams.get(f.stream)?.handle(f);
        return;
      default:
        if (f.stream !== 0) this.streams.get(f.stream)?.handle(f);
    }
  }

  /** The transport ended (or failed): every pending operation is rejected with `reason`. */
  close(reason?: Error): void {
    if (this.closedWith) return;
    const err = reason instanceof ChannelClosedError ? reason : new ChannelClosedError(reason?.message ?? 'transport ended', { cause: reason });
    this.closedWith = err;
    this.hello?.reject(err);
    for (const d of this.pings.values()) d.reject(err);
    this.pings.clear();
    for (const s of [...this.streams.values()]) s.fail(err);
    this.streams.clear();
  }
}
