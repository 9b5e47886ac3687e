import { resolveGuestAssets } from '@smolvm/guest';
import { chooseAccelerator, findQemu } from './host.js';
import { selectEngine } from './select-engine.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, or what is wrong. */
  detail: string;
  /** What to do when `ok` is false. */
  hint?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

function check(name: string, fn: () => string | Promise<string>): Promise<DoctorCheck> {
  return (async () => {
    try {
      return { name, ok: true, detail: await fn() };
    } catch (e) {
      const err = e as Error & { hint?: string };
      return { name, ok: false, detail: err.message, ...(err.hint ? { hint: err.hint } : {}) };
    }
  })();
}

/** Everything smolvm needs on this host, checked without booting a VM. */
export async function doctor(env: NodeJS.ProcessEnv = process.env): Promise<DoctorReport> {
  const checks = await Promise.all([
    check('engine', () => {
      const e = selectEngine(env);
      return env.SMOLVM_ENGINE ? `${e.name} (forced by SMOLVM_ENGINE)` : `${e.name} (libkrun engine not built into this version)`;
    }),
    check('accelerator', () => {
      const a = chooseAccelerator(env);
      return `${a.accel}: ${a.reason}`;
    }),
    check('qemu', () => {
      const q = findQemu(env, { version: true });
      return `${q.path} (version ${q.version})`;
    }),
    check('kernel', async () => {
      const a = await resolveGuestAssets(env);
      return `${a.kernel} (${a.kernelSource === 'env' ? 'from SMOLVM_KERNEL' : 'built from packages/guest/kernel/microvm.config'})`;
    }),
    check('agent', async () => {
      const a = await resolveGuestAssets(env);
      return `smolvm-agent ${a.agentVersion} in ${a.initramfs}`;
    }),
    check('default image', async () => (await resolveGuestAssets(env)).rootfs),
  ]);
  return { ok: checks.every((c) => c.ok), checks };
}
