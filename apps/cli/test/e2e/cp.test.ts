// End-to-end: `smolvm machine cp` between the host and a persistent machine.
import { spawnSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 180_000;
const work = mkdtempSync(join(tmpdir(), 'smolvm-e2e-cp-'));
const env = { ...process.env, SMOLVM_QUIET: '1', TMPDIR: join(work, 'tmp'), SMOLVM_HOME: join(work, 'home') };
mkdirSync(env.TMPDIR, { recursive: true });

const smolvm = (...args: string[]) => {
  const r = spawnSync(process.execPath, [bin, ...args], { env, encoding: 'utf8', timeout: T });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
};

beforeAll(() => {
  expect(smolvm('machine', 'create', 'box', '--mem', '256', '--storage', '1').code).toBe(0);
  expect(smolvm('machine', 'start', 'box').code).toBe(0);
}, T);
afterAll(() => {
  smolvm('machine', 'rm', '-f', 'box');
  rmSync(work, { recursive: true, force: true });
}, T);

describe('smolvm machine cp', () => {
  it('copies a directory tree into the machine and back, keeping modes', () => {
    const src = join(work, 'tree');
    mkdirSync(join(src, 'sub', 'deeper'), { recursive: true });
    writeFileSync(join(src, 'a.txt'), 'alpha\n');
    writeFileSync(join(src, 'sub', 'run.sh'), '#!/bin/sh\necho ran\n');
    chmodSync(join(src, 'sub', 'run.sh'), 0o751);
    writeFileSync(join(src, 'sub', 'deeper', 'b.bin'), Buffer.from([0, 1, 2, 255]));
    expect(smolvm('machine', 'cp', src, 'box:/srv/').code).toBe(0);
    const r = smolvm('machine', 'exec', 'box', '--', 'sh', '-c', 'cat /srv/tree/a.txt; /srv/tree/sub/run.sh; stat -c %a /srv/tree/sub/run.sh; od -An -tu1 /srv/tree/sub/deeper/b.bin');
    expect(r.stdout.replace(/\s+/g, ' ').trim()).toBe('alpha ran 751 0 1 2 255');
    const back = join(work, 'back');
    expect(smolvm('machine', 'cp', 'box:/srv/tree', back).code).toBe(0);
    expect(readFileSync(join(back, 'a.txt'), 'utf8')).toBe('alpha\n');
    expect(statSync(join(back, 'sub', 'run.sh')).mode & 0o777).toBe(0o751);
    expect([...readFileSync(join(back, 'sub', 'deeper', 'b.bin'))]).toEqual([0, 1, 2, 255]);
  }, T);

  it('fails clearly and leaves no partial host file when the guest path is missing', () => {
    const dest = join(work, 'out');
    mkdirSync(dest);
    const r = smolvm('machine', 'cp', 'box:/no/such/file', join(dest, 'f'));
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/ENOENT/);
    expect(readdirSync(dest)).toEqual([]);
  }, T);

  it('needs exactly one NAME:PATH side', () => {
    const r = smolvm('machine', 'cp', '/etc/hostname', '/tmp/x');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/exactly one side of cp must be NAME:PATH/);
  });
});
