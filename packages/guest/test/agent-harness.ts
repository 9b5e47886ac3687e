// The test harness shared by the agent's native tests: hand-built frames (not @smolvm/protocol, so the
// tests pin the wire format) and a client for `smolvm-agent-host` over its stdio (a socketpair).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { expect } from 'vitest';

export const T = {
  HELLO: 0x01,
  HELLO_ACK: 0x02,
  PING: 0x03,
  PONG: 0x04,
  SHUTDOWN: 0x05,
  EXEC: 0x10,
  STDIN: 0x11,
  STDOUT: 0x12,
  STDERR: 0x13,
  WINDOW: 0x14,
  SIGNAL: 0x15,
  RESIZE: 0x16,
  EXIT: 0x17,
  ERROR: 0x1f,
  FS_WRITE: 0x20,
  FS_READ: 0x21,
  FS_STAT: 0x22,
  FS_LIST: 0x23,
  FS_MKDIR: 0x24,
  FS_REMOVE: 0x25,
  FS_DONE: 0x26,
  FS_ENTRY: 0x27,
} as const;
export const FIN = 1;

export interface Frame {
  type: number;
  flags: number;
  stream: number;
  payload: Buffer;
}

export function frame(type: number, stream: number, payload: Buffer = Buffer.alloc(0), flags = 0): Buffer {
  const h = Buffer.alloc(12);
  h.writeUInt32BE(payload.length, 0);
  h.writeUInt8(type, 4);
  h.writeUInt8(flags, 5);
  h.writeUInt32BE(stream, 8);
  return Buffer.concat([h, payload]);
}

export const u8 = (v: number): Buffer => Buffer.from([v]);
export function u16(v: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(v);
  return b;
}
export function u32(v: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(v);
  return b;
}
export function u64(v: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(v);
  return b;
}
export const str = (s: string | Buffer): Buffer => {
  const b = typeof s === 'string' ? Buffer.from(s) : s;
  return Buffer.concat([u32(b.length), b]);
};
export const strlist = (items: string[]): Buffer => Buffer.concat([u32(items.length), ...items.map((i) => str(i))]);

export const helloFrame = (min = 1, max = 1): Buffer => frame(T.HELLO, 0, Buffer.concat([u16(min), u16(max), u32(7)]));

/** Agents started by the current test; `killRunning()` ends them (call it in afterEach). */
export const running = new Set<AgentProcess>();

export function killRunning(): void {
  for (const p of running) p.child.kill('SIGKILL');
  running.clear();
}

export class AgentProcess {
  readonly child: ChildProcessWithoutNullStreams;
  readonly exited: Promise<number | null>;
  stderr = '';
  private buf = Buffer.alloc(0);
  private frames: Frame[] = [];
  private waiter: (() => void) | undefined;
  private eof = false;

  constructor(bin: string, args: string[]) {
    this.child = spawn(bin, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    this.child.stdout.on('data', (d: Buffer) => {
      this.buf = Buffer.concat([this.buf, d]);
      while (this.buf.length >= 12) {
        const len = this.buf.readUInt32BE(0);
        if (this.buf.length < 12 + len) break;
        this.frames.push({
          type: this.buf[4]!,
          flags: this.buf[5]!,
          stream: this.buf.readUInt32BE(8),
          payload: this.buf.subarray(12, 12 + len),
        });
        this.buf = this.buf.subarray(12 + len);
      }
      this.waiter?.();
    });
    this.child.stdout.on('end', () => {
      this.eof = true;
      this.waiter?.();
    });
    this.child.stderr.on('data', (d: Buffer) => {
      this.stderr += d.toString();
    });
    this.child.stdin.on('error', () => {}); // EPIPE after the agent closed the channel
    this.exited = new Promise((resolve) => this.child.on('exit', (code) => resolve(code)));
    running.add(this);
  }

  send(...bufs: Buffer[]): void {
    this.child.stdin.write(Buffer.concat(bufs));
  }

  /** The next frame, or undefined at EOF. */
  async next(timeoutMs = 5000): Promise<Frame | undefined> {
    const deadline = Date.now() + timeoutMs;
    while (this.frames.length === 0) {
      if (this.eof) return undefined;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame from the agent within ${timeoutMs} ms; stderr: ${this.stderr}`);
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    return this.frames.shift();
  }

  /** True when no frame arrives within `ms`. */
  async quiet(ms: number): Promise<boolean> {
    await new Promise((r) => setTimeout(r, ms));
    return this.frames.length === 0;
  }

  async handshake(): Promise<void> {
    this.send(helloFrame());
    const f = await this.next();
    expect(f?.type).toBe(T.HELLO_ACK);
  }
}
