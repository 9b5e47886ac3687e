/** Base class of every error `@smolvm/core` throws; `code` is permanent, `hint` says what to do. */
export class SmolvmError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, options?: { hint?: string | undefined; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = 'SmolvmError';
    this.code = code;
    this.hint = options?.hint;
  }
}

/** True for any coded smolvm error, whichever package threw it (checks the code, not the class). */
export function isSmolvmError(e: unknown): e is Error & { code: string; hint?: string } {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SMOLVM_ERR_');
}

export const ErrorCode = {
  INVALID_OPTION: 'SMOLVM_ERR_INVALID_OPTION',
  QEMU_NOT_FOUND: 'SMOLVM_ERR_QEMU_NOT_FOUND',
  QEMU_FAILED: 'SMOLVM_ERR_QEMU_FAILED',
  BOOT_FAILED: 'SMOLVM_ERR_BOOT_FAILED',
  BOOT_TIMEOUT: 'SMOLVM_ERR_BOOT_TIMEOUT',
  VM_DIED: 'SMOLVM_ERR_VM_DIED',
  UNSUPPORTED_HOST: 'SMOLVM_ERR_UNSUPPORTED_HOST',
  ENGINE_UNAVAILABLE: 'SMOLVM_ERR_ENGINE_UNAVAILABLE',
  SUPERVISOR_UNREACHABLE: 'SMOLVM_ERR_SUPERVISOR_UNREACHABLE',
  MACHINE_NOT_RUNNING: 'SMOLVM_ERR_MACHINE_NOT_RUNNING',
  MACHINE_RUNNING: 'SMOLVM_ERR_MACHINE_RUNNING',
  MACHINE_START_FAILED: 'SMOLVM_ERR_MACHINE_START_FAILED',
  INIT_FAILED: 'SMOLVM_ERR_INIT_FAILED',
  IMAGE_NOT_AVAILABLE: 'SMOLVM_ERR_IMAGE_NOT_AVAILABLE',
  IMAGE_IN_USE: 'SMOLVM_ERR_IMAGE_IN_USE',
  /** A volume that cannot be mounted as given (malformed, a guest path with `..`, spaces or ":", ...). */
  INVALID_VOLUME: 'SMOLVM_ERR_INVALID_VOLUME',
  /** A volume's host directory is missing or not a directory. */
  VOLUME_NOT_FOUND: 'SMOLVM_ERR_VOLUME_NOT_FOUND',
  /** A published port that is malformed, out of range, or published twice. */
  INVALID_PORT: 'SMOLVM_ERR_INVALID_PORT',
  /** A published port's host address and port cannot be bound (in use, privileged, not this host's address). */
  PORT_UNAVAILABLE: 'SMOLVM_ERR_PORT_UNAVAILABLE',
} as const;
