import { KrunError } from './errors.js';

// libkrun's logger may be initialised once per process: a second krun_init_log / krun_set_log_level
// aborts the whole process. The flag lives on globalThis under a registered symbol so that two copies
// of this package loaded in one process (two versions, dual ESM/CJS) still share it.
const FLAG = Symbol.for('@smolvm/krun:log-initialised-by');

type FlagHolder = { [FLAG]?: string };

/** The call that initialised libkrun's logger in this process, if any. */
export function logInitialisedBy(): string | undefined {
  return (globalThis as FlagHolder)[FLAG];
}

/**
 * Claims the process's one logger initialisation for `fn`, or throws
 * `SMOLVM_ERR_KRUN_LOG_ALREADY_INITIALISED`. Claimed before the C call: a failed attempt may have
 * initialised part of the logger already, so it is not retried either.
 */
export function claimLogger(fn: string): void {
  const holder = globalThis as FlagHolder;
  const previous = holder[FLAG];
  if (previous !== undefined) {
    throw new KrunError(
      'SMOLVM_ERR_KRUN_LOG_ALREADY_INITIALISED',
      `${fn} was not called: libkrun's logger was already initialised in this process by ${previous}, and a second initialisation would abort the process.`,
      {
        fn,
        hint: 'Set the log level once per process, before creating the first context (the runner does this from its spec).',
      },
    );
  }
  holder[FLAG] = fn;
}
