// A real registry for tests: Debian's docker-registry (the CNCF distribution registry) on 127.0.0.1,
// with its config and storage in a temp dir; and skopeo, an independent client, to push test images.
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { writeFileSync, mkdirSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';
import { promisify } from 'node:util';

const execFileP = promisify(execFile);

export interface TestRegistry {
  /** `127.0.0.1:PORT` */
  host: string;
  /** The registry's storage root (docker/registry/v2/…), for tampering with blobs. */
  storage: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const addr = s.address();
      s.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

async function waitReady(host: string, child: ChildProcess, deadline: number): Promise<boolean> {
  while (Date.now() < deadline) {
    if (child.exitCode !== null) return false;
    try {
      const res = await fetch(`http://${host}/v2/`, { signal: AbortSignal.timeout(1000) });
      if (res.status === 200) return true;
    } catch {
      /* not up yet */
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return false;
}

export async function startRegistry(dir: string): Promise<TestRegistry> {
  const storage = join(dir, 'storage');
  mkdirSync(storage, { recursive: true });
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const host = `127.0.0.1:${port}`;
    const config = join(dir, 'config.yml');
    writeFileSync(config, [
      'version: 0.1',
      'log:',
      '  level: error',
      '  accesslog:',
      '    disabled: true',
      'storage:',
      '  filesystem:',
      `    rootdirectory: ${storage}`,
      '  delete:',
      '    enabled: true',
      'http:',
      `  addr: ${host}`,
      '  secret: smolvm-test-secret',
      '',
    ].join('\n'));
    const child = spawn('docker-registry', ['serve', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => {
      if (stderr.length < 8192) stderr += d.toString();
    });
    if (await waitReady(host, child, Date.now() + 15_000)) {
      return {
        host,
        storage,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null) return resolve();
            const t = setTimeout(() => child.kill('SIGKILL'), 5000);
            child.once('exit', () => {
              clearTimeout(t);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      };
    }
    child.kill('SIGKILL');
    if (attempt === 2) throw new Error(`docker-registry did not start: ${stderr.slice(-2000)}`);
  }
  throw new Error('unreachable');
}

/** `skopeo copy` with loopback-friendly flags; `all` copies every platform of an index. */
export async function skopeoCopy(from: string, to: string, opts: { all?: boolean } = {}): Promise<void> {
  const args = ['copy', '--quiet', '--insecure-policy', '--src-tls-verify=false', '--dest-tls-verify=false'];
  if (opts.all) args.push('--all');
  await execFileP('skopeo', [...args, from, to], { timeout: 60_000 });
}
