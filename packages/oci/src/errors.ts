/** Every code an `OciError` can carry. Codes are permanent: callers and the CLI match on them. */
export type OciErrorCode =
  | 'SMOLVM_ERR_OCI_INVALID_REFERENCE'
  | 'SMOLVM_ERR_OCI_NOT_FOUND'
  | 'SMOLVM_ERR_OCI_UNAUTHORIZED'
  | 'SMOLVM_ERR_OCI_FORBIDDEN'
  | 'SMOLVM_ERR_OCI_RATE_LIMITED'
  | 'SMOLVM_ERR_OCI_REGISTRY'
  | 'SMOLVM_ERR_OCI_NETWORK'
  | 'SMOLVM_ERR_OCI_TIMEOUT'
  | 'SMOLVM_ERR_OCI_INSECURE'
  | 'SMOLVM_ERR_OCI_AUTH_CONFIG'
  | 'SMOLVM_ERR_OCI_DIGEST_MISMATCH'
  | 'SMOLVM_ERR_OCI_SIZE_MISMATCH'
  | 'SMOLVM_ERR_OCI_TOO_LARGE'
  | 'SMOLVM_ERR_OCI_MANIFEST_INVALID'
  | 'SMOLVM_ERR_OCI_UNSUPPORTED'
  | 'SMOLVM_ERR_OCI_PLATFORM_NOT_FOUND'
  | 'SMOLVM_ERR_OCI_LAYER_INVALID'
  | 'SMOLVM_ERR_OCI_PATH_ESCAPE'
  | 'SMOLVM_ERR_OCI_ARCHIVE_INVALID'
  | 'SMOLVM_ERR_OCI_IMAGE_UNKNOWN'
  | 'SMOLVM_ERR_OCI_LOCK_TIMEOUT'
  | 'SMOLVM_ERR_OCI_TOOL_MISSING'
  | 'SMOLVM_ERR_OCI_TOOL_FAILED'
  | 'SMOLVM_ERR_OCI_ABORTED';

export interface OciErrorOptions {
  /** What the user can do about it; printed by the CLI under the message. */
  hint?: string;
  /** The image as the user wrote it (or the source path), when one is involved. */
  image?: string;
  /** The registry host, when one is involved. */
  registry?: string;
  /** The blob or manifest digest, when one is involved. */
  digest?: string;
  /** The HTTP status that led to the error. */
  status?: number;
  /** A path inside the image (layer entries, path escapes). */
  path?: string;
  cause?: unknown;
}

export class OciError extends Error {
  readonly code: OciErrorCode;
  readonly hint: string | undefined;
  readonly image: string | undefined;
  readonly registry: string | undefined;
  readonly digest: string | undefined;
  readonly status: number | undefined;
  readonly path: string | undefined;
  constructor(code: OciErrorCode, message: string, options: OciErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'OciError';
    this.code = code;
    this.hint = options.hint;
    this.image = options.image;
    this.registry = options.registry;
    this.digest = options.digest;
    this.status = options.status;
    this.path = options.path;
  }
}

/** True for any smolvm error, whichever package threw it: checks the code, not the class. */
export function isSmolvmError(e: unknown): e is Error & { code: string; hint?: string } {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SMOLVM_ERR_');
}

/** True for an `OciError` (by code prefix), optionally of one code. */
export function isOciError(e: unknown, code?: OciErrorCode): e is OciError {
  if (!isSmolvmError(e) || !e.code.startsWith('SMOLVM_ERR_OCI_')) return false;
  return code === undefined || e.code === code;
}
