// Published ports without a VM: `normalizePorts`, and `PortForwarder` driving the real guest agent (its
// native build, `smolvm-agent-host --stdio`) over a real AgentConnection, to services on this host's
// loopback (where the agent's "127.0.0.1:PORT in the guest" lands when it runs natively).
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { connect, createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AgentConnection } from '@smolvm/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { MAX_FORWARDED_CONNECTIONS, PortForwarder, formatPort, normalizePorts, type PortMapping } from '../src/index.js';
import { buildHostAgent } from './krun-fixtures.js';

const buildDir = mkdtempSync(join(tmpdir(), 'smolvm-ports-agent-'));
let agentBin: string;

describe('normalizePorts', () => {
  it('reads strings and objects, binding loopback unless an address is given', () => {
    expect(normalizePorts(['8080:80', '0.0.0.0:5433:5432', '[::1]:8443:443', { hostPort: 0, guestPort: 22 }])).toEqual([
      { hostAddress: '127.0.0.1', hostPort: 8080, guestPort: 80 },
      { hostAddress: '0.0.0.0', hostPort: 5433, guestPort: 5432 },
      { hostAddress: '::1', hostPort: 8443, guestPort: 443 },
      { hostAddress: '127.0.0.1', hostPort: 0, guestPort: 22 },
    ]);
    expect(normalizePorts(undefined)).toEqual([]);
  });

  it.each([
    [['80'], /invalid port "80".*expected "HOST:GUEST"/s],
    [['8080:0'], /guest port 0 is out of range/],
    [['a:80'], /"a" is not a host port number/],
    [['localhost:8080:80'], /"localhost" is not an IP address/],
    [['8080:80/udp'], /invalid port "8080:80\/udp"/],
    [['8080:80', '8080:81'], /host port 127\.0\.0\.1:8080->81 is published twice/],
    [['0.0.0.0:8080:80', '8080:81'], /host port 127\.0\.0\.1:8080->81 overlaps 0\.0\.0\.0:8080->80: 0\.0\.0\.0 takes that port on every address/],
    [['[::1]:8080:80', '[::]:8080:81'], /overlaps \[::1\]:8080->80: :: takes that port/],
    [[{ hostPort: 8080, guestPort: 70000 }], /guestPort must be a whole number from 1 to 65535/],
    [[{ hostPort: -1, guestPort: 80 }], /hostPort must be a whole number from 0/],
    [[{ hostPort: 1, guestPort: 80, hostAddress: 'example.com' }], /"example.com" is not an IP address/],
    [[42], /neither "HOST:GUEST" nor/],
    ['8080:80', /ports must be an array/],
  ])('refuses %j with SMOLVM_ERR_INVALID_PORT', (input, message) => {
    let err: unknown;
    try {
      normalizePorts(input as never);
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_INVALID_PORT', message: expect.stringMatching(message) });
  });

  it('allows the same host port on two addresses, and at most 128 ports', () => {
    expect(normalizePorts(['127.0.0.1:8080:80', '127.0.0.2:8080:80'])).toHaveLength(2);
    expect(normalizePorts(['0.0.0.0:8080:80', '[::1]:8080:80'])).toHaveLength(2);
    expect(() => normalizePorts(Array.from({ length: 129 }, (_, i) => `${10000 + i}:80`))).toThrow(/at most 128/);
  });

  it('formats mappings for people', () => {
    expect(formatPort({ hostAddress: '::1', hostPort: 8443, guestPort: 443 })).toBe('[::1]:8443->443');
  });
});

// ---- forwarding through the real agent ----

let agent: ChildProcessWithoutNullStreams | undefined;
let conn: AgentConnection | undefined;
const servers: Server[] = [];
const forwarders: PortForwarder[] = [];

beforeAll(async () => {
  agentBin = await buildHostAgent(buildDir);
}, 130_000);
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));
afterEach(async () => {
  await Promise.all(forwarders.splice(0).map((f) => f.close()));
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  agent?.kill('SIGKILL');
  agent = undefined;
  conn = undefined;
});

async function startAgent(): Promise<AgentConnection> {
  const child = spawn(agentBin, ['--stdio'], { stdio: ['pipe', 'pipe', 'pipe'] });
  agent = child;
  child.stdin.on('error', () => {});
  const c = new AgentConnection({ send: (b) => void child.stdin.write(b) });
  child.stdout.on('data', (d: Buffer) => c.receive(d));
  child.on('exit', () => c.close());
  await c.handshake();
  conn = c;
  return c;
}

async function serve(onConnection: (s: Socket) => void): Promise<number> {
  const srv = createServer({ allowHalfOpen: true }, onConnection);
  servers.push(srv);
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  return (srv.address() as AddressInfo).port;
}

async function forward(guestPort: number, onError?: (m: PortMapping, msg: string) => void): Promise<number> {
  const c = conn ?? (await startAgent());
  const fw = await PortForwarder.open([{ hostAddress: '127.0.0.1', hostPort: 0, guestPort }], {
    connection: () => c,
    ...(onError ? { onConnectionError: onError } : {}),
  });
  forwarders.push(fw);
  return fw.ports[0]!.hostPort;
}

/** Connects, writes `send` (then half-closes), and collects everything until the server closes. */
function exchange(port: number, send: Buffer): Promise<{ data: Buffer; error?: string }> {
  return new Promise((resolve) => {
    const s = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
    const parts: Buffer[] = [];
    let error: string | undefined;
    s.on('connect', () => s.end(send));
    s.on('data', (d: Buffer) => parts.push(d));
    s.on('error', (e: NodeJS.ErrnoException) => (error = e.code ?? e.message));
    s.on('close', () => resolve({ data: Buffer.concat(parts), ...(error ? { error } : {}) }));
  });
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('PortForwarder with the guest agent', () => {
  it('carries a request and its answer, after the client half-closed', async () => {
    const guestPort = await serve((s) => {
      const got: Buffer[] = [];
      s.on('data', (d: Buffer) => got.push(d));
      s.on('end', () => s.end(`you sent ${Buffer.concat(got).length} bytes`));
    });
    const port = await forward(guestPort);
    expect(await exchange(port, Buffer.from('GET / HTTP/1.0\r\n\r\n'))).toEqual({ data: Buffer.from('you sent 18 bytes') });
  });

  it('moves 16 MiB each way intact', async () => {
    const up = randomBytes(16 << 20);
    const down = randomBytes(16 << 20);
    let gotUp!: (sha: string) => void;
    const upSha = new Promise<string>((r) => (gotUp = r));
    const guestPort = await serve((s) => {
      const h = createHash('sha256');
      s.on('data', (d: Buffer) => h.update(d));
      s.on('end', () => gotUp(h.digest('hex')));
      s.end(down); // the answer flows while the request still arrives
    });
    const port = await forward(guestPort);
    const r = await exchange(port, up);
    expect(r.error).toBeUndefined();
    expect(sha(r.data)).toBe(sha(down));
    expect(await upSha).toBe(sha(up));
  }, 60_000);

  it('serves 40 concurrent connections, each its own stream', async () => {
    const guestPort = await serve((s) => s.pipe(s));
    const port = await forward(guestPort);
    const results = await Promise.all(Array.from({ length: 40 }, (_, i) => exchange(port, Buffer.from(`client ${i}`))));
    expect(results.map((r) => r.data.toString())).toEqual(Array.from({ length: 40 }, (_, i) => `client ${i}`));
  });

  it('resets the client and reports it when nothing listens on the guest port', async () => {
    const guestPort = await serve(() => {});
    await new Promise((r) => servers.pop()!.close(r));
    const errors: string[] = [];
    const port = await forward(guestPort, (_m, msg) => errors.push(msg));
    const r = await exchange(port, Buffer.from('hello'));
    expect(r.data.length).toBe(0);
    expect(r.error).toBe('ECONNRESET');
    await new Promise((res) => setTimeout(res, 50));
    expect(errors).toEqual([`127.0.0.1:${port}->${guestPort}: nothing listens on port ${guestPort} in the machine (connection refused)`]);
  });

  it(`resets connections past ${MAX_FORWARDED_CONNECTIONS} open at once, says so once, and takes new ones when some close`, async () => {
    const guestPort = await serve((s) => s.on('end', () => s.end('bye')).resume());
    const errors: string[] = [];
    const port = await forward(guestPort, (_m, msg) => errors.push(msg));
    const open: Socket[] = [];
    for (let i = 0; i < MAX_FORWARDED_CONNECTIONS; i++) {
      const c = connect({ host: '127.0.0.1', port, allowHalfOpen: true });
      c.on('error', () => {});
      open.push(c);
      await new Promise((r) => c.once('connect', r));
    }
    await new Promise((r) => setTimeout(r, 200)); // the forwarder has taken every one of them
    const extra = await exchange(port, Buffer.from('x'));
    expect(extra.error).toBe('ECONNRESET');
    expect(errors).toEqual([`127.0.0.1:${port}->${guestPort}: ${MAX_FORWARDED_CONNECTIONS} forwarded connections are open; resetting new ones until some close`]);
    for (const c of open) c.destroy();
    await new Promise((r) => setTimeout(r, 300));
    expect(await exchange(port, Buffer.from('x'))).toEqual({ data: Buffer.from('bye') });
  }, 30_000);

  it('resets connections while no VM is up (no agent connection)', async () => {
    const fw = await PortForwarder.open([{ hostAddress: '127.0.0.1', hostPort: 0, guestPort: 80 }], { connection: () => undefined });
    forwarders.push(fw);
    const r = await exchange(fw.ports[0]!.hostPort, Buffer.from('x'));
    expect(r.error).toBe('ECONNRESET');
  });

  it('aborts the guest side when the client goes away, and close() resets open connections', async () => {
    let guestSaw = 0;
    let guestClosed!: () => void;
    const closed = new Promise<void>((r) => (guestClosed = r));
    const guestPort = await serve((s) => {
      guestSaw++;
      s.on('error', () => {});
      s.on('end', () => s.end());
      s.on('close', () => guestClosed());
      s.write('hello');
    });
    const port = await forward(guestPort);
    const client = connect({ host: '127.0.0.1', port });
    client.on('error', () => {});
    await new Promise<void>((r) => client.once('data', () => r()));
    client.resetAndDestroy();
    await closed;
    expect(guestSaw).toBe(1);

    const second = connect({ host: '127.0.0.1', port });
    const ended = new Promise<string>((r) => {
      second.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
      second.on('close', () => r('closed'));
    });
    await new Promise<void>((r) => second.once('data', () => r()));
    await forwarders[0]!.close();
    expect(['ECONNRESET', 'closed']).toContain(await ended);
    // Nothing listens any more.
    expect((await exchange(port, Buffer.from('x'))).error).toBe('ECONNREFUSED');
  });
});

describe('PortForwarder binding', () => {
  it('says which port is in use, and binds all or none', async () => {
    const taken = await serve(() => {});
    const free = createServer();
    await new Promise<void>((r) => free.listen(0, '127.0.0.1', r));
    const freePort = (free.address() as AddressInfo).port;
    await new Promise((r) => free.close(r));
    let err: unknown;
    try {
      await PortForwarder.open(
        [
          { hostAddress: '127.0.0.1', hostPort: freePort, guestPort: 1 },
          { hostAddress: '127.0.0.1', hostPort: taken, guestPort: 80 },
        ],
        { connection: () => undefined },
      );
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'SMOLVM_ERR_PORT_UNAVAILABLE',
      message: `cannot publish 127.0.0.1:${taken}->80: host port 127.0.0.1:${taken} is already in use`,
      hint: expect.stringMatching(/publish another host port/),
    });
    // The first one was released again.
    const again = await PortForwarder.open([{ hostAddress: '127.0.0.1', hostPort: freePort, guestPort: 1 }], { connection: () => undefined });
    await again.close();
  });

  it('says when the address is not this host\'s', async () => {
    // 192.0.2.0/24 is reserved for documentation: never an address of this host. Binding sends nothing.
    await expect(PortForwarder.open([{ hostAddress: '192.0.2.1', hostPort: 0, guestPort: 80 }], { connection: () => undefined })).rejects.toMatchObject({
      code: 'SMOLVM_ERR_PORT_UNAVAILABLE',
      message: 'cannot publish 192.0.2.1:0->80: 192.0.2.1 is not an address of this host',
    });
  });
});
