// Contract tests of the libkrun engine. They prove the FFI/engine layer, not that a VM boots:
//
// 1. Against @smolvm/krun's real runner and the stand-in libkrun (packages/krun/test/fixtures/
//    fake-libkrun.c, which records every call and whose krun_start_enter ends the process with a chosen
//    status): the libkrun calls made for a VmSpec, and how each exit status becomes an error.
// 2. Against a stand-in runner that plays the guest with the real agent built for the host, connected
//    the way libkrun connects a vsock port to a unix socket: the engine's lifecycle (handshake,
//    shutdown, kill, timeout, abort) and its cleanup (runner reaped, socket removed).
//
// That libkrun accepts these calls and boots this guest is only shown by krun-e2e.test.ts, on a host
// with libkrun and a usable hypervisor.
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { constants as osConstants, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { AgentConnection } from '@smolvm/protocol';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { VmSpec } from '../src/engine.js';
import { isSmolvmError } from '../src/errors.js';
import { KrunEngine, type KrunEngineError } from '../src/krun-engine.js';
import { GuestProcess } from '../src/process.js';
import {
  alive,
  buildHostAgent,
  fakeBzImage,
  fakeElfKernel,
  makeKrunFixtures,
  readCalls,
  removeKrunFixtures,
  standInRunner,
  writeFakeInitramfs,
  type KrunTestFixtures,
} from './krun-fixtures.js';
import { KRUN_ROOT_AGENT_PATH, KRUN_ROOT_DIRS } from '../src/krun-root.js';

let fx: KrunTestFixtures;
const dirs: string[] = [];

beforeAll(async () => {
  fx = await makeKrunFixtures();
}, 60_000);
afterAll(() => removeKrunFixtures(fx));
afterEach(async () => {
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true });
});

/** A VmSpec over fake guest files in a fresh private directory, as Machine.boot makes one. */
async function makeSpec(overrides: Partial<VmSpec> = {}, kernel: Buffer = fakeElfKernel()): Promise<VmSpec> {
  const runDir = await mkdtemp(join(tmpdir(), 'smolvm-krun-engine-'));
  dirs.push(runDir);
  await writeFile(join(runDir, 'vmlinux'), kernel);
  await writeFile(join(runDir, 'initramfs.cpio'), 'initramfs');
  await writeFile(join(runDir, 'rootfs.ext4'), 'rootfs');
  return {
    cpus: 3,
    memoryMiB: 768,
    kernel: join(runDir, 'vmlinux'),
    initramfs: join(runDir, 'initramfs.cpio'),
    rootDisk: join(runDir, 'rootfs.ext4'),
    consoleLog: join(runDir, 'console.log'),
    runDir,
    ...overrides,
  };
}

/**
 * The engine's environment: this libkrun, and a hypervisor (a fake usable /dev/kvm on Linux). No libkrunfw
 * unless the options name one, so these tests do not depend on the host's libkrunfw.
 */
function engine(vars: Record<string, string>, options: { runnerPath?: string; krunfwCandidates?: string[] } = {}): KrunEngine {
  return new KrunEngine({ ...vars }, { root: fx.kvmRoot, krunfwCandidates: [], ...options });
}

async function bootError(e: KrunEngine, spec: VmSpec): Promise<KrunEngineError> {
  const err = await e.boot(spec).then(
    () => {
      throw new Error('boot succeeded against a stand-in libkrun that never connects the agent');
    },
    (x: unknown) => x,
  );
  expect(isSmolvmError(err)).toBe(true);
  return err as KrunEngineError;
}

let logs = 0;
function logFile(): string {
  return join(fx.dir, `calls-${process.pid}-${logs++}.jsonl`);
}

describe('KrunEngine with the real runner and the stand-in libkrun (no VM boots)', () => {
  it('starts the runner with a Node signed for the hypervisor on macOS (stand-in codesign), made once in the cache', async () => {
    const spec = await makeSpec();
    const cache = await mkdtemp(join(tmpdir(), 'smolvm-krun-cache-'));
    dirs.push(cache);
    const codesign = fileURLToPath(new URL('../../krun/test/fixtures/fake-codesign.sh', import.meta.url));
    const log = logFile();
    const e = new KrunEngine(
      { SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log, FAKE_KRUN_EXIT_CODE: '0', SMOLVM_CACHE_DIR: cache },
      { root: fx.kvmRoot, krunfwCandidates: [], runnerNode: { platform: 'darwin', codesign } },
    );
    const err = await bootError(e, spec);
    // The runner ran (under the signed copy) and made its calls.
    expect(readCalls(log).map((c) => c.fn)).toContain('krun_start_enter');
    expect(err.code).toBe('SMOLVM_ERR_BOOT_FAILED');
    const keys = await readdir(join(cache, 'krun-node'));
    expect(keys).toHaveLength(1);
    expect(await readdir(join(cache, 'krun-node', keys[0]!))).toEqual(['node']);
    expect((await readFile(join(cache, 'krun-node', keys[0]!, 'node'))).includes('<key>com.apple.security.hypervisor</key>')).toBe(true);
  }, 60_000);

  it('makes the libkrun calls the VmSpec asks for: resources, our kernel + initramfs, the image as a read-only disk, vsock, console', async () => {
    const spec = await makeSpec({ kernelArgs: ['smolvm.verbose=1'] });
    await writeFile(spec.consoleLog, 'guest says hello\n');
    const log = logFile();
    const err = await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log, FAKE_KRUN_EXIT_CODE: '0' }), spec);

    const calls = readCalls(log).map(({ fn, args }) => ({ fn, args }));
    expect(calls).toEqual([
      { fn: 'krun_set_log_level', args: [1] },
      { fn: 'krun_create_ctx', args: [] },
      { fn: 'krun_set_vm_config', args: [0, 3, 768] },
      {
        fn: 'krun_set_kernel',
        args: [
          0,
          spec.kernel,
          1, // KRUN_KERNEL_FORMAT_ELF
          spec.initramfs,
          'console=hvc0 reboot=t panic=-1 quiet smolvm.root=/dev/vda smolvm.vsock=1024 smolvm.verbose=1',
        ],
      },
      { fn: 'krun_add_disk2', args: [0, 'root', spec.rootDisk, 0, true] }, // raw, read-only: /dev/vda
      { fn: 'krun_set_root_disk_remount', args: [0, '/dev/vda', 'ext4', 'ro'] },
      // The agent is the initramfs's /init; its environment is explicit, never the host's.
      { fn: 'krun_set_exec', args: [0, '/init', [], ['HOME=/', 'TERM=linux']] },
      // No network: the implicit vsock device (TSI through the host's sockets) is replaced by one without TSI.
      { fn: 'krun_disable_implicit_vsock', args: [0] },
      { fn: 'krun_add_vsock', args: [0, 0] },
      { fn: 'krun_add_vsock_port2', args: [0, 1024, join(spec.runDir, 'agent.sock'), false] },
      { fn: 'krun_set_console_output', args: [0, spec.consoleLog] },
      { fn: 'krun_start_enter', args: [0, []] },
    ]);

    // krun_start_enter ended the runner with 0 before any agent connected.
    expect(err.code).toBe('SMOLVM_ERR_BOOT_FAILED');
    expect(err.message).toBe('the libkrun VM ended before the guest agent was up (status 0)');
    expect(err.hint).toBe('Guest console:\nguest says hello');
    expect(err.exitCode).toBe(0);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
  });

  it('shares a volume as virtio-fs and tells the agent to mount it with the virtiofs type', async () => {
    const spec = await makeSpec();
    const log = logFile();
    const volumes = [{ hostPath: spec.runDir, guestPath: '/data', readOnly: true }];
    await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log }), { ...spec, volumes });
    const calls = readCalls(log);
    expect(calls.filter((c) => c.fn.startsWith('krun_add_virtiofs')).map(({ fn, args }) => ({ fn, args }))).toEqual([
      { fn: 'krun_add_virtiofs', args: [0, 'smolvm0', spec.runDir] },
    ]);
    expect(calls.find((c) => c.fn === 'krun_set_kernel')?.args[4]).toBe(
      'console=hvc0 reboot=t panic=-1 quiet smolvm.root=/dev/vda smolvm.vsock=1024 smolvm.volume=smolvm0:/data:ro:virtiofs',
    );
  });

  it('adds a machine\'s writable disk as /dev/vdb, the overlay\'s upper layer', async () => {
    const spec = await makeSpec();
    const dataDisk = join(spec.runDir, 'data.ext4');
    await writeFile(dataDisk, 'data');
    const log = logFile();
    await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log }), { ...spec, dataDisk, balloon: true });
    const calls = readCalls(log);
    expect(calls.filter((c) => c.fn === 'krun_add_disk2').map((c) => c.args)).toEqual([
      [0, 'root', spec.rootDisk, 0, true],
      [0, 'data', dataDisk, 0, false],
    ]);
    expect(calls.find((c) => c.fn === 'krun_set_kernel')?.args[4]).toBe(
      'console=hvc0 reboot=t panic=-1 quiet smolvm.root=/dev/vda smolvm.rootrw=/dev/vdb smolvm.vsock=1024',
    );
  });

  it.each([
    [125, /libkrun's init could not set up the environment/],
    [126, /libkrun's init found the program but could not execute it/],
    [127, /libkrun's init could not find the program/],
  ])('turns exit status %i into SMOLVM_ERR_KRUN_INIT_FAILED with what it means', async (status, meaning) => {
    const spec = await makeSpec();
    const err = await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_EXIT_CODE: String(status) }), spec);
    expect(err.code).toBe('SMOLVM_ERR_KRUN_INIT_FAILED');
    expect(err.message).toMatch(/^the libkrun VM ended before the guest agent was up\. Status \d+: /);
    expect(err.message).toMatch(meaning);
    expect(err.exitCode).toBe(status);
    expect(err.hint).toMatch(/did not start the initramfs/);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
  });

  it('turns status 70 with the runner\'s error line into that error, naming the libkrun call that failed', async () => {
    const spec = await makeSpec();
    const log = logFile();
    const err = await bootError(
      engine({
        SMOLVM_LIBKRUN: fx.full,
        FAKE_KRUN_LOG: log,
        FAKE_KRUN_RESULTS: `krun_add_vsock_port2=-${osConstants.errno.EADDRINUSE}`,
      }),
      spec,
    );
    expect(err.code).toBe('SMOLVM_ERR_KRUN_CALL_FAILED');
    expect(err.fn).toBe('krun_add_vsock_port2');
    expect(err.errnoName).toBe('EADDRINUSE');
    expect(err.exitCode).toBe(70);
    expect(err.message).toMatch(/^libkrun could not start the VM \(krun_add_vsock_port2 failed\): krun_add_vsock_port2 failed with EADDRINUSE/);
    expect(err.hint).toMatch(/smolvm doctor/);
    // The runner stopped at the failing call: the VM was never entered.
    expect(readCalls(log).map((c) => c.fn).slice(-2)).toEqual(['krun_add_vsock', 'krun_add_vsock_port2']);
  });

  it('passes on libkrun\'s own hint when krun_start_enter refuses the configuration', async () => {
    const spec = await makeSpec();
    const err = await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_RESULTS: `krun_start_enter=-${osConstants.errno.EINVAL}` }), spec);
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_KRUN_CALL_FAILED', fn: 'krun_start_enter', errnoName: 'EINVAL', exitCode: 70 });
    expect(err.hint).toMatch(/rejected the configuration as a whole/);
  });

  it('treats status 70 without an error line as the guest\'s own status, not the runner\'s', async () => {
    const spec = await makeSpec();
    const err = await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_EXIT_CODE: '70' }), spec);
    expect(err.code).toBe('SMOLVM_ERR_BOOT_FAILED');
    expect(err.message).toMatch(/status 70 without an error report from the runner/);
    expect(err.hint).toMatch(/The guest printed nothing/);
  });

  it('refuses a bzImage before starting anything, and says what to do instead', async () => {
    const spec = await makeSpec({}, fakeBzImage());
    const log = logFile();
    const err = await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log }), spec);
    expect(err.code).toBe('SMOLVM_ERR_KRUN_KERNEL_UNSUPPORTED');
    expect(err.message).toMatch(/x86 bzImage/);
    expect(err.hint).toMatch(/Or boot libkrunfw's bundled kernel instead .*SMOLVM_KRUN_KERNEL=libkrunfw/);
    expect(err.hint).toMatch(/SMOLVM_ENGINE=qemu/);
    expect(readCalls(log)).toEqual([]);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
  });

  it('refuses to boot on a libkrun without the calls it needs, listing them', async () => {
    const spec = await makeSpec();
    const e = engine({ SMOLVM_LIBKRUN: fx.minimal });
    const err = await bootError(e, spec);
    expect(err.code).toBe('SMOLVM_ERR_ENGINE_UNAVAILABLE');
    expect(err.message).toMatch(/fake-libkrun-minimal\.\w+ lacks krun_add_disk2 or krun_add_disk, which the libkrun engine calls$/);
    expect(err.hint).toMatch(/BLK=1/);
  });

  it.runIf(process.platform === 'linux')('refuses to boot without a usable hypervisor', async () => {
    const spec = await makeSpec();
    const err = await bootError(new KrunEngine({ SMOLVM_LIBKRUN: fx.full }, { root: fx.pvmRoot, krunfwCandidates: [] }), spec);
    expect(err.code).toBe('SMOLVM_ERR_ENGINE_UNAVAILABLE');
    expect(err.message).toMatch(/no usable hypervisor: \/dev\/kvm is a PVM nested hypervisor/);
  });
});

describe("KrunEngine on libkrunfw's kernel, with the stand-in libkrun and libkrunfw (no VM boots)", () => {
  const AGENT = Buffer.from('pretend static agent\n');

  /** A spec whose initramfs holds an agent, and the engine's environment for libkrunfw's kernel. */
  async function krunfwCase(vars: Record<string, string> = {}, overrides: Partial<VmSpec> = {}) {
    const spec = await makeSpec(overrides);
    await writeFakeInitramfs(spec.initramfs, AGENT);
    const cache = join(spec.runDir, 'cache');
    const log = logFile();
    const e = engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log, SMOLVM_CACHE_DIR: cache, ...vars }, { krunfwCandidates: [fx.krunfw] });
    return { spec, e, log, cache };
  }

  it("boots without krun_set_kernel: the agent from the VM's own root directory, options as its arguments, PID 1", async () => {
    const dataDisk = '/m/data.ext4';
    const { spec, e, log, cache } = await krunfwCase({}, { dataDisk, volumes: [{ hostPath: '/host/data', guestPath: '/data', readOnly: true }] });
    expect(e.kernel()).toMatchObject({ mode: 'libkrunfw', reason: `default, libkrunfw found: ${fx.krunfw}, version 5` });
    await bootError(e, spec);

    const calls = readCalls(log).map(({ fn, args }) => ({ fn, args }));
    const rootDir = calls.find((c) => c.fn === 'krun_set_root')?.args[1] as string;
    expect(rootDir.startsWith(join(cache, 'krun-root', `${process.pid}-`))).toBe(true);
    expect(calls).toEqual([
      { fn: 'krun_set_log_level', args: [1] },
      { fn: 'krun_create_ctx', args: [] },
      { fn: 'krun_set_vm_config', args: [0, 3, 768] },
      // No krun_set_kernel: libkrun boots libkrunfw's kernel. Its root is the prepared directory.
      { fn: 'krun_set_root', args: [0, rootDir] },
      { fn: 'krun_add_disk2', args: [0, 'root', spec.rootDisk, 0, true] }, // /dev/vda, read-only
      { fn: 'krun_add_disk2', args: [0, 'data', dataDisk, 0, false] }, // /dev/vdb
      {
        fn: 'krun_set_exec',
        args: [
          0,
          '/.smolvm/agent',
          ['smolvm.root=/dev/vda', 'smolvm.rootrw=/dev/vdb', 'smolvm.vsock=1024', 'smolvm.volume=smolvm0:/data:ro:virtiofs'],
          // Explicit (never NULL, which would copy the host's environment); PID 1 by KRUN_INIT_PID1.
          ['HOME=/', 'TERM=linux', 'KRUN_INIT_PID1=1'],
        ],
      },
      { fn: 'krun_add_virtiofs', args: [0, 'smolvm0', '/host/data'] },
      { fn: 'krun_disable_implicit_vsock', args: [0] },
      { fn: 'krun_add_vsock', args: [0, 0] },
      { fn: 'krun_add_vsock_port2', args: [0, 1024, join(spec.runDir, 'agent.sock'), false] },
      { fn: 'krun_set_console_output', args: [0, spec.consoleLog] },
      { fn: 'krun_start_enter', args: [0, []] },
    ]);
    // The VM's root directory (its contents are checked by the lifecycle test below, where the agent runs
    // from it) is gone with the VM, like its socket.
    expect(existsSync(rootDir)).toBe(false);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
  });

  it('makes a new root directory for every boot: nothing a guest left there is reused', async () => {
    const { spec, e, log, cache } = await krunfwCase();
    // What a VM whose process died could have left behind, planted by its guest.
    const dead = join(cache, 'krun-root', '4194305-deadbeef');
    await mkdir(join(dead, '.smolvm'), { recursive: true });
    await writeFile(join(dead, '.smolvm', 'agent'), 'planted');
    await bootError(e, spec);
    const used = readCalls(log).find((c) => c.fn === 'krun_set_root')?.args[1] as string;
    expect(used).not.toBe(dead);
    expect(existsSync(used)).toBe(false);
    expect(existsSync(dead)).toBe(false); // swept: its process is gone
  });

  it.each([
    ['SMOLVM_KERNEL', { SMOLVM_KERNEL: '/k/vmlinux' }, 'SMOLVM_KERNEL is set'],
    ['SMOLVM_KRUN_KERNEL=smolvm', { SMOLVM_KRUN_KERNEL: 'smolvm' }, 'forced by SMOLVM_KRUN_KERNEL=smolvm'],
  ])('boots our kernel with krun_set_kernel when %s, even with libkrunfw installed', async (_what, vars, reason) => {
    const { spec, e, log } = await krunfwCase(vars);
    expect(e.kernel()).toMatchObject({ mode: 'smolvm', reason });
    await bootError(e, spec);
    const fns = readCalls(log).map((c) => c.fn);
    expect(fns).toContain('krun_set_kernel');
    expect(fns).not.toContain('krun_set_root');
    expect(readCalls(log).find((c) => c.fn === 'krun_set_exec')?.args).toEqual([0, '/init', [], ['HOME=/', 'TERM=linux']]);
  });

  it('boots our kernel when libkrunfw is not found, and says why', async () => {
    const spec = await makeSpec();
    const log = logFile();
    const e = engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log }, { krunfwCandidates: [join(fx.dir, 'nowhere/libkrunfw.so.5'), fx.notKrunfw] });
    expect(e.kernel()).toMatchObject({ mode: 'smolvm', reason: 'libkrunfw was not found', krunfw: undefined });
    await bootError(e, spec);
    expect(readCalls(log).map((c) => c.fn)).toContain('krun_set_kernel');
  });

  it('refuses SMOLVM_KRUN_KERNEL=libkrunfw without libkrunfw, and an unknown SMOLVM_KRUN_KERNEL, before starting anything', async () => {
    const spec = await makeSpec();
    const log = logFile();
    const missing = engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log, SMOLVM_KRUN_KERNEL: 'libkrunfw' });
    const err = await bootError(missing, spec);
    expect(err.code).toBe('SMOLVM_ERR_ENGINE_UNAVAILABLE');
    expect(err.message).toMatch(/SMOLVM_KRUN_KERNEL=libkrunfw, but libkrunfw was not found/);
    expect(err.hint).toMatch(/Install libkrunfw.*SMOLVM_KRUN_KERNEL=smolvm/);
    const bogus = await bootError(engine({ SMOLVM_LIBKRUN: fx.full, FAKE_KRUN_LOG: log, SMOLVM_KRUN_KERNEL: 'linux' }), spec);
    expect(bogus.message).toMatch(/SMOLVM_KRUN_KERNEL=linux is not a kernel choice/);
    expect(readCalls(log)).toEqual([]);
  });

  it('explains a 127 from libkrun\'s init: the agent was not found in the shared directory', async () => {
    const { spec, e } = await krunfwCase({ FAKE_KRUN_EXIT_CODE: '127' });
    const err = await bootError(e, spec);
    expect(err.code).toBe('SMOLVM_ERR_KRUN_INIT_FAILED');
    expect(err.hint).toMatch(/\/\.smolvm\/agent/);
  });

  it('explains krun_start_enter failing with ENOENT: libkrun could not load libkrunfw', async () => {
    const { spec, e } = await krunfwCase({ FAKE_KRUN_RESULTS: `krun_start_enter=-${osConstants.errno.ENOENT}` });
    const err = await bootError(e, spec);
    expect(err).toMatchObject({ code: 'SMOLVM_ERR_KRUN_CALL_FAILED', fn: 'krun_start_enter', errnoName: 'ENOENT' });
    expect(err.hint).toMatch(/could not load libkrunfw's kernel.*SMOLVM_KRUN_KERNEL=smolvm/);
  });

  it('refuses kernel arguments libkrunfw\'s kernel cannot receive, and options that do not fit its command line', async () => {
    const { spec, e, log } = await krunfwCase({}, { kernelArgs: ['loglevel=7'] });
    const err = await bootError(e, spec);
    expect(err.code).toBe('SMOLVM_ERR_INVALID_OPTION');
    expect(err.hint).toMatch(/SMOLVM_KRUN_KERNEL=smolvm/);
    const volumes = Array.from({ length: 40 }, (_, i) => ({ hostPath: '/h', guestPath: `/v${i}`, readOnly: false }));
    const tooMany = await bootError(e, { ...spec, kernelArgs: [], volumes });
    expect(tooMany.message).toMatch(/do not fit on libkrun's kernel command line/);
    expect(readCalls(log)).toEqual([]);
  });
});

describe('KrunEngine lifecycle with a stand-in runner playing the guest with the real agent (no libkrun, no VM)', () => {
  let agent: string;
  beforeAll(async () => {
    agent = await buildHostAgent(join(fx.dir, 'agent'));
  }, 120_000);

  async function standIn(mode: string, overrides: Partial<VmSpec> = {}) {
    const spec = await makeSpec(overrides);
    const pidFile = join(spec.runDir, 'runner.pid');
    const e = engine({ SMOLVM_LIBKRUN: fx.full, STANDIN_AGENT: agent, STANDIN_PIDFILE: pidFile, STANDIN_MODE: mode }, { runnerPath: standInRunner });
    const pid = async (): Promise<number> => Number(await readFile(pidFile, 'utf8'));
    return { spec, e, pid };
  }

  it('handshakes over the socket, runs a command, and shuts down: runner reaped, socket removed', async () => {
    const { spec, e, pid } = await standIn('agent');
    const vm = await e.boot(spec);
    expect(vm.hello.agent).toMatch(/smolvm-agent/);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false); // no one else can connect once the agent has
    await vm.connection.ping();
    const proc = new GuestProcess(vm.connection, ['sh', '-c', 'echo through the channel'], { env: ['PATH=/usr/bin:/bin'], stdin: false });
    let out = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    expect((await proc.exited).exitCode).toBe(0);
    expect(out).toBe('through the channel\n');

    expect(await vm.shutdown(5_000)).toEqual({ code: 0, signal: null });
    expect(alive(await pid())).toBe(false);
    expect(vm.pid).toBe(await pid());
  });

  it("on libkrunfw's kernel: the agent runs from the VM's own root directory, handshakes, shuts down, and the directory goes", async () => {
    const spec = await makeSpec();
    // The initramfs holds the host agent, so the program the spec names in the root directory is runnable.
    await writeFakeInitramfs(spec.initramfs, await readFile(agent));
    const pidFile = join(spec.runDir, 'runner.pid');
    const e = engine(
      { SMOLVM_LIBKRUN: fx.full, SMOLVM_CACHE_DIR: join(spec.runDir, 'cache'), STANDIN_AGENT: 'root', STANDIN_PIDFILE: pidFile, STANDIN_MODE: 'agent' },
      { runnerPath: standInRunner, krunfwCandidates: [fx.krunfw] },
    );
    expect(e.kernel()?.mode).toBe('libkrunfw');
    const vm = await e.boot(spec);
    expect(vm.hello.agent).toMatch(/smolvm-agent/);
    await vm.connection.ping();
    const roots = await readdir(join(spec.runDir, 'cache', 'krun-root'));
    expect(roots).toHaveLength(1);
    const root = join(spec.runDir, 'cache', 'krun-root', roots[0]!);
    expect((await readdir(root)).sort()).toEqual([...KRUN_ROOT_DIRS].sort());
    expect(await readFile(join(root, KRUN_ROOT_AGENT_PATH))).toEqual(await readFile(agent));
    expect(await vm.shutdown(5_000)).toEqual({ code: 0, signal: null });
    expect(alive(Number(await readFile(pidFile, 'utf8')))).toBe(false);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
    expect(existsSync(root)).toBe(false);
  });

  it('hands the raw channel over: a new protocol owner talks to the same agent', async () => {
    const { spec, e } = await standIn('agent');
    const vm = await e.boot(spec);
    const raw = vm.takeChannel();
    await expect(vm.connection.ping()).rejects.toThrow(/handed to another owner/);
    const owner = new AgentConnection({ send: (b) => void raw.write(b) });
    raw.onData((d) => owner.receive(d));
    await owner.ping();
    const closed = new Promise<void>((r) => raw.onClose(r));
    owner.shutdown();
    expect(await vm.exited).toEqual({ code: 0, signal: null });
    await closed;
  });

  it('kill() ends the runner at once', async () => {
    const { spec, e, pid } = await standIn('agent');
    const vm = await e.boot(spec);
    vm.kill();
    expect(await vm.exited).toEqual({ code: null, signal: 'SIGKILL' });
    expect(alive(await pid())).toBe(false);
    await expect(vm.connection.ping()).rejects.toThrow();
  });

  it('gives up when the agent never connects, and kills the runner', async () => {
    const { spec, e, pid } = await standIn('hang', { bootTimeoutMs: 1_500 });
    await writeFile(spec.consoleLog, 'kernel panic - not syncing\n');
    const err = await bootError(e, spec);
    expect(err.code).toBe('SMOLVM_ERR_BOOT_TIMEOUT');
    expect(err.message).toBe('the guest agent did not connect to vsock port 1024 within 1500 ms');
    expect(err.hint).toMatch(/kernel panic/);
    expect(alive(await pid())).toBe(false);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
  });

  it('stops booting when the signal aborts', async () => {
    const { spec, e, pid } = await standIn('hang');
    const ac = new AbortController();
    setTimeout(() => ac.abort(new Error('changed my mind')), 300);
    await expect(e.boot(spec, { signal: ac.signal })).rejects.toThrow('changed my mind');
    expect(alive(await pid())).toBe(false);
    expect(existsSync(join(spec.runDir, 'agent.sock'))).toBe(false);
  });

  it('reports a guest that drops the channel before the handshake by its exit', async () => {
    const { spec, e, pid } = await standIn('connect-close');
    const err = await bootError(e, spec);
    expect(err.code).toBe('SMOLVM_ERR_BOOT_FAILED');
    expect(err.message).toMatch(/ended before the guest agent was up \(status 0\)/);
    expect(alive(await pid())).toBe(false);
  });
});
