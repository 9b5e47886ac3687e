// In-process CLI tests: usage errors, help and version, without booting anything.
import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { main } from '../src/main.js';

async function cli(...argv: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  let out = '';
  let err = '';
  stdout.on('data', (d: Buffer) => (out += d.toString()));
  stderr.on('data', (d: Buffer) => (err += d.toString()));
  const code = await main(argv, { stdout, stderr, env: { ...process.env, SMOLVM_QEMU: '/nonexistent' }, cwd: process.cwd() });
  return { code, stdout: out, stderr: err };
}

describe('smolvm CLI usage', () => {
  it('prints its version', async () => {
    const r = await cli('--version');
    expect(r).toEqual({ code: 0, stdout: '0.1.0\n', stderr: '' });
  });

  it('lists the commands in --help', async () => {
    const r = await cli('--help');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/machine/);
    expect(r.stdout).toMatch(/doctor/);
  });

  it('rejects an unknown flag with exit 2 and names it', async () => {
    const r = await cli('machine', 'run', '--bogus', '--', 'true');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/unknown option '--bogus'/);
  });

  it('rejects a missing command with exit 2 and shows the form', async () => {
    const r = await cli('machine', 'run');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatchInlineSnapshot(`
      "smolvm: missing the command to run
      hint: Put it after --, e.g.: smolvm machine run -- uname -a
      "
    `);
  });

  it.each([
    [['--mem', '0'], /memory must be a whole number of MiB from 64/],
    [['--cpus', '999'], /cpus must be a whole number from 1 to 64/],
    [['--cpus', 'two'], /--cpus must be a whole number, got "two"/],
    [['-e', 'NOEQUALS'], /environment entry "NOEQUALS" is not KEY=VALUE/],
    [['-p', '8080'], /^smolvm: -p: invalid port "8080"; expected "HOST:GUEST".*\nhint: write "8080:8080" to forward the same port/s],
    [['-p', '8080:99999'], /-p: invalid port "8080:99999": guest port 99999 is out of range/],
    [['-p', 'localhost:8080:80'], /-p: invalid port "localhost:8080:80": "localhost" is not an IP address/],
    [['-p', '8080:80', '-p', '8080:81'], /-p: host port 127\.0\.0\.1:8080->81 is published twice/],
  ])('rejects %j before booting', async (flags, message) => {
    const r = await cli('machine', 'run', ...flags, '--', 'true');
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
  });

  it('reports a missing QEMU with exit 1 and how to install it', async () => {
    const r = await cli('machine', 'run', '--', 'true');
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/smolvm: .*(was not found|does not run|is not an executable file)/);
    expect(r.stderr).toMatch(/hint: Install QEMU/);
  });

  it('doctor reports each check and fails when QEMU is missing', async () => {
    const r = await cli('doctor', '--json');
    const report = JSON.parse(r.stdout) as { ok: boolean; checks: Array<{ name: string; ok: boolean }> };
    expect(r.code).toBe(1);
    expect(report.checks.map((c) => c.name)).toEqual(['engine', 'libkrun', 'accelerator', 'qemu', 'kernel', 'agent', 'default image']);
    expect(report.checks.find((c) => c.name === 'qemu')?.ok).toBe(false);
  });
});
