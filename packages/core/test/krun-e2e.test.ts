// End-to-end through libkrun: real VMs on our guest kernel, agent and default image, with the libkrun
// engine forced. Runs wherever libkrun, a usable hypervisor, the built guest and an agent with vsock
// support exist; everywhere else it is skipped with the reason in its title (and printed).
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { resolveGuestAssets } from '@smolvm/guest';
import { describe, expect, it } from 'vitest';
import { probeKrun } from '../src/krun-host.js';
import { krunKernelFormat } from '../src/krun-spec.js';
import { Machine } from '../src/index.js';

const T = 60_000;
const hostEnv = { ...process.env, SMOLVM_ENGINE: 'libkrun' };

async function whyNot(): Promise<string | undefined> {
  const probe = probeKrun(process.env);
  if (!probe.library) return 'libkrun not installed';
  if (!probe.hypervisor.usable) return `no usable KVM: ${probe.hypervisor.reason}`;
  if (!probe.usable) return probe.reason;
  let assets;
  try {
    assets = await resolveGuestAssets();
  } catch (e) {
    return `guest not built: ${(e as Error).message}`;
  }
  try {
    await krunKernelFormat(assets.kernel);
  } catch (e) {
    return (e as Error).message;
  }
  // The agent reaches the host over vsock under libkrun (smolvm.vsock=PORT); an agent built without it
  // would only time out. Its binary is inside the (uncompressed) initramfs.
  if (!readFileSync(assets.initramfs).includes('vsock')) return 'the guest agent in the initramfs has no vsock support yet';
  return undefined;
}

const skip = await whyNot();
if (skip) console.info(`libkrun end-to-end tests skipped: ${skip}`);

function runnerPids(): number[] {
  try {
    return execFileSync('pgrep', ['-f', 'runner-main.js --spec-fd'], { encoding: 'utf8' }).split('\n').filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

describe(`Machine on libkrun, end to end${skip ? ` (skipped: ${skip})` : ''}`, () => {
  it.skipIf(skip !== undefined)('runs a command in our guest kernel, reached over vsock, and leaves nothing behind', async () => {
    const before = runnerPids();
    const assets = await resolveGuestAssets();
    const banner = /Linux version (\S+)/.exec(readFileSync(assets.kernel).toString('latin1'))?.[1];
    const r = await Machine.run({ cmd: ['uname', '-r'], hostEnv });
    expect(r).toMatchObject({ exitCode: 0, signal: null, stderr: '' });
    expect(r.stdout.trim()).toBe(banner);
    const cmdline = await Machine.run({ cmd: ['cat', '/proc/cmdline'], hostEnv });
    expect(cmdline.stdout).toMatch(/smolvm\.vsock=1024/);
    expect(runnerPids()).toEqual(before);
  }, T);

  it.skipIf(skip !== undefined)('passes exit codes through', async () => {
    for (const code of [0, 1, 42]) {
      expect((await Machine.run({ cmd: ['sh', '-c', `exit ${code}`], hostEnv })).exitCode).toBe(code);
    }
  }, T);

  it.skipIf(skip !== undefined)('gives the guest no network interface but loopback', async () => {
    const r = await Machine.run({ cmd: ['ls', '/sys/class/net'], hostEnv });
    expect(r.stdout.split(/\s+/).filter(Boolean)).toEqual(['lo']);
  }, T);
});
