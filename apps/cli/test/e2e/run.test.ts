// End-to-end: the built `smolvm` binary, real VMs under QEMU, driven as a person or a script would.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, readFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { get } from 'node:http';
import { createServer, type AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesMentioning } from '@smolvm/test-utils';

const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 180_000;
// A private TMPDIR: the VMs' run dirs land there, so leak checks see only this file's VMs.
const privateTmp = mkdtempSync(join(tmpdir(), 'smolvm-e2e-cli-'));
const env = { ...process.env, SMOLVM_QUIET: '1', TMPDIR: privateTmp };

function smolvm(args: string[], input?: Buffer | string) {
  const r = spawnSync(process.execPath, [bin, ...args], { env, input, maxBuffer: 1024 * 1024 * 1024, timeout: T });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString(), raw: r.stdout };
}

const leftoverProcesses = (): number[] => processesMentioning(privateTmp);

let work: string;
beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'smolvm-cli-test-'));
});
afterAll(() => {
  rmSync(work, { recursive: true, force: true });
  try {
    // No VM, socket or temp directory may outlive its run.
    expect(leftoverProcesses()).toEqual([]);
    expect(readdirSync(privateTmp)).toEqual([]);
  } finally {
    rmSync(privateTmp, { recursive: true, force: true });
  }
});

describe('smolvm machine run', () => {
  it('sends stdout and stderr to the right streams and returns the exit code', () => {
    const r = smolvm(['machine', 'run', '--', 'sh', '-c', 'echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  }, T);

  it('returns 127 with a message for a missing command', () => {
    const r = smolvm(['machine', 'run', '--', 'no-such-thing']);
    expect(r.code).toBe(127);
    expect(r.stderr).toMatch(/no-such-thing: command not found/);
  }, T);

  it('applies -e, -w and --user', () => {
    const r = smolvm(['machine', 'run', '-e', 'A=1', '-e', 'B=two words', '-w', '/var', '-u', '65534:65534', '--', 'sh', '-c', 'echo "$A|$B|$(pwd)|$(id -u):$(id -g)"']);
    expect(r).toMatchObject({ code: 0, stdout: '1|two words|/var|65534:65534\n' });
  }, T);

  it('streams 200 MB of stdin with -i and the guest hashes it exactly', () => {
    const file = join(work, 'big.bin');
    writeFileSync(file, randomBytes(200 * 1024 * 1024));
    const data = readFileSync(file);
    const want = createHash('sha256').update(data).digest('hex');
    const r = smolvm(['machine', 'run', '-i', '--', 'sha256sum'], data);
    expect(r.code).toBe(0);
    expect(r.stdout.split(' ')[0]).toBe(want);
  }, T);

  it('delivers binary stdout byte for byte', () => {
    const r = smolvm(['machine', 'run', '--', 'sh', '-c', 'head -c 10000000 /dev/urandom | tee /tmp/x | sha256sum >&2; cat /tmp/x']);
    expect(r.code).toBe(0);
    expect(r.raw.length).toBe(10_000_000);
    expect(createHash('sha256').update(r.raw).digest('hex')).toBe(r.stderr.split(' ')[0]);
  }, T);

  it('kills the command at --timeout and says so', () => {
    const r = smolvm(['machine', 'run', '--timeout', '2s', '--', 'sleep', '60']);
    expect(r.code).toBe(124);
    expect(r.stderr).toMatch(/ran past its 2s timeout and was killed/);
  }, T);

  it('rejects a nonsense --timeout as a usage error', () => {
    const r = smolvm(['machine', 'run', '--timeout', 'soon', '--', 'true']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--timeout soon is not a duration/);
  });

  it('forwards SIGTERM to the workload', async () => {
    const child = spawn(process.execPath, [bin, 'machine', 'run', '--', 'sh', '-c', 'trap "echo got-term; exit 7" TERM; echo ready; while true; do sleep 0.1; done'], { env });
    let out = '';
    child.stdout.on('data', (d: Buffer) => {
      out += d.toString();
      if (out.includes('ready') && !child.killed) child.kill('SIGTERM');
    });
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(out).toContain('got-term');
    expect(code).toBe(7);
  }, T);

  it('ends when the command exits, though a background process still holds the output open', async () => {
    // As a container exec: the background sleep does not keep the run (or the VM) alive.
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [bin, 'machine', 'run', '--', 'sh', '-c', 'sleep 600 & echo ready'], { env });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.on('close', (code) => resolve({ code, out }));
    });
    expect(r).toEqual({ code: 0, out: 'ready\n' });
  }, T);

  it('publishes a guest port with -p while the command runs', async () => {
    const probe = createServer();
    await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
    const port = (probe.address() as AddressInfo).port;
    await new Promise((r) => probe.close(r));
    // The command serves until the test has fetched the page and says so on its stdin.
    const script = 'mkdir -p /www && echo from-cli > /www/index.html && httpd -p 8000 -h /www && echo serving && read done';
    const child = spawn(process.execPath, [bin, 'machine', 'run', '-i', '-p', `${port}:8000`, '--', 'sh', '-c', script], { env });
    let out = '';
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const served = new Promise<void>((resolve) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        if (out.includes('serving')) resolve();
      });
    });
    await served;
    const body = await new Promise<string>((resolve, reject) => {
      get({ host: '127.0.0.1', port, path: '/', agent: false }, (res) => {
        let b = '';
        res.on('data', (d: Buffer) => (b += d.toString()));
        res.on('end', () => resolve(b));
      }).on('error', reject);
    });
    expect(body).toBe('from-cli\n');
    child.stdin.end('done\n');
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' });
  }, T);
});

const hasTmux = spawnSync('tmux', ['-V']).status === 0;

describe.skipIf(!hasTmux)('smolvm machine run -it (driven through tmux like a person; skipped without tmux)', () => {
  const session = `smolvm-test-${process.pid}`;
  const tmux = (...args: string[]): string => execFileSync('tmux', args, { encoding: 'utf8' });
  const screen = (): string => tmux('capture-pane', '-p', '-t', session);
  async function waitFor(re: RegExp, ms = 60_000): Promise<string> {
    const end = Date.now() + ms;
    for (;;) {
      const s = screen();
      if (re.test(s)) return s;
      if (Date.now() > end) throw new Error(`timed out waiting for ${re}; screen:\n${s}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  it('is a usable shell: commands, window size, resize, Ctrl-C, exit, terminal restored', async () => {
    const after = join(work, 'stty-after');
    const beforeFile = join(work, 'stty-before');
    const script = `stty -g > ${beforeFile}; SMOLVM_QUIET=1 ${process.execPath} ${bin} machine run -it -- sh; echo "exit=$?"; stty -g > ${after}; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '80', '-y', '24', 'sh', '-c', script);
    try {
      await waitFor(/^\/ #\s*$/m);
      tmux('send-keys', '-t', session, 'echo $((6*7)); stty size', 'Enter');
      await waitFor(/^42$/m);
      await waitFor(/^24 80$/m);
      tmux('resize-window', '-t', session, '-x', '100', '-y', '30');
      await new Promise((r) => setTimeout(r, 500));
      tmux('send-keys', '-t', session, 'clear; stty size', 'Enter');
      await waitFor(/^30 100$/m);
      tmux('send-keys', '-t', session, 'sleep 100', 'Enter');
      await new Promise((r) => setTimeout(r, 500));
      tmux('send-keys', '-t', session, 'C-c');
      tmux('send-keys', '-t', session, 'echo after-interrupt', 'Enter');
      await waitFor(/^after-interrupt$/m);
      tmux('send-keys', '-t', session, 'exit 5', 'Enter');
      await waitFor(/^exit=5$/m);
      for (let i = 0; i < 50 && !existsSync(after); i++) await new Promise((r) => setTimeout(r, 100));
      expect(readFileSync(after, 'utf8')).toBe(readFileSync(beforeFile, 'utf8'));
    } finally {
      spawnSync('tmux', ['kill-session', '-t', session]);
    }
  }, T);
});
