// A guest process seen from the host, shaped like Node's ChildProcess: Node streams for stdio with the
// protocol's credit-based flow control underneath, so a slow consumer slows the guest process down instead
// of growing a buffer anywhere.
import { Readable, Writable } from 'node:stream';
import { constants as osConstants } from 'node:os';
import type { AgentConnection, ExecStream } from '@smolvm/protocol';
import { ErrorCode, SmolvmError } from './errors.js';

export interface ProcessExit {
  /** Exit code; 128 + n when killed by signal n; 127/126 when the program could not be started. */
  exitCode: number;
  signal: NodeJS.Signals | null;
  /** True when the process was killed because its `timeoutMs` ran out. */
  timedOut: boolean;
}

export interface SpawnOptions {
  env?: string[];
  cwd?: string;
  uid?: number;
  gid?: number;
  /** Allocate a pseudo-terminal of this size (stdout then carries the merged output). */
  tty?: { rows: number; cols: number };
  /** Open stdin for writing (otherwise the process reads /dev/null). */
  stdin?: boolean;
  timeoutMs?: number;
  signal?: AbortSignal;
}

export function signalName(n: number): NodeJS.Signals | null {
  return (Object.entries(osConstants.signals).find(([, v]) => v === n)?.[0] as NodeJS.Signals | undefined) ?? null;
}

export function signalNumber(s: NodeJS.Signals | number): number {
  if (typeof s === 'number') return s;
  const n = (osConstants.signals as Record<string, number>)[s];
  if (n === undefined) throw new SmolvmError(ErrorCode.INVALID_OPTION, `unknown signal ${s}`, { hint: 'Use a name like SIGTERM or a number.' });
  return n;
}

/** Readable fed by the agent; credit goes back only when the consumer has taken the data. */
class OutputReadable extends Readable {
  private unacked = 0;
  constructor(
    private readonly ack: (bytes: number) => void,
  ) {
    super();
  }
  deliver(chunk: Buffer): void {
    if (this.push(chunk)) this.ack(chunk.length);
    else this.unacked += chunk.length;
  }
  override _read(): void {
    if (this.unacked > 0) {
      const n = this.unacked;
      this.unacked = 0;
      this.ack(n);
    }
  }
}

export class GuestProcess {
  readonly stdout: Readable;
  readonly stderr: Readable;
  readonly stdin: Writable;
  /** Resolves when the process has ended and all its output has been delivered to the streams. */
  readonly exited: Promise<ProcessExit>;
  private readonly stream: ExecStream;
  private timedOut = false;

  constructor(conn: AgentConnection, argv: string[], options: SpawnOptions) {
    const ack = { fn: (_fd: 1 | 2, _n: number): void => {} };
    const out = new OutputReadable((n) => ack.fn(1, n));
    const err = new OutputReadable((n) => ack.fn(2, n));
    const stream = conn.exec(
      {
        argv,
        env: options.env ?? [],
        ...(options.cwd !== undefined ? { cwd: options.cwd } : {}),
        ...(options.uid !== undefined ? { uid: options.uid } : {}),
        ...(options.gid !== undefined ? { gid: options.gid } : {}),
        ...(options.tty ? { tty: options.tty } : {}),
        stdin: options.stdin ?? false,
      },
      { onStdout: (d) => out.deliver(d), onStderr: (d) => err.deliver(d), manualAck: true },
    );
    ack.fn = (fd, n) => stream.ack(fd, n);
    this.stream = stream;
    this.stdout = out;
    this.stderr = err;
    const s = stream;
    this.stdin = new Writable({
      write(chunk: Buffer, _enc, cb) {
        s.writeStdin(chunk).then(() => cb(), cb);
      },
      final(cb) {
        s.endStdin();
        cb();
      },
    });
    if (!options.stdin) this.stdin.destroy();

    let timer: NodeJS.Timeout | undefined;
    if (options.timeoutMs !== undefined) {
      timer = setTimeout(() => {
        this.timedOut = true;
        this.kill('SIGKILL');
      }, options.timeoutMs);
    }
    const onAbort = (): void => this.kill('SIGKILL');
    options.signal?.addEventListener('abort', onAbort, { once: true });

    this.exited = stream.exited.then(
      (x) => {
        out.push(null);
        err.push(null);
        return { exitCode: x.exitCode, signal: x.signal ? signalName(x.signal) : null, timedOut: this.timedOut };
      },
      (e: unknown) => {
        out.destroy(e as Error);
        err.destroy(e as Error);
        throw e;
      },
    );
    void this.exited
      .finally(() => {
        clearTimeout(timer);
        options.signal?.removeEventListener('abort', onAbort);
      })
      .catch(() => {});
  }

  /** Sends a signal to the process (default SIGTERM). */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    this.stream.signal(signalNumber(signal));
  }

  /** Changes the pseudo-terminal's size (only for `tty` processes). */
  resize(rows: number, cols: number): void {
    this.stream.resize(rows, cols);
  }
}
