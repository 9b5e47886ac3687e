import type { Engine } from './engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { KrunEngine } from './krun-engine.js';
import { krunHypervisor, probeKrun, type KrunHostOptions, type KrunProbe } from './krun-host.js';
import { QemuEngine } from './qemu-engine.js';

export type SelectEngineOptions = KrunHostOptions;

/** The engine picked for this host, and why. */
export interface EngineChoice {
  engine: Engine;
  /** One sentence: forced by `SMOLVM_ENGINE`, or why the automatic choice went this way. */
  reason: string;
  /** What was found about libkrun, when the choice looked (not when QEMU is forced or no hypervisor exists). */
  krun: KrunProbe | undefined;
}

/**
 * `SMOLVM_ENGINE` (`libkrun` or `qemu`) if set; otherwise libkrun when it loads, has the calls the
 * engine makes, and a hypervisor is usable (Linux: a /dev/kvm that runs standard guests, so not a PVM
 * nested hypervisor; macOS: always); otherwise QEMU. A forced libkrun is returned even when it cannot
 * run: its `check()` says why.
 */
export function chooseEngine(env: NodeJS.ProcessEnv = process.env, options: SelectEngineOptions = {}): EngineChoice {
  const forced = env.SMOLVM_ENGINE;
  if (forced === 'qemu') return { engine: new QemuEngine(env), reason: 'forced by SMOLVM_ENGINE=qemu', krun: undefined };
  if (forced === 'libkrun') {
    return { engine: new KrunEngine(env, options), reason: 'forced by SMOLVM_ENGINE=libkrun', krun: undefined };
  }
  if (forced !== undefined && forced !== '') {
    throw new SmolvmError(ErrorCode.INVALID_OPTION, `SMOLVM_ENGINE=${forced} is not an engine`, { hint: 'Use qemu or libkrun, or unset it.' });
  }
  // Without a hypervisor libkrun cannot run at all: do not even load it.
  const hypervisor = krunHypervisor(env, options.root);
  if (!hypervisor.usable) {
    return { engine: new QemuEngine(env), reason: `automatic: libkrun needs a hypervisor (${hypervisor.reason})`, krun: undefined };
  }
  const probe = probeKrun(env, options);
  if (probe.usable) return { engine: new KrunEngine(env, { ...options, probe }), reason: 'automatic: libkrun is usable', krun: probe };
  return { engine: new QemuEngine(env), reason: `automatic: libkrun is not usable (${probe.reason})`, krun: probe };
}

/** The engine for this host: see {@link chooseEngine}. */
export function selectEngine(env: NodeJS.ProcessEnv = process.env, options: SelectEngineOptions = {}): Engine {
  return chooseEngine(env, options).engine;
}
