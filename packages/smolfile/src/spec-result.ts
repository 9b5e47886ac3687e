// The result every spec parser returns, so that the schema can collect failures as problems while the
// exported parsers throw them as coded errors.
import { SmolfileError } from './errors.js';

export type SpecFailureCode = 'SMOLVM_ERR_SMOLFILE_FORMAT' | 'SMOLVM_ERR_SMOLFILE_RANGE';

export interface SpecFailure {
  readonly ok: false;
  readonly code: SpecFailureCode;
  readonly message: string;
  readonly hint?: string;
}

export type SpecResult<T> = { readonly ok: true; readonly value: T } | SpecFailure;

export function ok<T>(value: T): SpecResult<T> {
  return { ok: true, value };
}

export function formatError(message: string, hint?: string): SpecFailure {
  return hint === undefined
    ? { ok: false, code: 'SMOLVM_ERR_SMOLFILE_FORMAT', message }
    : { ok: false, code: 'SMOLVM_ERR_SMOLFILE_FORMAT', message, hint };
}

export function rangeError(message: string, hint?: string): SpecFailure {
  return hint === undefined
    ? { ok: false, code: 'SMOLVM_ERR_SMOLFILE_RANGE', message }
    : { ok: false, code: 'SMOLVM_ERR_SMOLFILE_RANGE', message, hint };
}

/** Unwraps a result, throwing its failure as a {@link SmolfileError}. */
export function unwrap<T>(result: SpecResult<T>): T {
  if (result.ok) return result.value;
  throw new SmolfileError(result.code, result.message, result.hint === undefined ? {} : { hint: result.hint });
}

/**
 * Quotes a user-supplied string for a message: JSON quoting (so control characters stay visible and harmless),
 * cut to a readable length. Never used on env values or secrets.
 */
export function quote(text: string, max = 64): string {
  const cut = text.length > max ? `${text.slice(0, max)}…` : text;
  return JSON.stringify(cut);
}

/** Names a TOML value's type for a message without repeating the value itself (it may be sensitive). */
export function describeType(value: unknown): string {
  if (typeof value === 'string') return 'a string';
  if (typeof value === 'boolean') return 'a boolean';
  if (typeof value === 'bigint') return 'an integer';
  if (typeof value === 'number') {
    if (Number.isNaN(value)) return 'nan';
    if (!Number.isFinite(value)) return value > 0 ? 'inf' : '-inf';
    return Number.isInteger(value) ? 'an integer' : 'a float';
  }
  if (Array.isArray(value)) return 'a list';
  if (value instanceof Date) return 'a date';
  if (value === undefined) return 'nothing';
  if (typeof value === 'object' && value !== null) return 'a table';
  return typeof value;
}

/** Like {@link describeType}, but shows numbers and booleans themselves: they are never sensitive. */
export function describeValue(value: unknown): string {
  if (typeof value === 'number' && Number.isFinite(value)) return String(value);
  if (typeof value === 'boolean') return String(value);
  return describeType(value);
}

/** Length of a string in UTF-8 bytes, without allocating. */
export function utf8Length(text: string): number {
  let bytes = 0;
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x80) bytes += 1;
    else if (unit < 0x800) bytes += 2;
    else if (unit >= 0xd800 && unit <= 0xdbff && i + 1 < text.length) {
      const next = text.charCodeAt(i + 1);
      if (next >= 0xdc00 && next <= 0xdfff) {
        bytes += 4;
        i++;
      } else bytes += 3;
    } else bytes += 3;
  }
  return bytes;
}

/** True when the text holds a C0 control character or DEL (tab and newline included). */
export function hasControlCharacter(text: string): boolean {
  for (let i = 0; i < text.length; i++) {
    const unit = text.charCodeAt(i);
    if (unit < 0x20 || unit === 0x7f) return true;
  }
  return false;
}
