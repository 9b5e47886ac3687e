// How the agent reads its options (smolvm.root=, smolvm.vsock=, smolvm.volume=...): from the kernel
// command line (QEMU, and libkrun booting our kernel) and from PID 1's arguments (libkrun's init passes
// krun_set_exec's argv when libkrunfw's kernel boots). `--print-config` runs the same parser on a
// command-line file and argument tokens and prints the result, so no VM is needed.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const agentDir = fileURLToPath(new URL('../agent/', import.meta.url));
// A private build directory: other test files build the agent too, concurrently.
const buildDir = mkdtempSync(join(tmpdir(), 'smolvm-agent-options-build-'));
const agentBin = join(buildDir, 'smolvm-agent-host');

beforeAll(() => {
  const build = spawnSync('make', ['-C', agentDir, 'host', `O=${buildDir}`], { encoding: 'utf8', timeout: 120_000 });
  if (build.status !== 0 || !existsSync(agentBin)) throw new Error(`make -C agent host failed (${build.status}):\n${build.stdout}\n${build.stderr}`);
}, 130_000);
afterAll(() => rmSync(buildDir, { recursive: true, force: true }));

interface Parsed {
  status: number | null;
  config: Record<string, string>;
  volumes: string[];
  stderr: string;
}

function parse(cmdline: string, args: string[] = []): Parsed {
  const file = join(buildDir, `cmdline-${Math.random().toString(36).slice(2)}`);
  writeFileSync(file, `${cmdline}\n`);
  try {
    const r = spawnSync(agentBin, ['--print-config', '--cmdline', file, ...args], { encoding: 'utf8', timeout: 10_000 });
    const config: Record<string, string> = {};
    const volumes: string[] = [];
    for (const line of r.stdout.split('\n').filter(Boolean)) {
      const at = line.indexOf('=');
      const key = line.slice(0, at);
      const value = line.slice(at + 1);
      if (key === 'volume') volumes.push(value);
      else config[key] = value;
    }
    return { status: r.status, config, volumes, stderr: r.stderr };
  } finally {
    rmSync(file, { force: true });
  }
}

describe('smolvm-agent options', () => {
  it('reads the kernel command line as before, with the defaults', () => {
    const r = parse('console=hvc0 reboot=t quiet smolvm.root=/dev/vda smolvm.rootrw=/dev/vdb smolvm.vsock=1024 smolvm.volume=smolvm0:/data:ro:virtiofs');
    expect(r.status).toBe(0);
    expect(r.config).toEqual({
      root: '/dev/vda',
      rootfstype: 'ext4',
      rootrw: '/dev/vdb',
      hostname: 'smolvm',
      channel: '',
      vsock: '1024',
      halt: 'reboot',
      verbose: '0',
    });
    expect(r.volumes).toEqual(['smolvm0:/data:ro:virtiofs']);
  });

  it('takes every option from arguments alone (libkrunfw: the command line is libkrun\'s)', () => {
    const cmdline =
      'reboot=k panic=-1 console=hvc0 rootfstype=virtiofs rw quiet init=/init.krun KRUN_INIT=/.smolvm/agent KRUN_INIT_PID1=1 -- ' +
      '"smolvm.root=/dev/vda" "smolvm.vsock=1024"';
    const r = parse(cmdline, ['smolvm.root=/dev/vda', 'smolvm.rootrw=/dev/vdb', 'smolvm.vsock=1024', 'smolvm.volume=smolvm0:/srv:virtiofs', 'smolvm.volume=smolvm1:/ro:ro:virtiofs']);
    expect(r.status).toBe(0);
    expect(r.config).toMatchObject({ root: '/dev/vda', rootrw: '/dev/vdb', vsock: '1024', hostname: 'smolvm' });
    // Quoted words on libkrun's command line are not options: only the arguments count.
    expect(r.volumes).toEqual(['smolvm0:/srv:virtiofs', 'smolvm1:/ro:ro:virtiofs']);
  });

  it('lets arguments override command-line values and replace its volume list', () => {
    const r = parse('smolvm.root=/dev/vdz smolvm.hostname=a smolvm.vsock=1 smolvm.volume=old:/old', [
      'smolvm.root=/dev/vda',
      'smolvm.vsock=2048',
      'smolvm.volume=new:/new:virtiofs',
    ]);
    expect(r.status).toBe(0);
    expect(r.config).toMatchObject({ root: '/dev/vda', hostname: 'a', vsock: '2048' });
    expect(r.volumes).toEqual(['new:/new:virtiofs']);
  });

  it('keeps the command line\'s volumes when the arguments name none', () => {
    const r = parse('smolvm.volume=a:/a smolvm.volume=b:/b:ro', ['smolvm.verbose=1']);
    expect(r.config.verbose).toBe('1');
    expect(r.volumes).toEqual(['a:/a', 'b:/b:ro']);
  });

  it('refuses a malformed argument as it refuses a malformed command-line option', () => {
    for (const bad of ['smolvm.vsock=x', 'smolvm.vsock=0', 'smolvm.volume=t:relative', 'smolvm.volume=t:/a/../b', 'smolvm.volume=t:/', 'smolvm.volume=t!:/a']) {
      const r = parse('smolvm.root=/dev/vda', [bad]);
      expect(r.status, bad).toBe(2);
      expect(r.stderr, bad).toMatch(/smolvm\./);
    }
  });

  it('ignores unknown options, from either source, with a message', () => {
    const r = parse('smolvm.future=1', ['smolvm.other=2']);
    expect(r.status).toBe(0);
    expect(r.stderr).toMatch(/ignoring unknown kernel option smolvm\.future/);
    expect(r.stderr).toMatch(/ignoring unknown argument smolvm\.other/);
  });

  it('treats smolvm.root=none as no root', () => {
    expect(parse('smolvm.root=/dev/vda', ['smolvm.root=none']).config.root).toBe('');
  });

  it('is not PID 1 here: VM mode still refuses to start without --stdio or --fd', () => {
    const r = spawnSync(agentBin, ['smolvm.root=/dev/vda'], { encoding: 'utf8' });
    expect(r.status).toBe(2);
  });
});
