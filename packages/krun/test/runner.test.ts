// Contract tests of the runner: `node dist/runner-main.js` is spawned with SMOLVM_LIBKRUN pointing at
// a stand-in libkrun (test/fixtures/fake-libkrun.c) that records each call and whose
// krun_start_enter ends the process with _exit(FAKE_KRUN_EXIT_CODE). They prove the order and the
// arguments of the calls the runner makes for a spec, its exit status, and its error protocol. No VM
// boots: what libkrun does with the calls is not tested here.
import { existsSync } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { validateKrunVmSpec, type KrunVmSpec } from '../src/runner.js';
import {
  describeExitStatus,
  formatRunnerError,
  parseRunnerError,
  RUNNER_EXIT_SETUP_FAILED,
  runnerPath,
} from '../src/runner-protocol.js';
import { childEnv, distRunner, fixtures, readCalls, runNode } from './helpers.js';

let runs = 0;

async function runRunner(
  spec: unknown,
  options: {
    library?: string;
    exitCode?: number;
    results?: string;
    via?: 'stdin' | 'fd3';
    raw?: string;
    writeDelayMs?: number;
  } = {},
) {
  const log = join(fixtures().dir, `runner-${process.pid}-${runs++}.jsonl`);
  const text = options.raw ?? JSON.stringify(spec);
  const via = options.via ?? 'stdin';
  const result = await runNode(via === 'fd3' ? [distRunner, '--spec-fd', '3'] : [distRunner], {
    env: childEnv({
      SMOLVM_LIBKRUN: options.library ?? fixtures().full,
      FAKE_KRUN_LOG: log,
      FAKE_KRUN_EXIT_CODE: String(options.exitCode ?? 0),
      FAKE_KRUN_RESULTS: options.results,
    }),
    ...(via === 'fd3' ? { fd3: text } : { stdin: text }),
    writeDelayMs: options.writeDelayMs,
  });
  return { ...result, calls: readCalls(log) };
}

const FULL_SPEC: KrunVmSpec = {
  logLevel: 'debug',
  vcpus: 2,
  ramMiB: 1024,
  kernel: { path: '/k/vmlinux', format: 'elf', initramfs: '/k/initrd', cmdline: 'quiet' },
  rootDir: '/srv/root',
  disks: [
    { id: 'data', path: '/d/data.qcow2', format: 'qcow2', readOnly: false },
    { id: 'base', path: '/d/base.raw', format: 'raw', readOnly: true },
  ],
  exec: {
    path: '/usr/bin/env',
    argv: ['-i', 'sh', '-c', 'echo "ünï ✓"', ''],
    env: ['PATH=/usr/bin:/bin', 'HOME=/root', 'EMPTY='],
    workdir: '/work',
  },
  rlimits: ['7=1024:4096'],
  virtiofs: [{ tag: 'share', path: '/srv/share' }],
  tsi: { hijackInet: true, hijackUnix: false },
  vsockPorts: [
    { port: 1024, path: '/run/agent.sock', listen: false },
    { port: 2048, path: '/run/in.sock', listen: true },
  ],
  portMap: ['8080:80'],
  consoleOutput: '/run/console.log',
  nestedVirt: false,
};

describe('runner process', () => {
  it('applies the spec in order, then start_enter ends the process with its status', async () => {
    const result = await runRunner(FULL_SPEC, { exitCode: 42 });
    expect(result.stderr).toBe('');
    expect(result.code).toBe(42);
    expect(result.calls.map((c) => [c.fn, ...c.args])).toEqual([
      ['krun_set_log_level', 4],
      ['krun_create_ctx'],
      ['krun_set_vm_config', 0, 2, 1024],
      ['krun_set_kernel', 0, '/k/vmlinux', 1, '/k/initrd', 'quiet'],
      ['krun_set_root', 0, '/srv/root'],
      ['krun_add_disk2', 0, 'data', '/d/data.qcow2', 1, false],
      ['krun_add_disk2', 0, 'base', '/d/base.raw', 0, true],
      ['krun_set_exec', 0, '/usr/bin/env', ['-i', 'sh', '-c', 'echo "ünï ✓"', ''], ['PATH=/usr/bin:/bin', 'HOME=/root', 'EMPTY=']],
      ['krun_set_workdir', 0, '/work'],
      ['krun_set_rlimits', 0, ['7=1024:4096']],
      ['krun_add_virtiofs', 0, 'share', '/srv/share'],
      ['krun_disable_implicit_vsock', 0],
      ['krun_add_vsock', 0, 1],
      ['krun_add_vsock_port2', 0, 1024, '/run/agent.sock', false],
      ['krun_add_vsock_port2', 0, 2048, '/run/in.sock', true],
      ['krun_set_port_map', 0, ['8080:80']],
      ['krun_set_console_output', 0, '/run/console.log'],
      ['krun_set_nested_virt', 0, false],
      ['krun_start_enter', 0, []],
    ]);
  });

  it('reads the spec from --spec-fd, passes an empty env array, and exposes no port by default', async () => {
    const spec: KrunVmSpec = { vcpus: 1, ramMiB: 128, rootDir: '/r', exec: { path: '/bin/true', argv: [], env: [] } };
    const result = await runRunner(spec, { via: 'fd3', exitCode: 0 });
    expect(result).toMatchObject({ code: 0, stderr: '' });
    expect(result.calls.map((c) => [c.fn, ...c.args])).toEqual([
      ['krun_create_ctx'],
      ['krun_set_vm_config', 0, 1, 128],
      ['krun_set_root', 0, '/r'],
      ['krun_set_exec', 0, '/bin/true', [], []],
      ['krun_set_port_map', 0, []],
      ['krun_start_enter', 0, []],
    ]);
  });

  it.each(['stdin', 'fd3'] as const)('waits for a spec written late on %s', async (via) => {
    const spec: KrunVmSpec = { vcpus: 1, ramMiB: 128, rootDir: '/r', exec: { path: '/bin/true', argv: [], env: [] } };
    const result = await runRunner(spec, { via, exitCode: 9, writeDelayMs: 300 });
    expect(result).toMatchObject({ code: 9, stderr: '' });
    expect(result.calls.at(-1)?.fn).toBe('krun_start_enter');
  });

  it('roots on a disk with remount, and skips the port map when TSI inet is off', async () => {
    const spec: KrunVmSpec = {
      vcpus: 1,
      ramMiB: 256,
      disks: [{ id: 'root', path: '/d/root.raw', format: 'raw', readOnly: false }],
      rootDiskRemount: { device: '/dev/vda', fstype: 'ext4' },
      exec: { path: '/sbin/agent', argv: [], env: ['A=1'] },
      tsi: { hijackInet: false, hijackUnix: false },
    };
    const result = await runRunner(spec, { exitCode: 125 });
    expect(result.code).toBe(125);
    expect(result.calls.map((c) => [c.fn, ...c.args])).toEqual([
      ['krun_create_ctx'],
      ['krun_set_vm_config', 0, 1, 256],
      ['krun_add_disk2', 0, 'root', '/d/root.raw', 0, false],
      ['krun_set_root_disk_remount', 0, '/dev/vda', 'ext4', null],
      ['krun_set_exec', 0, '/sbin/agent', [], ['A=1']],
      ['krun_disable_implicit_vsock', 0],
      ['krun_add_vsock', 0, 0],
      ['krun_start_enter', 0, []],
    ]);
    expect(describeExitStatus(result.code)).toContain("libkrun's init could not set up");
  });

  it('writes one JSON error line and exits 70 when a call fails before start', async () => {
    const result = await runRunner(FULL_SPEC, { results: `krun_set_exec=-${osConstants.errno.ENOENT}`, exitCode: 3 });
    expect(result.code).toBe(RUNNER_EXIT_SETUP_FAILED);
    expect(result.stdout).toBe('');
    const lines = result.stderr.trimEnd().split('\n');
    expect(lines).toHaveLength(1);
    expect(JSON.parse(lines[0]!)).toEqual({
      error: {
        code: 'SMOLVM_ERR_KRUN_CALL_FAILED',
        message: expect.stringContaining('krun_set_exec failed with ENOENT'),
        errno: osConstants.errno.ENOENT,
        errnoName: 'ENOENT',
        fn: 'krun_set_exec',
      },
    });
    expect(result.calls.map((c) => c.fn).at(-1)).toBe('krun_set_exec');
    expect(result.calls.some((c) => c.fn === 'krun_start_enter')).toBe(false);
  });

  it('reports a krun_start_enter that returns an error', async () => {
    const spec: KrunVmSpec = { vcpus: 1, ramMiB: 128, rootDir: '/r', exec: { path: '/bin/true', argv: [], env: [] } };
    const result = await runRunner(spec, { results: `krun_start_enter=-${osConstants.errno.EINVAL}` });
    expect(result.code).toBe(70);
    expect(parseRunnerError(result.stderr)).toMatchObject({ fn: 'krun_start_enter', errnoName: 'EINVAL' });
  });

  it.each([
    ['invalid JSON', { raw: '{"vcpus": 1,' }, 'SMOLVM_ERR_KRUN_SPEC_UNREADABLE'],
    ['an invalid spec', { spec: { vcpus: 0, ramMiB: 1, rootDir: '/', exec: { path: '/x', argv: [], env: [] } } }, 'SMOLVM_ERR_KRUN_SPEC_INVALID'],
    ['a missing library', { library: '/nonexistent/libkrun.so.1' }, 'SMOLVM_ERR_KRUN_NOT_FOUND'],
  ])('exits 70 with a JSON error for %s, before any call', async (_name, o, code) => {
    const options = o as { raw?: string; spec?: unknown; library?: string };
    const result = await runRunner(options.spec ?? FULL_SPEC, options);
    expect(result.code).toBe(70);
    expect(parseRunnerError(result.stderr)?.code).toBe(code);
    expect(result.calls).toEqual([]);
  });

  it('names the missing symbol when the library lacks disk support', async () => {
    const result = await runRunner(FULL_SPEC, { library: fixtures().minimal });
    expect(result.code).toBe(70);
    expect(parseRunnerError(result.stderr)).toMatchObject({ code: 'SMOLVM_ERR_KRUN_SYMBOL_MISSING', fn: 'krun_add_disk2' });
  });
});

describe('validateKrunVmSpec', () => {
  const base = { vcpus: 1, ramMiB: 128, rootDir: '/r', exec: { path: '/bin/true', argv: [], env: [] } };

  it('accepts the full spec unchanged', () => {
    expect(validateKrunVmSpec(JSON.parse(JSON.stringify(FULL_SPEC)))).toEqual(FULL_SPEC);
  });

  it.each([
    ['spec', null],
    ['spec.vcpus', { ...base, vcpus: 256 }],
    ['spec.ramMiB', { ...base, ramMiB: 1.5 }],
    ['spec.extra', { ...base, extra: true }],
    ['spec.rootDir', { ...base, rootDir: undefined }],
    ['spec.rootDir', { ...base, rootDiskRemount: { device: '/dev/vda' }, disks: [{ id: 'a', path: '/a', format: 'raw', readOnly: false }] }],
    ['spec.disks', { ...base, rootDir: undefined, rootDiskRemount: { device: '/dev/vda' } }],
    ['spec.disks[0].format', { ...base, disks: [{ id: 'a', path: '/a', format: 'vhdx', readOnly: false }] }],
    ['spec.disks (id)', { ...base, disks: [{ id: 'a', path: '/a', format: 'raw', readOnly: false }, { id: 'a', path: '/b', format: 'raw', readOnly: false }] }],
    ['spec.exec.env', { ...base, exec: { path: '/x', argv: [] } }],
    ['spec.exec.env[0]', { ...base, exec: { path: '/x', argv: [], env: ['NOEQUALS'] } }],
    ['spec.exec.argv', { ...base, exec: { path: '/x', argv: Array.from({ length: 33 }, () => 'a'), env: [] } }],
    ['spec.exec.argv[0]', { ...base, exec: { path: '/x', argv: ['a\0b'], env: [] } }],
    ['spec.kernel.format', { ...base, kernel: { path: '/k', format: 'bzimage' } }],
    ['spec.vsockPorts[0].listen', { ...base, vsockPorts: [{ port: 1, path: '/s' }] }],
    ['spec.vsockPorts (port)', { ...base, vsockPorts: [{ port: 1, path: '/s', listen: true }, { port: 1, path: '/t', listen: false }] }],
    ['spec.portMap[0]', { ...base, portMap: ['80'] }],
    ['spec.portMap[0]', { ...base, portMap: ['70000:80'] }],
    ['spec.portMap', { ...base, portMap: ['8080:80'], tsi: { hijackInet: false, hijackUnix: false } }],
    ['spec.logLevel', { ...base, logLevel: 'verbose' }],
  ])('refuses a bad %s', (field, value) => {
    expect(() => validateKrunVmSpec(value)).toThrow(
      expect.objectContaining({ code: 'SMOLVM_ERR_KRUN_SPEC_INVALID', field: expect.stringContaining(field) }),
    );
  });
});

describe('runner protocol', () => {
  it('points runnerPath at the built runner', () => {
    expect(runnerPath).toBe(distRunner);
    expect(existsSync(runnerPath)).toBe(true);
  });

  it('finds the error line among other stderr output', () => {
    const line = formatRunnerError({ code: 'SMOLVM_ERR_KRUN_NOT_FOUND', message: 'm' });
    expect(parseRunnerError(`libkrun log line\n{"error": not json\n${line}\n`)).toEqual({ code: 'SMOLVM_ERR_KRUN_NOT_FOUND', message: 'm' });
    expect(parseRunnerError('workload output\n')).toBeUndefined();
  });

  it.each([
    [0, null, 'successfully'],
    [70, null, 'runner failed before starting the VM'],
    [125, null, 'could not set up the environment'],
    [126, null, 'could not execute it'],
    [127, null, 'could not find the program'],
    [3, null, 'exited with status 3'],
    [null, 'SIGKILL', 'killed by SIGKILL'],
  ] as const)('describes exit status %s / %s', (code, signal, text) => {
    expect(describeExitStatus(code, signal)).toContain(text);
  });
});
