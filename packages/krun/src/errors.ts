import { constants as osConstants } from 'node:os';
import { getSystemErrorMap } from 'node:util';

/** Every code a {@link KrunError} can carry. The codes are permanent; messages may change. */
export const KRUN_ERROR_CODES = [
  /** No libkrun shared library was found (lists the paths tried and what to install). */
  'SMOLVM_ERR_KRUN_NOT_FOUND',
  /** A libkrun file was found but the dynamic loader refused it (wrong architecture, missing libkrunfw...). */
  'SMOLVM_ERR_KRUN_LOAD_FAILED',
  /** The file loaded but lacks the core libkrun symbols: it is not a usable libkrun. */
  'SMOLVM_ERR_KRUN_INCOMPATIBLE',
  /** The koffi FFI module could not be loaded in this Node.js. */
  'SMOLVM_ERR_KRUN_FFI_UNAVAILABLE',
  /** The loaded libkrun lacks an optional function (older version or a build without that feature). */
  'SMOLVM_ERR_KRUN_SYMBOL_MISSING',
  /** A libkrun function returned a negative errno. */
  'SMOLVM_ERR_KRUN_CALL_FAILED',
  /** libkrun's logger was already initialised in this process (a second init would abort the process). */
  'SMOLVM_ERR_KRUN_LOG_ALREADY_INITIALISED',
  /** A wrapper refused an argument before calling into C (out of range, NUL byte in a string...). */
  'SMOLVM_ERR_KRUN_INVALID_ARGUMENT',
  /** krun_start_enter returned without an error: libkrun broke its own contract. */
  'SMOLVM_ERR_KRUN_START_RETURNED',
  /** The runner could not read or parse its JSON spec. */
  'SMOLVM_ERR_KRUN_SPEC_UNREADABLE',
  /** The runner's spec does not have the expected shape. */
  'SMOLVM_ERR_KRUN_SPEC_INVALID',
  /** The runner failed with something that is not a KrunError (a bug). */
  'SMOLVM_ERR_KRUN_INTERNAL',
  /** macOS: no Node binary with the hypervisor entitlement could be made for the runner (codesign failed or is missing). */
  'SMOLVM_ERR_KRUN_RUNNER_UNSIGNED',
] as const;

export type KrunErrorCode = (typeof KRUN_ERROR_CODES)[number];

export interface KrunErrorOptions {
  /** The libkrun C function involved (`krun_set_exec`). */
  fn?: string;
  /** Positive host errno number (the C function returned `-errno`). */
  errno?: number;
  /** Name of that errno on this host (`ENOENT`). */
  errnoName?: string;
  /** What to try next, beyond the message. */
  hint?: string;
  /** For SMOLVM_ERR_KRUN_NOT_FOUND / LOAD_FAILED: each candidate tried and why it was rejected. */
  tried?: readonly KrunLookupAttempt[];
  /** The library file involved, when one was loaded or attempted. */
  libraryPath?: string;
  /** For spec errors: where in the spec (`exec.argv[2]`). */
  field?: string;
  cause?: unknown;
}

/** One library candidate tried during lookup. */
export interface KrunLookupAttempt {
  /** A path or a bare soname handed to the dynamic loader. */
  candidate: string;
  /** Where the candidate came from. */
  source: 'option' | 'SMOLVM_LIBKRUN' | 'default';
  /** Why it was not used. */
  reason: string;
}

/** The JSON-serialisable form of a {@link KrunError} (the runner writes it to stderr). */
export interface KrunErrorJson {
  code: string;
  message: string;
  errno?: number;
  errnoName?: string;
  fn?: string;
  hint?: string;
  field?: string;
}

/** The one error class of `@smolvm/krun`. Check `code`, not `instanceof` (see {@link isSmolvmError}). */
export class KrunError extends Error {
  override readonly name = 'KrunError';
  readonly code: KrunErrorCode;
  readonly fn: string | undefined;
  readonly errno: number | undefined;
  readonly errnoName: string | undefined;
  readonly hint: string | undefined;
  readonly tried: readonly KrunLookupAttempt[] | undefined;
  readonly libraryPath: string | undefined;
  readonly field: string | undefined;

  constructor(code: KrunErrorCode, message: string, options: KrunErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.fn = options.fn;
    this.errno = options.errno;
    this.errnoName = options.errnoName;
    this.hint = options.hint;
    this.tried = options.tried;
    this.libraryPath = options.libraryPath;
    this.field = options.field;
  }

  toJSON(): KrunErrorJson {
    const json: KrunErrorJson = { code: this.code, message: this.message };
    if (this.errno !== undefined) json.errno = this.errno;
    if (this.errnoName !== undefined) json.errnoName = this.errnoName;
    if (this.fn !== undefined) json.fn = this.fn;
    if (this.hint !== undefined) json.hint = this.hint;
    if (this.field !== undefined) json.field = this.field;
    return json;
  }
}

/** True for any smolvm error (any package): checks the `SMOLVM_ERR_` code, not the class. */
export function isSmolvmError(value: unknown): value is Error & { code: string } {
  // Not instanceof: an error from another copy of a package (or another realm) still counts.
  if (typeof value !== 'object' || value === null) return false;
  const code = (value as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SMOLVM_ERR_');
}

/** True for an error of this package (`SMOLVM_ERR_KRUN_*`). */
export function isKrunError(value: unknown): value is KrunError {
  return isSmolvmError(value) && value.code.startsWith('SMOLVM_ERR_KRUN_');
}

// ---- errno names -------------------------------------------------------------------------------

// Where two names share a number on this host, the one libkrun documents wins.
const PREFERRED_ERRNO_NAMES = new Set(['ENOTSUP', 'EAGAIN', 'EDEADLK']);
let errnoNames: Map<number, string> | undefined;

/**
 * The name of a host errno number (`2` → `ENOENT` on Linux and macOS), from `os.constants.errno`.
 * libkrun returns the host's errno values, which differ between Linux and macOS past the first 34.
 * Accepts the negative form libkrun returns. Returns `undefined` for a number this host does not know.
 */
export function errnoName(errno: number): string | undefined {
  if (!errnoNames) {
    errnoNames = new Map();
    for (const [name, value] of Object.entries(osConstants.errno)) {
      if (!errnoNames.has(value) || PREFERRED_ERRNO_NAMES.has(name)) errnoNames.set(value, name);
    }
  }
  return errnoNames.get(Math.abs(errno));
}

function errnoDescription(errno: number): string | undefined {
  try {
    // libuv's error numbers are the negated host errno values on POSIX hosts.
    return getSystemErrorMap().get(-Math.abs(errno))?.[1];
  } catch {
    return undefined;
  }
}

// Known causes worth a hint, keyed by "fn:ERRNAME" or "fn:*".
const CALL_HINTS: Record<string, string> = {
  'krun_start_enter:EINVAL':
    'libkrun rejected the configuration as a whole; raise the log level (logLevel "debug") to see which part.',
  'krun_set_port_map:ENOTSUP':
    'libkrun refuses a TSI port map once a network interface (passt, gvproxy, tap) has been added.',
  'krun_add_vsock_port2:EEXIST':
    'with listen=true libkrun creates the socket itself: the path must not exist yet.',
  'krun_create_ctx:*': 'libkrun could not create a configuration context; check memory limits and the libkrun log.',
  'krun_set_log_level:*': 'libkrun refused the log level; valid levels are 0 (off) to 5 (trace).',
};

/** The coded error for a C function that returned a negative errno. */
export function callFailed(fn: string, result: number, libraryPath?: string): KrunError {
  const errno = Math.abs(result);
  const name = errnoName(errno);
  const description = errnoDescription(errno);
  const label = name ? `${name} (${result})` : `error ${result}`;
  const hint = CALL_HINTS[`${fn}:${name ?? ''}`] ?? CALL_HINTS[`${fn}:*`];
  return new KrunError(
    'SMOLVM_ERR_KRUN_CALL_FAILED',
    `${fn} failed with ${label}${description ? `: ${description}` : ''}.`,
    { fn, errno, errnoName: name, hint, libraryPath },
  );
}
