export class GuestError extends Error {
  readonly code: string;
  readonly hint: string | undefined;
  constructor(code: string, message: string, options?: { hint?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = 'GuestError';
    this.code = code;
    this.hint = options?.hint;
  }
}
