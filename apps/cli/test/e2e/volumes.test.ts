// End-to-end: `smolvm machine run -v HOST:GUEST[:ro]` and a Smolfile's `volumes` mount host directories in a
// real VM (9p under QEMU): the guest reads and writes them, `:ro` refuses writes, relative paths start from the
// working directory (-v) or the Smolfile's directory, and a missing host directory fails before any VM boots.
import { execFileSync, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 120_000;
const privateTmp = mkdtempSync(join(tmpdir(), 'smolvm-e2e-volumes-'));
const vmTmp = join(privateTmp, 'tmp');
const work = join(privateTmp, 'work');
mkdirSync(vmTmp);
mkdirSync(join(work, 'shared'), { recursive: true });
mkdirSync(join(work, 'app', 'data'), { recursive: true });
const env: NodeJS.ProcessEnv = { ...process.env, SMOLVM_QUIET: '1', TMPDIR: vmTmp, SMOLVM_HOME: join(privateTmp, 'home') };

function smolvm(args: string[], cwd = work) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd, env, timeout: T });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

afterAll(() => {
  try {
    let procs: string[] = [];
    try {
      procs = execFileSync('pgrep', ['-f', privateTmp], { encoding: 'utf8' }).split('\n').filter(Boolean);
    } catch {
      procs = [];
    }
    expect(procs).toEqual([]);
    expect(readdirSync(vmTmp)).toEqual([]);
  } finally {
    rmSync(privateTmp, { recursive: true, force: true });
  }
});

describe('smolvm machine run -v', () => {
  it('mounts a host directory (relative to the working directory) read-write, and another read-only', () => {
    writeFileSync(join(work, 'shared', 'in.txt'), 'host text\n');
    const r = smolvm([
      'machine', 'run', '-v', './shared:/mnt/shared', '--volume', `${join(work, 'app')}:/ro:ro`, '--',
      'sh', '-c', 'cat /mnt/shared/in.txt && echo guest text > /mnt/shared/out.txt && ls /ro && (touch /ro/x 2>&1 || echo refused)',
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('host text\ndata\ntouch: /ro/x: Read-only file system\nrefused\n');
    expect(readFileSync(join(work, 'shared', 'out.txt'), 'utf8')).toBe('guest text\n');
    expect(readdirSync(join(work, 'app'))).toEqual(['data']);
  }, T);

  it('refuses a malformed -v and a missing host directory before booting', () => {
    const bad = smolvm(['machine', 'run', '-v', './shared:/a/../etc', '--', 'true']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/-v: .*must not contain "\.\."/);
    const missing = smolvm(['machine', 'run', '-v', './nope:/data', '--', 'true']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain(`volume host directory ${join(work, 'nope')} does not exist`);
  }, T);
});

describe('a Smolfile\'s volumes under machine run', () => {
  it('mounts them, relative to the Smolfile\'s directory, without a "not applied" notice', () => {
    writeFileSync(join(work, 'app', 'Smolfile'), 'volumes = ["./data:/data"]\ncmd = ["sh", "-c", "echo from smolfile > /data/made.txt; ls /data"]\n');
    // Run from elsewhere: ./data is the app directory's.
    const r = smolvm(['machine', 'run', '-s', join(work, 'app', 'Smolfile')], work);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('made.txt\n');
    expect(readFileSync(join(work, 'app', 'data', 'made.txt'), 'utf8')).toBe('from smolfile\n');
  }, T);
});
