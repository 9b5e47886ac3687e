// End-to-end through libkrun: real VMs with our agent and default image, with the libkrun engine forced,
// once on each guest kernel: libkrunfw's (libkrun's init starts the agent from the shared root
// directory) and ours (krun_set_kernel). Each mode runs wherever libkrun, a usable hypervisor, the built
// guest (and for the first, libkrunfw and an agent that takes its options as arguments) exist; everywhere
// else it is skipped with the reason in its title (and printed).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolveGuestAssets } from '@smolvm/guest';
import { describe, expect, it } from 'vitest';
import { probeKrun } from '../src/krun-host.js';
import { krunKernelFormat } from '../src/krun-spec.js';
import { Machine } from '../src/index.js';

const T = 60_000;
type Mode = 'libkrunfw' | 'smolvm';
const envFor = (mode: Mode): NodeJS.ProcessEnv => ({ ...process.env, SMOLVM_ENGINE: 'libkrun', SMOLVM_KRUN_KERNEL: mode });

async function whyNot(mode: Mode): Promise<string | undefined> {
  const probe = probeKrun(envFor(mode));
  if (!probe.library) return 'libkrun not installed';
  if (!probe.hypervisor.usable) return `no usable KVM: ${probe.hypervisor.reason}`;
  if (!probe.usable) return probe.reason;
  let assets;
  try {
    assets = await resolveGuestAssets();
  } catch (e) {
    return `guest not built: ${(e as Error).message}`;
  }
  const initramfs = readFileSync(assets.initramfs);
  // The agent reaches the host over vsock under libkrun (smolvm.vsock=PORT); an agent built without it
  // would only time out. Its binary is inside the (uncompressed) initramfs.
  if (!initramfs.includes('vsock')) return 'the guest agent in the initramfs has no vsock support yet';
  if (mode === 'libkrunfw') {
    if (!initramfs.includes('--print-config')) return 'the guest agent in the initramfs cannot take its options as arguments yet';
    return undefined;
  }
  try {
    await krunKernelFormat(assets.kernel);
  } catch (e) {
    return (e as Error).message;
  }
  return undefined;
}

function runnerPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'runner-main.js --spec-fd'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

for (const mode of ['libkrunfw', 'smolvm'] as const) {
  const skip = await whyNot(mode);
  if (skip) console.info(`libkrun end-to-end tests on ${mode}'s kernel skipped: ${skip}`);
  const hostEnv = envFor(mode);

  describe(`Machine on libkrun with ${mode === 'libkrunfw' ? "libkrunfw's" : 'our'} kernel, end to end${skip ? ` (skipped: ${skip})` : ''}`, () => {
    it.skipIf(skip !== undefined)('runs a command, reached over vsock, and leaves nothing behind', async () => {
      const before = runnerPids();
      const r = await Machine.run({ cmd: ['uname', '-r'], hostEnv });
      expect(r).toMatchObject({ exitCode: 0, signal: null, stderr: '' });
      if (mode === 'smolvm') {
        const assets = await resolveGuestAssets();
        const banner = /Linux version (\S+)/.exec(readFileSync(assets.kernel).toString('latin1'))?.[1];
        expect(r.stdout.trim()).toBe(banner);
        const cmdline = await Machine.run({ cmd: ['cat', '/proc/cmdline'], hostEnv });
        expect(cmdline.stdout).toMatch(/smolvm\.vsock=1024/);
      } else {
        // libkrun's command line: init=/init.krun, our options quoted after "--" as the agent's arguments.
        const cmdline = await Machine.run({ cmd: ['cat', '/proc/cmdline'], hostEnv });
        expect(cmdline.stdout).toMatch(/init=\/init\.krun/);
        expect(cmdline.stdout).toMatch(/KRUN_INIT=\/\.smolvm\/agent/);
        // The agent is PID 1 and the workload root is the image, not the shared directory.
        const ps = await Machine.run({ cmd: ['sh', '-c', 'cat /proc/1/cmdline | tr "\\0" " "; test -e /.smolvm && echo leaked || echo isolated'], hostEnv });
        expect(ps.stdout).toMatch(/\/\.smolvm\/agent smolvm\.root=\/dev\/vda/);
        expect(ps.stdout).toMatch(/isolated/);
      }
      expect(runnerPids()).toEqual(before);
    }, T);

    it.skipIf(skip !== undefined)('passes exit codes through', async () => {
      for (const code of [0, 1, 42]) {
        expect((await Machine.run({ cmd: ['sh', '-c', `exit ${code}`], hostEnv })).exitCode).toBe(code);
      }
    }, T);

    it.skipIf(skip !== undefined)('gives the guest no network interface but loopback', async () => {
      const r = await Machine.run({ cmd: ['ls', '/sys/class/net'], hostEnv });
      // sit0, where a kernel has IPv6-in-IPv4 tunnels built in, is an idle template that reaches nothing.
      expect(r.stdout.split(/\s+/).filter((i) => i && i !== 'sit0')).toEqual(['lo']);
    }, T);

    it.skipIf(skip !== undefined)('publishes a guest port over the agent channel (no TSI)', async () => {
      await using m = await Machine.boot({ hostEnv, ports: [{ hostPort: 0, guestPort: 8000 }] });
      await m.files.write('/www/index.html', 'through libkrun\n', { mkdirs: true });
      expect((await m.exec(['httpd', '-p', '8000', '-h', '/www'])).exitCode).toBe(0);
      const port = m.ports[0]!.hostPort;
      let body = '';
      for (let i = 0; i < 100 && body === ''; i++) {
        body = await fetch(`http://127.0.0.1:${port}/`).then((r) => r.text()).catch(() => '');
        if (body === '') await new Promise((r) => setTimeout(r, 100));
      }
      expect(body).toBe('through libkrun\n');
    }, T);
  });
}
