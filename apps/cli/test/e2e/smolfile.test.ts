// End-to-end: the built `smolvm` binary applies a Smolfile to real VMs under QEMU, and the guest sees it: env,
// workdir, user, cpus and memory, init, cmd and entrypoint for `machine run -s`; init, env, workdir and resources
// for `machine create -s` + start + exec. The Smolfiles name no image: they run on the default image.
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../../dist/bin.js', import.meta.url));
const T = 120_000;
// A private TMPDIR (the VMs' run dirs land there, so leak checks see only this file's VMs) and SMOLVM_HOME.
const privateTmp = mkdtempSync(join(tmpdir(), 'smolvm-e2e-smolfile-'));
const home = join(privateTmp, 'home');
const work = join(privateTmp, 'work');
mkdirSync(join(work, 'app'), { recursive: true });
const env: NodeJS.ProcessEnv = { ...process.env, SMOLVM_QUIET: '1', TMPDIR: privateTmp, SMOLVM_HOME: home };
// Supervisors' sockets go to <TMPDIR>/smolvm-<uid>/<id> without XDG_RUNTIME_DIR: inside the private TMPDIR too.
delete env.XDG_RUNTIME_DIR;
const runtimeBase = `smolvm-${userInfo().uid}`;

function smolvm(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}) {
  const r = spawnSync(process.execPath, [bin, ...args], { cwd: options.cwd ?? work, env: { ...env, ...options.env }, timeout: T });
  return { code: r.status, stdout: r.stdout.toString(), stderr: r.stderr.toString() };
}

const leftoverProcesses = (): string[] => {
  try {
    return execFileSync('pgrep', ['-f', privateTmp], { encoding: 'utf8' }).split('\n').filter(Boolean);
  } catch {
    return [];
  }
};

afterAll(() => {
  try {
    smolvm(['machine', 'rm', '-f', 'sf-web']);
    // No VM, supervisor or run directory may outlive the tests.
    expect(leftoverProcesses()).toEqual([]);
    expect(readdirSync(privateTmp).filter((entry) => !['home', 'work', runtimeBase].includes(entry))).toEqual([]);
    if (existsSync(join(privateTmp, runtimeBase))) expect(readdirSync(join(privateTmp, runtimeBase))).toEqual([]);
  } finally {
    rmSync(privateTmp, { recursive: true, force: true });
  }
});

/** MemTotal in the guest is a little under the VM's memory (the kernel keeps some). */
function expectMemTotal(kiB: number, memoryMiB: number): void {
  expect(kiB).toBeLessThanOrEqual(memoryMiB * 1024);
  expect(kiB).toBeGreaterThan(memoryMiB * 1024 * 0.8);
}

const REPORT = 'echo "env=$GREETING,$MODE,$TOKEN pwd=$(pwd) id=$(id -u):$(id -g) cpus=$(grep -c ^processor /proc/cpuinfo) mem=$(sed -n "s/MemTotal: *\\([0-9]*\\) kB/\\1/p" /proc/meminfo) init=$(cat /tmp/init-ran)"';

writeFileSync(
  join(work, 'app', 'Smolfile'),
  [
    'entrypoint = ["/bin/sh", "-c"]',
    `cmd = [${JSON.stringify(REPORT)}]`,
    'env = ["GREETING=hello", "MODE=top"]',
    'workdir = "/var"',
    'user = "65534:65534"',
    'cpus = 2',
    'memory = 300',
    // Init runs before the command, in the workdir, with the env (the machine is the same VM).
    'init = ["echo \\"$MODE@$(pwd)\\" > /tmp/init-ran", "chmod 644 /tmp/init-ran"]',
    '[dev]',
    'env = ["MODE=dev"]',
    '[secrets]',
    'TOKEN = { from_env = "HOST_TOKEN" }',
    '',
  ].join('\n'),
);

describe('smolvm machine run -s', () => {
  it('runs the Smolfile\'s entrypoint + cmd with its env, workdir, user, resources, init and secrets', () => {
    const r = smolvm(['machine', 'run', '-s', 'app/Smolfile'], { env: { HOST_TOKEN: 'tok' } });
    expect(r).toEqual({ code: 0, stdout: expect.any(String), stderr: '' });
    const m = /^env=hello,top,tok pwd=\/var id=65534:65534 cpus=2 mem=(\d+) init=top@\/var\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expectMemTotal(Number(m![1]), 300);
  }, T);

  it('applies [dev] with --dev, flags over it, and a command after -- in place of cmd (entrypoint kept)', () => {
    const r = smolvm(['machine', 'run', '-s', 'app/Smolfile', '--dev', '--mem', '256', '-e', 'GREETING=flag', '--', 'echo "$GREETING $MODE $(cat /tmp/init-ran) $(sed -n "s/MemTotal: *\\([0-9]*\\) kB/\\1/p" /proc/meminfo)"'], {
      env: { HOST_TOKEN: 'tok' },
    });
    expect(r.code).toBe(0);
    const m = /^flag dev dev@\/var (\d+)\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    expectMemTotal(Number(m![1]), 256);
  }, T);

  it('picks up ./Smolfile, says so on stderr, and stops before the command when init fails', () => {
    const dir = join(work, 'failing');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'Smolfile'), 'cmd = ["echo", "the command ran"]\ninit = ["echo init-output; exit 3"]\n');
    const r = smolvm(['machine', 'run'], { cwd: dir, env: { SMOLVM_QUIET: '' } });
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toMatch(/^smolvm: using \.\/Smolfile \(-s PATH picks another, --no-smolfile ignores it\)\n/);
    expect(r.stderr).toMatch(/smolvm: init command 1 of 1 \("echo init-output; exit 3"\) failed with exit code 3: init-output\n/);
  }, T);
});

describe('smolvm machine create -s', () => {
  it('creates a machine whose start runs init, and whose execs see the env, workdir, cpus and memory', () => {
    writeFileSync(
      join(work, 'app', 'Smolfile.web'),
      [
        'env = ["GREETING=hello"]',
        'workdir = "/tmp"',
        'cpus = 2',
        'memory = 256',
        'storage = 1',
        'init = ["echo \\"$GREETING from $(pwd)\\" >> /root/init-log"]',
        '',
      ].join('\n'),
    );
    expect(smolvm(['machine', 'create', 'sf-web', '-s', 'app/Smolfile.web'])).toEqual({ code: 0, stdout: 'sf-web\n', stderr: '' });
    expect(smolvm(['machine', 'start', 'sf-web']).code).toBe(0);
    const r = smolvm(['machine', 'exec', 'sf-web', '--', 'sh', '-c', 'echo "$GREETING|$(pwd)|$(grep -c ^processor /proc/cpuinfo)|$(sed -n "s/MemTotal: *\\([0-9]*\\) kB/\\1/p" /proc/meminfo)"; cat /root/init-log']);
    expect(r.code).toBe(0);
    const m = /^hello\|\/tmp\|2\|(\d+)\nhello from \/tmp\n$/.exec(r.stdout);
    expect(m, r.stdout).not.toBeNull();
    // With a balloon, MemTotal can sit a little lower; it is still this VM's memory, not the default 512 MiB.
    expect(Number(m![1])).toBeLessThanOrEqual(256 * 1024);
    expect(Number(m![1])).toBeGreaterThan(256 * 1024 * 0.7);
    expect(smolvm(['machine', 'rm', '-f', 'sf-web']).code).toBe(0);
  }, T);
});
