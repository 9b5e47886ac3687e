// End-to-end: published ports on real microVMs. busybox httpd serves in the guest; the host talks HTTP to
// its own loopback port, and the bytes cross the agent channel (the guest still has no network device).
import { createHash, randomBytes } from 'node:crypto';
import { request } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { Machine } from '../../src/index.js';
import { machineHome, runCli } from './helpers.js';

const T = 180_000;
const h = machineHome();

/** A host port that was free a moment ago (for fixed mappings; SDK tests use 0 instead). */
async function freePort(): Promise<number> {
  const s = createServer();
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
  const port = (s.address() as AddressInfo).port;
  await new Promise((r) => s.close(r));
  return port;
}

interface Reply {
  status?: number;
  body: Buffer;
  error?: string;
}

function httpGet(port: number, path = '/'): Promise<Reply> {
  return new Promise((resolve) => {
    const req = request({ host: '127.0.0.1', port, path, agent: false, timeout: 20_000 }, (res) => {
      const parts: Buffer[] = [];
      res.on('data', (d: Buffer) => parts.push(d));
      res.on('end', () => resolve({ status: res.statusCode!, body: Buffer.concat(parts) }));
      res.on('error', (e: NodeJS.ErrnoException) => resolve({ body: Buffer.concat(parts), error: e.code ?? e.message }));
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', (e: NodeJS.ErrnoException) => resolve({ body: Buffer.alloc(0), error: e.code ?? e.message }));
    req.end();
  });
}

/** Polls until the guest service answers (it starts after the exec that launched it returns). */
async function waitForHttp(port: number, path = '/'): Promise<Reply> {
  const end = Date.now() + 30_000;
  for (;;) {
    const r = await httpGet(port, path);
    if (r.status !== undefined || Date.now() > end) return r;
    await new Promise((res) => setTimeout(res, 200));
  }
}

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
// busybox httpd without -f daemonises with its stdio on /dev/null, so the exec that starts it returns.
const HTTPD = (port: number): string[] => ['httpd', '-p', String(port), '-h', '/www'];

describe('published ports of an ephemeral machine', () => {
  it('reach a service in the guest, carry 8 MiB intact, reset when nothing listens, and close with the VM', async () => {
    const errors: string[] = [];
    const m = await Machine.boot({ memoryMiB: 256, ports: [{ hostPort: 0, guestPort: 8000 }, { hostPort: 0, guestPort: 9 }], onPortError: (e) => errors.push(e) });
    let port = 0;
    try {
      expect(m.ports).toHaveLength(2);
      expect(m.ports[0]).toMatchObject({ hostAddress: '127.0.0.1', guestPort: 8000 });
      port = m.ports[0]!.hostPort;
      expect(port).toBeGreaterThan(0);
      const blob = randomBytes(8 << 20);
      await m.files.write('/www/blob.bin', blob, { mkdirs: true });
      await m.files.write('/www/index.html', 'hello from the guest\n');
      expect((await m.exec(HTTPD(8000))).exitCode).toBe(0);

      const index = await waitForHttp(port);
      expect(index).toMatchObject({ status: 200, body: Buffer.from('hello from the guest\n') });
      expect((await httpGet(port, '/missing')).status).toBe(404);
      const big = await httpGet(port, '/blob.bin');
      expect(big.status).toBe(200);
      expect(big.body.length).toBe(blob.length);
      expect(sha(big.body)).toBe(sha(blob));
      // Several clients at once, each its own connection and stream.
      const many = await Promise.all(Array.from({ length: 8 }, () => httpGet(port)));
      expect(many.map((r) => r.status)).toEqual(Array(8).fill(200));

      // Nothing listens on guest port 9: the client is reset, and the SDK says why.
      const refused = await httpGet(m.ports[1]!.hostPort);
      expect(refused.status).toBeUndefined();
      expect(refused.error).toBe('ECONNRESET');
      expect(errors.some((e) => e.includes('nothing listens on port 9 in the machine'))).toBe(true);
      // The guest has no network device even so: loopback, and the kernel's idle IPv6-in-IPv4 tunnel
      // template (sit0), which has no address and reaches nothing.
      const ifaces = (await m.exec(['ls', '/sys/class/net'])).stdout.trim().split('\n');
      expect(ifaces.filter((i) => i !== 'sit0')).toEqual(['lo']);
    } finally {
      await m.stop();
    }
    expect((await httpGet(port)).error).toBe('ECONNREFUSED');
  }, T);

  it('fails before booting when a host port is taken, and leaves nothing running', async () => {
    const taken = createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const port = (taken.address() as AddressInfo).port;
    try {
      await expect(Machine.run({ cmd: ['true'], ports: [`${port}:80`] })).rejects.toMatchObject({
        code: 'SMOLVM_ERR_PORT_UNAVAILABLE',
        message: `cannot publish 127.0.0.1:${port}->80: host port 127.0.0.1:${port} is already in use`,
      });
      expect(h.tmp.leftovers().processes).toEqual([]);
    } finally {
      await new Promise((r) => taken.close(r));
    }
  }, T);
});

describe('published ports of a persistent machine', () => {
  it('are stored, bound while it runs (across a restart), shown by the CLI, and released when it stops', async () => {
    const port = await freePort();
    const m = await Machine.create('web', { memoryMiB: 256, storageGiB: 1, ports: [`${port}:8000`], init: ['mkdir -p /www', 'echo persistent > /www/index.html', HTTPD(8000).join(' ')], hostEnv: h.env });
    expect(m.ports).toEqual([{ hostAddress: '127.0.0.1', hostPort: port, guestPort: 8000 }]);
    await m.start();
    try {
      expect(await waitForHttp(port)).toMatchObject({ status: 200, body: Buffer.from('persistent\n') });
      const ls = await cli(['machine', 'ls']);
      expect(ls.stdout).toMatch(new RegExp(`^web\\s+running\\s.*\\s127\\.0\\.0\\.1:${port}->8000$`, 'm'));
      const inspect = await cli(['machine', 'inspect', 'web']);
      expect(inspect.stdout).toMatch(new RegExp(`^ports\\s+127\\.0\\.0\\.1:${port}->8000$`, 'm'));

      // A second machine that wants the same host port cannot start, and says why.
      await cli(['machine', 'create', 'clash', '--mem', '256', '--storage', '1', '-p', `${port}:80`]);
      const clash = await cli(['machine', 'start', 'clash']);
      expect(clash.code).toBe(1);
      expect(clash.stderr).toContain(`host port 127.0.0.1:${port} is already in use`);

      m.disconnect();
      await m.restart();
      expect(await waitForHttp(port)).toMatchObject({ status: 200, body: Buffer.from('persistent\n') });
    } finally {
      m.disconnect();
      await m.stop();
    }
    expect((await httpGet(port)).error).toBe('ECONNREFUSED');
  }, T);

  it('stay bound while the supervisor restarts a crashed VM, and serve again once it is back', async () => {
    const port = await freePort();
    const m = await Machine.create('phoenix', {
      memoryMiB: 256,
      storageGiB: 1,
      ports: [`${port}:8000`],
      restartPolicy: 'always',
      restartMaxRetries: 3,
      init: ['mkdir -p /www', 'echo again > /www/index.html', HTTPD(8000).join(' ')],
      hostEnv: h.env,
    });
    await m.start();
    try {
      expect(await waitForHttp(port)).toMatchObject({ status: 200, body: Buffer.from('again\n') });
      const first = (await m.inspect()).status!.vmmPid!;
      process.kill(first, 'SIGKILL');
      // The same supervisor (and listening socket) serves the restarted VM.
      const end = Date.now() + 60_000;
      let reply = await httpGet(port);
      while (reply.status !== 200 && Date.now() < end) {
        expect(reply.error === undefined || reply.error === 'ECONNRESET').toBe(true); // never refused: still bound
        await new Promise((r) => setTimeout(r, 200));
        reply = await httpGet(port);
      }
      expect(reply).toMatchObject({ status: 200, body: Buffer.from('again\n') });
      expect((await m.inspect()).status!.restartCount).toBe(1);
    } finally {
      m.disconnect();
      await m.stop();
    }
    expect((await httpGet(port)).error).toBe('ECONNREFUSED');
  }, T);
});

const cli = (args: string[]): ReturnType<typeof runCli> => runCli(h.env, args);
