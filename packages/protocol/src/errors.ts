/** Reasons a frame can be rejected; the same words appear in SPEC.md and in the test vectors. */
export type DecodeReason =
  | 'truncated'
  | 'too_large'
  | 'unknown_type'
  | 'bad_flags'
  | 'bad_reserved'
  | 'bad_stream'
  | 'short_payload'
  | 'trailing_bytes'
  | 'limit';

export class ProtocolError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'ProtocolError';
    this.code = code;
  }
}

/** A frame that breaks a rule of the spec. `fatal` means the byte stream itself can no longer be trusted. */
export class FrameDecodeError extends ProtocolError {
  readonly reason: DecodeReason;
  readonly fatal: boolean;
  readonly streamId: number | undefined;
  constructor(reason: DecodeReason, detail: string, fatal: boolean, streamId?: number) {
    super('SMOLVM_ERR_PROTOCOL_MALFORMED', `malformed agent frame (${reason}): ${detail}`);
    this.name = 'FrameDecodeError';
    this.reason = reason;
    this.fatal = fatal;
    this.streamId = streamId;
  }
}

export function isSmolvmError(e: unknown): e is Error & { code: string } {
  const code = e instanceof Error ? (e as { code?: unknown }).code : undefined;
  return typeof code === 'string' && code.startsWith('SMOLVM_ERR_');
}
