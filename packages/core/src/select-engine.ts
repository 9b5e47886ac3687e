import type { Engine } from './engine.js';
import { ErrorCode, SmolvmError } from './errors.js';
import { QemuEngine } from './qemu-engine.js';

/** `SMOLVM_ENGINE` if set, else QEMU (libkrun joins the automatic choice once its engine lands). */
export function selectEngine(env: NodeJS.ProcessEnv = process.env): Engine {
  const forced = env.SMOLVM_ENGINE;
  if (forced === undefined || forced === '' || forced === 'qemu') return new QemuEngine(env);
  if (forced === 'libkrun') {
    throw new SmolvmError(ErrorCode.ENGINE_UNAVAILABLE, 'the libkrun engine is not available in this build', {
      hint: 'Unset SMOLVM_ENGINE or set it to qemu.',
    });
  }
  throw new SmolvmError(ErrorCode.INVALID_OPTION, `SMOLVM_ENGINE=${forced} is not an engine`, { hint: 'Use qemu or libkrun, or unset it.' });
}
