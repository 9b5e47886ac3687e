// Native tests of the guest agent (packages/guest/agent): the C codec against the shared test vectors,
// a bounded fuzz run of the decoder, and raw-frame round trips against `smolvm-agent-host --stdio`.
// Frames are built by hand here (not with @smolvm/protocol) so that this test pins the wire format.
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, FIN, T, frame, helloFrame, killRunning, str, strlist, u16, u32, u64, u8, type Frame } from './agent-harness.js';

const agentDir = fileURLToPath(new URL('../agent/', import.meta.url));
const agentBin = `${agentDir}build/smolvm-agent-host`;

interface ExecOptions {
  tty?: boolean;
  stdin?: boolean;
  window?: number;
  env?: string[];
  cwd?: string;
  rows?: number;
  cols?: number;
}

function execFrame(stream: number, argv: string[], o: ExecOptions = {}): Buffer {
  const flags = (o.tty ? 1 : 0) | (o.stdin ? 2 : 0);
  return frame(
    T.EXEC,
    stream,
    Buffer.concat([
      u32(flags),
      u32(0),
      u32(0),
      u16(o.rows ?? 0),
      u16(o.cols ?? 0),
      u32(o.window ?? 262144),
      strlist(argv),
      strlist(o.env ?? [`PATH=${process.env.PATH ?? '/usr/bin:/bin'}`]),
      str(o.cwd ?? ''),
    ]),
  );
}


interface ExitInfo {
  exitCode: number;
  signal: number;
  execErrno: number;
}
const parseExit = (f: Frame): ExitInfo => ({
  exitCode: f.payload.readInt32BE(0),
  signal: f.payload.readUInt32BE(4),
  execErrno: f.payload.readUInt32BE(8),
});
const parseError = (f: Frame): { code: number; message: string } => ({
  code: f.payload.readUInt32BE(0),
  message: f.payload.subarray(8, 8 + f.payload.readUInt32BE(4)).toString(),
});

/** The agent in test mode, with a frame reader over its stdout. */
class Agent extends AgentProcess {
  constructor() {
    super(agentBin, ['--stdio']);
  }

  /**
   * Collects a stream's output until its EXIT or ERROR, granting output credit back as it arrives
   * (unless grant is false). Frames of other streams are an error here.
   */
  async collect(stream: number, grant = true): Promise<{ stdout: Buffer; stderr: Buffer; end: Frame; frames: Frame[] }> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const frames: Frame[] = [];
    for (;;) {
      const f = await this.next(10_000);
      if (!f) throw new Error(`EOF before the end of stream ${stream}; stderr: ${this.stderr}`);
      frames.push(f);
      expect(f.stream).toBe(stream);
      if (f.type === T.STDOUT || f.type === T.STDERR) {
        (f.type === T.STDOUT ? out : err).push(f.payload);
        if (grant && f.payload.length > 0)
          this.send(frame(T.WINDOW, stream, Buffer.concat([u8(f.type === T.STDOUT ? 1 : 2), u32(f.payload.length)])));
      }
      if (f.type === T.EXIT || f.type === T.ERROR)
        return { stdout: Buffer.concat(out), stderr: Buffer.concat(err), end: f, frames };
    }
  }
}

afterEach(killRunning);

let vectorsRun: ReturnType<typeof spawnSync>;

beforeAll(() => {
  const build = spawnSync('make', ['-C', agentDir, 'host', 'vectors-test'], { encoding: 'utf8', timeout: 120_000 });
  vectorsRun = build;
  if (build.status !== 0 || !existsSync(agentBin))
    throw new Error(`make -C agent host vectors-test failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 130_000);

describe('agent codec (C)', () => {
  it('passes every protocol test vector', () => {
    expect(vectorsRun.status).toBe(0);
    expect(String(vectorsRun.stdout)).toMatch(/vectors: all \d+ passed \(\d+ ok, \d+ bad\)/);
  });

  it('survives a bounded fuzz run of the decoder', () => {
    const r = spawnSync('make', ['-C', agentDir, 'fuzz'], {
      encoding: 'utf8',
      timeout: 90_000,
      env: { ...process.env, FUZZ_SECONDS: '10' },
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    expect(r.stdout + r.stderr).toMatch(/fuzz: \d+ executions|Done \d+ runs/);
  }, 100_000);
});

describe('smolvm-agent-host --stdio', () => {
  it('answers HELLO with HELLO_ACK and PING with PONG', async () => {
    const a = new Agent();
    a.send(helloFrame(1, 3));
    const ack = await a.next();
    expect(ack?.type).toBe(T.HELLO_ACK);
    expect(ack?.stream).toBe(0);
    expect(ack?.payload.readUInt16BE(0)).toBe(1);
    expect(ack?.payload.readUInt32BE(2)).toBe(31); // TTY, SIGNALS, FLOW_CONTROL, FILES, TCP
    expect(ack?.payload.subarray(10).toString()).toBe('smolvm-agent 0.1.0');

    a.send(frame(T.PING, 0, u64(0x1122334455667788n)));
    const pong = await a.next();
    expect(pong?.type).toBe(T.PONG);
    expect(pong?.payload.readBigUInt64BE(0)).toBe(0x1122334455667788n);

    a.send(frame(T.SHUTDOWN, 0));
    expect(await a.exited).toBe(0);
  });

  it('refuses an unsupported protocol version and closes the channel', async () => {
    const a = new Agent();
    a.send(helloFrame(2, 3));
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.stream).toBe(0);
    expect(parseError(f!).code).toBe(1);
    expect(await a.next()).toBeUndefined();
    expect(await a.exited).toBe(1);
  });

  it('runs echo hi: STDOUT "hi\\n" then EXIT 0', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(1, ['echo', 'hi']));
    const r = await a.collect(1);
    expect(r.stdout.toString()).toBe('hi\n');
    expect(r.stderr.length).toBe(0);
    expect(r.end.type).toBe(T.EXIT);
    expect(parseExit(r.end)).toEqual({ exitCode: 0, signal: 0, execErrno: 0 });
    // Output ends with FIN frames before the EXIT.
    const fins = r.frames.filter((f) => f.flags & FIN).map((f) => f.type);
    expect(fins.sort()).toEqual([T.STDOUT, T.STDERR]);
  });

  it('reports a missing command as EXIT 127 with exec_errno ENOENT and a message on STDERR', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(3, ['sh-not-here-smolvm']));
    const r = await a.collect(3);
    expect(parseExit(r.end)).toEqual({ exitCode: 127, signal: 0, execErrno: 2 });
    expect(r.stderr.toString()).toBe('smolvm: sh-not-here-smolvm: command not found\n');
  });

  it('reports a non-executable file as EXIT 126 with exec_errno EACCES', async () => {
    const a = new Agent();
    await a.handshake();
    const dir = mkdtempSync(join(tmpdir(), 'smolvm-agent-'));
    try {
      const file = join(dir, 'not-executable');
      writeFileSync(file, 'echo no\n', { mode: 0o644 });
      a.send(execFrame(4, [file]));
      const r = await a.collect(4);
      expect(parseExit(r.end)).toEqual({ exitCode: 126, signal: 0, execErrno: 13 });
      expect(r.stderr.toString()).toBe(`smolvm: ${file}: Permission denied\n`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('passes the exit code through', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(5, ['sh', '-c', 'echo out; echo err >&2; exit 42']));
    const r = await a.collect(5);
    expect(r.stdout.toString()).toBe('out\n');
    expect(r.stderr.toString()).toBe('err\n');
    expect(parseExit(r.end)).toEqual({ exitCode: 42, signal: 0, execErrno: 0 });
  });

  it('ends an exec soon after its process exits, though a background process still holds the output', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(8, ['sh', '-c', '(sleep 5; echo late) & echo main']));
    const r = await a.collect(8);
    expect(r.stdout.toString()).toBe('main\n'); // "late" would mean the stream waited for the background process
    expect(parseExit(r.end)).toEqual({ exitCode: 0, signal: 0, execErrno: 0 });
    const fins = r.frames.filter((f) => (f.type === T.STDOUT || f.type === T.STDERR) && (f.flags & FIN) !== 0);
    expect(fins.map((f) => f.type).sort()).toEqual([T.STDOUT, T.STDERR]);
  });

  it('ends an exec whose background process keeps writing, within a bound', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(10, ['sh', '-c', '(while :; do echo tick; sleep 0.05; done) & echo main']));
    const r = await a.collect(10);
    expect(r.stdout.toString().startsWith('main\n')).toBe(true);
    expect(parseExit(r.end).exitCode).toBe(0);
  });

  it('does not end while output waits for credit, and ends once it is read', async () => {
    const a = new Agent();
    await a.handshake();
    // The background writer fills the pipe long before the main process exits; 64 KiB of credit for 200 KiB.
    a.send(execFrame(9, ['sh', '-c', 'head -c 204800 /dev/zero & sleep 1'], { window: 65536 }));
    let got = 0;
    while (got < 65536) {
      const f = await a.next();
      if (f?.type === T.STDOUT) got += f.payload.length;
    }
    // Out of credit, well past the exit and the idle time: the stream must not end with data unread.
    expect(await a.quiet(2500)).toBe(true);
    a.send(frame(T.WINDOW, 9, Buffer.concat([u8(1), u32(1 << 20)])));
    const r = await a.collect(9);
    expect(got + r.stdout.length).toBe(204800);
    expect(parseExit(r.end).exitCode).toBe(0);
  });

  it('reports death by signal as 128+n with signal=n, and delivers SIGNAL frames', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(6, ['sh', '-c', 'kill -TERM $$']));
    expect(parseExit((await a.collect(6)).end)).toEqual({ exitCode: 143, signal: 15, execErrno: 0 });

    a.send(execFrame(7, ['sh', '-c', 'echo ready; exec sleep 30']));
    const ready = await a.next();
    expect(ready?.payload.toString()).toBe('ready\n');
    a.send(frame(T.SIGNAL, 7, u32(9)));
    expect(parseExit((await a.collect(7)).end)).toEqual({ exitCode: 137, signal: 9, execErrno: 0 });
  });

  it('feeds STDIN with credit back (WINDOW fd=0) and closes it on FIN', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(8, ['cat'], { stdin: true }));
    const input = Buffer.alloc(200_000, 'x');
    for (let off = 0; off < input.length; off += 65536)
      a.send(frame(T.STDIN, 8, input.subarray(off, off + 65536)));
    a.send(frame(T.STDIN, 8, Buffer.alloc(0), FIN));
    const r = await a.collect(8);
    expect(r.stdout.equals(input)).toBe(true);
    const granted = r.frames
      .filter((f) => f.type === T.WINDOW)
      .map((f) => {
        expect(f.payload.readUInt8(0)).toBe(0);
        return f.payload.readUInt32BE(1);
      })
      .reduce((x, y) => x + y, 0);
    expect(granted).toBe(input.length);
    expect(parseExit(r.end).exitCode).toBe(0);
  });

  it('ends a stream with ERROR 5 when the host sends more STDIN than its credit', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(9, ['sleep', '30'], { stdin: true }));
    // sleep never reads: the agent can hold 262144 bytes plus what the pipe takes (64 KiB).
    const chunk = Buffer.alloc(65536, 'y');
    for (let i = 0; i < 6; i++) a.send(frame(T.STDIN, 9, chunk));
    a.send(frame(T.STDIN, 9, Buffer.from('z')));
    let f: Frame | undefined;
    do f = await a.next();
    while (f?.type === T.WINDOW);
    expect(f?.type).toBe(T.ERROR);
    expect(f?.stream).toBe(9);
    expect(parseError(f!).code).toBe(5);
    // The channel goes on.
    a.send(frame(T.PING, 0, u64(7n)));
    expect((await a.next())?.type).toBe(T.PONG);
  });

  it('honours output credit per stream: a stalled stream does not block others', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(10, ['head', '-c', '100000', '/dev/zero'], { window: 1000 }));
    const first = await a.next();
    expect(first?.type).toBe(T.STDOUT);
    expect(first?.payload.length).toBe(1000);
    // Out of credit: no more STDOUT (stderr's empty FIN may come, in either order).
    const early: Frame[] = [];
    await new Promise((r) => setTimeout(r, 200));
    while (!(await a.quiet(0))) early.push((await a.next())!);
    expect(early.filter((f) => f.type !== T.STDERR)).toEqual([]);

    // Other streams run meanwhile.
    a.send(execFrame(11, ['echo', 'other']));
    const other = await a.collect(11);
    expect(other.stdout.toString()).toBe('other\n');

    a.send(frame(T.WINDOW, 10, Buffer.concat([u8(1), u32(1_000_000)])));
    const rest = await a.collect(10, false);
    expect(1000 + rest.stdout.length).toBe(100_000);
    for (const f of rest.frames) if (f.type === T.STDOUT) expect(f.payload.length).toBeLessThanOrEqual(65536);
    expect(parseExit(rest.end).exitCode).toBe(0);
  });

  it('runs many streams concurrently', async () => {
    const a = new Agent();
    await a.handshake();
    const n = 12;
    for (let s = 1; s <= n; s++) a.send(execFrame(100 + s, ['sh', '-c', `head -c ${s * 30000} /dev/zero; exit ${s}`], { window: 65536 }));
    const got = new Map<number, number>();
    const exits = new Map<number, number>();
    while (exits.size < n) {
      const f = await a.next(10_000);
      if (!f) throw new Error('EOF');
      if (f.type === T.STDOUT && f.payload.length > 0) {
        got.set(f.stream, (got.get(f.stream) ?? 0) + f.payload.length);
        a.send(frame(T.WINDOW, f.stream, Buffer.concat([u8(1), u32(f.payload.length)])));
      }
      if (f.type === T.EXIT) exits.set(f.stream, parseExit(f).exitCode);
      expect(f.type).not.toBe(T.ERROR);
    }
    for (let s = 1; s <= n; s++) {
      expect(got.get(100 + s)).toBe(s * 30000);
      expect(exits.get(100 + s)).toBe(s);
    }
  });

  it('keeps every byte in order under load: stdout and stderr of several streams, odd windows', async () => {
    const a = new Agent();
    await a.handshake();
    const dir = mkdtempSync(join(tmpdir(), 'smolvm-agent-'));
    try {
      const file = join(dir, 'random');
      const content = randomBytes(3 * 1024 * 1024 + 12345);
      writeFileSync(file, content);
      const windows = [65536, 7001, 262144, 100_000];
      windows.forEach((w, i) => a.send(execFrame(200 + i, ['sh', '-c', `cat ${file} & cat ${file} >&2; wait`], { window: w })));
      const out = new Map<number, Buffer[]>();
      const err = new Map<number, Buffer[]>();
      const exits = new Set<number>();
      while (exits.size < windows.length) {
        const f = await a.next(20_000);
        if (!f) throw new Error(`EOF; stderr: ${a.stderr}`);
        expect(f.type).not.toBe(T.ERROR);
        if ((f.type === T.STDOUT || f.type === T.STDERR) && f.payload.length > 0) {
          expect(f.payload.length).toBeLessThanOrEqual(65536);
          const m = f.type === T.STDOUT ? out : err;
          m.set(f.stream, [...(m.get(f.stream) ?? []), f.payload]);
          a.send(frame(T.WINDOW, f.stream, Buffer.concat([u8(f.type === T.STDOUT ? 1 : 2), u32(f.payload.length)])));
        }
        if (f.type === T.EXIT) exits.add(f.stream);
      }
      for (let i = 0; i < windows.length; i++) {
        expect(Buffer.concat(out.get(200 + i) ?? []).equals(content)).toBe(true);
        expect(Buffer.concat(err.get(200 + i) ?? []).equals(content)).toBe(true);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }, 30_000);

  it.skipIf(!existsSync('/dev/ptmx'))('allocates a pty with the requested size when TTY is set', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(12, ['sh', '-c', 'test -t 0 && test -t 1 && stty size; echo e >&2'], { tty: true, rows: 33, cols: 101 }));
    const r = await a.collect(12);
    expect(r.stdout.toString()).toBe('33 101\r\ne\r\n');
    expect(r.frames.some((f) => f.type === T.STDERR)).toBe(false);
    expect(parseExit(r.end).exitCode).toBe(0);
  });

  it.skipIf(!existsSync('/dev/ptmx'))('types EOF into a canonical pty on STDIN FIN', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(17, ['cat'], { tty: true, stdin: true }));
    a.send(frame(T.STDIN, 17, Buffer.from('hello\n')), frame(T.STDIN, 17, Buffer.alloc(0), FIN));
    const r = await a.collect(17);
    expect(r.stdout.toString()).toBe('hello\r\nhello\r\n'); // the tty's echo, then cat's copy
    expect(parseExit(r.end).exitCode).toBe(0);
  });

  it('ends a stream with ERROR 4 when the working directory does not exist', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(13, ['pwd'], { cwd: '/no/such/dir' }));
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.stream).toBe(13);
    expect(parseError(f!)).toEqual({ code: 4, message: 'working directory /no/such/dir: No such file or directory' });
  });

  it('answers a malformed payload with ERROR 2 on that stream and keeps the channel', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(frame(T.EXEC, 14, Buffer.concat([u32(0), u32(0), u32(0), u16(0), u16(0), u32(1), u32(0)]))); // argc 0
    let f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.stream).toBe(14);
    expect(parseError(f!).code).toBe(2);
    a.send(frame(T.PING, 0, Buffer.alloc(7))); // short PING: ERROR on stream 0, not fatal
    f = await a.next();
    expect(f?.stream).toBe(0);
    expect(parseError(f!).code).toBe(2);
    a.send(frame(T.PING, 0, u64(1n)));
    expect((await a.next())?.type).toBe(T.PONG);
  });

  it('refuses an EXEC on a stream id in use with ERROR 3', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(15, ['sleep', '30']));
    a.send(execFrame(15, ['true']));
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(parseError(f!).code).toBe(3);
  });

  it('answers a malformed header with ERROR on stream 0 and closes the channel', async () => {
    const a = new Agent();
    await a.handshake();
    const bad = frame(0x99, 0);
    a.send(bad);
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.stream).toBe(0);
    expect(parseError(f!).code).toBe(2);
    expect(parseError(f!).message).toContain('unknown_type');
    expect(await a.next()).toBeUndefined();
    expect(await a.exited).toBe(1);
  });

  it('exits 0 at channel EOF and kills what still runs', async () => {
    const a = new Agent();
    await a.handshake();
    a.send(execFrame(16, ['sh', '-c', 'echo $$; exec sleep 30']));
    const f = await a.next();
    const pid = Number(f?.payload.toString().trim());
    expect(pid).toBeGreaterThan(1);
    a.child.stdin.end();
    expect(await a.exited).toBe(0);
    const gone = (): boolean => {
      try {
        process.kill(pid, 0);
      } catch {
        return true;
      }
      try {
        return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? true;
      } catch {
        return true;
      }
    };
    for (let i = 0; i < 100 && !gone(); i++) await new Promise((r) => setTimeout(r, 20));
    expect(gone()).toBe(true);
  });
});

describe('smolvm-agent-host --connect (the smolvm.vsock= code path, over a unix socket)', () => {
  // vsock itself cannot be tested here (no vsock loopback transport on the test hosts); --connect
  // vsock:CID:PORT runs the same connect-and-retry code with AF_VSOCK where one exists.
  it('retries until the host listens, serves there, and exits 0 at EOF', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'smolvm-agent-sock-'));
    const path = join(dir, 'agent.sock');
    const child = spawn(agentBin, ['--connect', `unix:${path}`], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    try {
      await new Promise((r) => setTimeout(r, 300)); // the agent is retrying meanwhile
      const conn = await new Promise<Socket>((resolve) => {
        const server = createServer((c) => {
          server.close();
          resolve(c);
        });
        server.listen(path);
      });
      let buf = Buffer.alloc(0);
      const frames: Frame[] = [];
      conn.on('data', (d: Buffer) => {
        buf = Buffer.concat([buf, d]);
        while (buf.length >= 12 && buf.length >= 12 + buf.readUInt32BE(0)) {
          const len = buf.readUInt32BE(0);
          frames.push({ type: buf[4]!, flags: buf[5]!, stream: buf.readUInt32BE(8), payload: buf.subarray(12, 12 + len) });
          buf = buf.subarray(12 + len);
        }
      });
      conn.write(Buffer.concat([helloFrame(), execFrame(1, ['echo', 'over a socket'])]));
      for (let i = 0; i < 250 && !frames.some((f) => f.type === T.EXIT); i++) await new Promise((r) => setTimeout(r, 20));
      expect(frames[0]?.type).toBe(T.HELLO_ACK);
      const out = Buffer.concat(frames.filter((f) => f.type === T.STDOUT).map((f) => f.payload)).toString();
      expect(out).toBe('over a socket\n');
      conn.end();
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    }
    expect(stderr).toBe('');
  });
});
