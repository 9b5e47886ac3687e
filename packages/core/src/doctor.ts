import { resolveGuestAssets } from '@smolvm/guest';
import { chooseAccelerator, findQemu } from './host.js';
import { describeKrunKernel, describeKrunProbe, probeKrun, type KrunHostOptions } from './krun-host.js';
import { chooseEngine, type EngineChoice } from './select-engine.js';

export interface DoctorCheck {
  name: string;
  ok: boolean;
  /** What was found, or what is wrong. */
  detail: string;
  /** What to do when `ok` is false (or, for an engine that is merely not in use, how to get it). */
  hint?: string;
}

export interface DoctorReport {
  ok: boolean;
  checks: DoctorCheck[];
}

export type DoctorOptions = KrunHostOptions;

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

/**
 * Everything smolvm needs on this host, checked without booting a VM. A check fails only for what the
 * chosen engine needs: a missing libkrun is reported (with what to install) but fails nothing while
 * QEMU is used, and a missing QEMU fails nothing while libkrun is.
 */
export async function doctor(env: NodeJS.ProcessEnv = process.env, options: DoctorOptions = {}): Promise<DoctorReport> {
  let choice: EngineChoice | undefined;
  let choiceError: unknown;
  try {
    choice = chooseEngine(env, options);
  } catch (e) {
    choiceError = e;
  }
  const usingKrun = choice?.engine.name === 'libkrun';
  // The choice skips loading libkrun when there is no hypervisor; the report still says what is installed.
  const krun = choice?.krun ?? probeKrun(env, options);

  const checks = await Promise.all([
    check('engine', () => {
      if (!choice) throw choiceError;
      if (usingKrun) choice.engine.check();
      return `${choice.engine.name} (${choice.reason})`;
    }),
    (async (): Promise<DoctorCheck> => {
      const detail = describeKrunProbe(krun);
      if (!krun.usable && env.SMOLVM_ENGINE === 'libkrun') {
        return { name: 'libkrun', ok: false, detail, ...(krun.hint ? { hint: krun.hint } : {}) };
      }
      return {
        name: 'libkrun',
        ok: true,
        detail: krun.usable || usingKrun ? detail : `${detail}; the QEMU engine is used instead`,
        ...(krun.hint ? { hint: krun.hint } : {}),
      };
    })(),
    check('accelerator', () => {
      const a = chooseAccelerator(env);
      return `${a.accel}: ${a.reason}`;
    }),
    check('qemu', () => {
      try {
        const q = findQemu(env, { version: true });
        return `${q.path} (version ${q.version})`;
      } catch (e) {
        if (usingKrun) return `not needed while the libkrun engine is used (${(e as Error).message})`;
        throw e;
      }
    }),
    check('kernel', async () => {
      const ownKernel = usingKrun && krun.kernel?.mode === 'libkrunfw';
      const a = await resolveGuestAssets(env, { requireKernel: !ownKernel });
      const ours =
        a.kernelSource === 'none'
          ? 'not built (not needed while libkrunfw\'s kernel is used)'
          : `${a.kernel} (${a.kernelSource === 'env' ? 'from SMOLVM_KERNEL' : 'built from packages/guest/kernel/microvm.config'})`;
      // Under libkrun the guest may boot libkrunfw's kernel instead of ours: say which one VMs use.
      if (usingKrun && krun.kernel) {
        return krun.kernel.mode === 'libkrunfw' ? `libkrun boots libkrunfw's (${krun.kernel.reason}); smolvm's own: ${ours}` : `${ours}; ${describeKrunKernel(krun.kernel)}`;
      }
      return ours;
    }),
    check('agent', async () => {
      const a = await resolveGuestAssets(env, { requireKernel: false });
      return `smolvm-agent ${a.agentVersion} in ${a.initramfs}`;
    }),
    check('default image', async () => (await resolveGuestAssets(env, { requireKernel: false })).rootfs),
  ]);
  return { ok: checks.every((c) => c.ok), checks };
}
