// TCP connections of the guest agent (SPEC.md "TCP connections") against `smolvm-agent-host --stdio`:
// the agent connects to 127.0.0.1:PORT, here the host's loopback, where each test runs its own server.
// Raw frames, so that the test pins the wire format.
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { AgentProcess, FIN, T, frame, killRunning, u16, u32, u8, type Frame } from './agent-harness.js';

const agentDir = fileURLToPath(new URL('../agent/', import.meta.url));
const buildDir = mkdtempSync(join(tmpdir(), 'smolvm-agent-tcp-build-'));
const agentBin = join(buildDir, 'smolvm-agent-host');
const E = osConstants.errno;
const TCP_CONNECT = 0x28;

const connect = (stream: number, port: number, window = 262144): Buffer => frame(TCP_CONNECT, stream, Buffer.concat([u32(window), u16(port)]));
const stdin = (stream: number, data: Buffer, fin = false): Buffer => frame(T.STDIN, stream, data, fin ? FIN : 0);
const windowFrame = (stream: number, fd: number, n: number): Buffer => frame(T.WINDOW, stream, Buffer.concat([u8(fd), u32(n)]));
const parseDone = (f: Frame): { errno: number; message: string } => ({
  errno: f.payload.readUInt32BE(0),
  message: f.payload.subarray(8, 8 + f.payload.readUInt32BE(4)).toString(),
});

const servers: Server[] = [];
/** A loopback server whose connections `onConnection` handles; resolves with its port. */
async function serve(onConnection: (s: Socket) => void): Promise<number> {
  const srv = createServer(onConnection);
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return (srv.address() as AddressInfo).port;
}

/** Frames of one stream until FS_DONE or ERROR; STDOUT credit is granted back unless `grant` is false. */
async function collect(agent: AgentProcess, stream: number, grant = true): Promise<{ data: Buffer; fin: boolean; end: Frame; frames: Frame[] }> {
  const data: Buffer[] = [];
  const frames: Frame[] = [];
  let fin = false;
  for (;;) {
    const f = await agent.next(10_000);
    if (!f) throw new Error(`EOF before the end of stream ${stream}; stderr: ${agent.stderr}`);
    expect(f.stream).toBe(stream);
    frames.push(f);
    if (f.type === T.STDOUT) {
      expect(fin).toBe(false); // nothing after FIN
      data.push(f.payload);
      if ((f.flags & FIN) !== 0) fin = true;
      if (grant && f.payload.length > 0) agent.send(windowFrame(stream, 1, f.payload.length));
    }
    if (f.type === T.FS_DONE || f.type === T.ERROR) return { data: Buffer.concat(data), fin, end: f, frames };
  }
}

beforeAll(() => {
  const build = spawnSync('make', ['-C', agentDir, 'host', `O=${buildDir}`], { encoding: 'utf8', timeout: 120_000 });
  if (build.status !== 0 || !existsSync(agentBin)) throw new Error(`make -C agent host failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 130_000);
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));
afterEach(async () => {
  killRunning();
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

async function startAgent(): Promise<AgentProcess> {
  const a = new AgentProcess(agentBin, ['--stdio']);
  await a.handshake();
  return a;
}

describe('TCP_CONNECT', () => {
  it('carries bytes both ways, half-closes on FIN, and ends with FS_DONE 0', async () => {
    let received = '';
    let serverSawEnd = false;
    const port = await serve((s) => {
      s.on('data', (d: Buffer) => {
        received += d.toString();
        s.write(d.toString().toUpperCase());
      });
      s.on('end', () => {
        serverSawEnd = true;
        s.end('bye\n'); // still writable after the client's half-close
      });
    });
    const a = await startAgent();
    a.send(connect(3, port), stdin(3, Buffer.from('hello\n')));
    // The agent gives back stdin credit as the socket takes the bytes (WINDOW fd=0), then the echo comes.
    let echoed = await a.next();
    let granted = 0;
    while (echoed?.type === T.WINDOW) {
      granted += echoed.payload.readUInt32BE(1);
      echoed = await a.next();
    }
    expect(granted).toBe(6);
    expect(echoed?.type).toBe(T.STDOUT);
    expect(echoed?.payload.toString()).toBe('HELLO\n');
    a.send(windowFrame(3, 1, echoed!.payload.length), stdin(3, Buffer.alloc(0), true));
    const r = await collect(a, 3);
    expect(r.data.toString()).toBe('bye\n');
    expect(r.fin).toBe(true);
    expect(r.end.type).toBe(T.FS_DONE);
    expect(parseDone(r.end)).toEqual({ errno: 0, message: '' });
    expect(received).toBe('hello\n');
    expect(serverSawEnd).toBe(true);
  });

  it('fails with ECONNREFUSED, naming the address, when nothing listens', async () => {
    const port = await serve(() => {});
    await new Promise((r) => servers.pop()!.close(r)); // a port that was just free
    const a = await startAgent();
    a.send(connect(5, port));
    const f = await a.next();
    expect(f?.type).toBe(T.FS_DONE);
    const done = parseDone(f!);
    expect(done.errno).toBe(E.ECONNREFUSED);
    expect(done.message).toContain(`127.0.0.1:${port}`);
  });

  it('moves 8 MiB from the guest service intact, never past the granted window', async () => {
    const payload = randomBytes(8 << 20);
    const port = await serve((s) => s.end(payload));
    const a = await startAgent();
    a.send(connect(7, port, 65536), stdin(7, Buffer.alloc(0), true));
    // Without grants the agent stops at the window.
    let got = 0;
    while (got < 65536) {
      const f = await a.next();
      if (f?.type === T.STDOUT) got += f.payload.length;
    }
    expect(got).toBe(65536);
    expect(await a.quiet(300)).toBe(true);
    a.send(windowFrame(7, 1, 65536));
    const r = await collect(a, 7);
    expect(r.end.type).toBe(T.FS_DONE);
    expect(parseDone(r.end).errno).toBe(0);
    expect(65536 + r.data.length).toBe(payload.length);
    const all = createHash('sha256');
    all.update(payload.subarray(0, 65536));
    all.update(r.data);
    expect(all.digest('hex')).toBe(createHash('sha256').update(payload).digest('hex'));
  });

  it('keeps other streams moving while one connection has no credit', async () => {
    const port = await serve((s) => s.end(randomBytes(1 << 20)));
    const echoPort = await serve((s) => s.pipe(s));
    const a = await startAgent();
    a.send(connect(9, port, 1024), stdin(9, Buffer.alloc(0), true));
    a.send(connect(11, echoPort), stdin(11, Buffer.from('ping')));
    const seen: Frame[] = [];
    for (let i = 0; i < 20 && !seen.some((f) => f.stream === 11 && f.type === T.STDOUT); i++) seen.push((await a.next())!);
    const echoed = seen.find((f) => f.stream === 11 && f.type === T.STDOUT);
    expect(echoed?.payload.toString()).toBe('ping');
    const stalled = seen.filter((f) => f.stream === 9 && f.type === T.STDOUT).reduce((n, f) => n + f.payload.length, 0);
    expect(stalled).toBeLessThanOrEqual(1024);
  });

  it('reports a reset by the guest service as ECONNRESET', async () => {
    const port = await serve((s) => s.once('data', () => s.resetAndDestroy()));
    const a = await startAgent();
    a.send(connect(13, port), stdin(13, Buffer.from('x')));
    const r = await collect(a, 13);
    expect(r.end.type).toBe(T.FS_DONE);
    expect(parseDone(r.end).errno).toBe(E.ECONNRESET);
  });

  it('aborts on SIGNAL: the service sees the connection close, the stream ends with ECANCELED', async () => {
    let closed!: () => void;
    const serverClosed = new Promise<void>((r) => (closed = r));
    const port = await serve((s) => {
      s.on('error', () => {});
      s.on('close', () => closed());
      s.write('hi');
    });
    const a = await startAgent();
    a.send(connect(15, port));
    const hi = await a.next();
    expect(hi?.type).toBe(T.STDOUT);
    a.send(frame(T.SIGNAL, 15, u32(9)));
    const r = await collect(a, 15);
    expect(parseDone(r.end).errno).toBe(E.ECANCELED);
    await serverClosed;
  });

  it('delivers what the service answered before it broke the connection, then reports the broken write', async () => {
    // The service answers the first bytes with a refusal and closes its side; a moment later it resets.
    const port = await serve((s) => {
      s.on('error', () => {});
      s.once('data', () => {
        s.end('413 too large\n');
        setTimeout(() => s.resetAndDestroy(), 100);
      });
    });
    const a = await startAgent();
    a.send(connect(23, port), stdin(23, Buffer.from('first part')));
    let reply = '';
    let fin = false;
    while (!fin) {
      const f = (await a.next())!;
      if (f.type === T.STDOUT) {
        reply += f.payload.toString();
        fin = (f.flags & FIN) !== 0;
        if (f.payload.length > 0) a.send(windowFrame(23, 1, f.payload.length));
      }
    }
    expect(reply).toBe('413 too large\n');
    await new Promise((r) => setTimeout(r, 300)); // the reset has arrived
    // More input now fails to write: the stream ends with that errno, not as a clean close.
    for (let i = 0; i < 4; i++) a.send(stdin(23, Buffer.alloc(65536, 1)));
    const r = await collect(a, 23);
    expect(r.end.type).toBe(T.FS_DONE);
    expect([E.EPIPE, E.ECONNRESET]).toContain(parseDone(r.end).errno);
    expect(parseDone(r.end).message).toContain(`127.0.0.1:${port}`);
  });

  it('rejects window 0 and port 0 as malformed without opening anything', async () => {
    const a = await startAgent();
    a.send(frame(TCP_CONNECT, 17, Buffer.concat([u32(0), u16(80)])));
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.payload.readUInt32BE(0)).toBe(2);
    a.send(frame(TCP_CONNECT, 19, Buffer.concat([u32(1024), u16(0)])));
    const g = await a.next();
    expect(g?.type).toBe(T.ERROR);
    // The channel goes on.
    a.send(frame(T.PING, 0, Buffer.alloc(8)));
    expect((await a.next())?.type).toBe(T.PONG);
  });

  it('refuses a connection on a stream id that is in use', async () => {
    const port = await serve(() => {});
    const a = await startAgent();
    a.send(connect(21, port));
    await new Promise((r) => setTimeout(r, 100));
    a.send(connect(21, port));
    const f = await a.next();
    expect(f?.type).toBe(T.ERROR);
    expect(f?.payload.readUInt32BE(0)).toBe(3);
  });
});
