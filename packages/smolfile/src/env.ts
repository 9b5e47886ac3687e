// Environment entries "NAME=value". Messages about env entries never repeat the entry or its value: people put
// tokens in env, and a malformed entry may be nothing but a token.
import { SMOLFILE_LIMITS } from './limits.js';
import { formatError, ok, unwrap, utf8Length, type SpecResult } from './spec-result.js';

export interface EnvEntry {
  readonly name: string;
  readonly value: string;
}

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const ENV_NAME_FORM = 'a name of letters, digits and "_" that does not start with a digit';
export const ENV_ENTRY_FORM = '"NAME=value", where NAME is letters, digits and "_" and does not start with a digit';

/** Checks an environment variable name (also used for secret names). */
export function isEnvName(name: string): boolean {
  return typeof name === 'string' && name.length <= SMOLFILE_LIMITS.maxEnvNameLength && ENV_NAME.test(name);
}

/** Parses "NAME=value", or says why it is not one (without repeating it). */
export function tryParseEnvEntry(text: string): SpecResult<EnvEntry> {
  if (typeof text !== 'string') return formatError(`expected ${ENV_ENTRY_FORM}`);
  const equals = text.indexOf('=');
  if (equals < 0) {
    return formatError(`env entry has no "="; expected ${ENV_ENTRY_FORM}`, 'write NAME=value; an empty value is written NAME=');
  }
  const name = text.slice(0, equals);
  if (name.length === 0) return formatError(`env entry has nothing before "="; expected ${ENV_ENTRY_FORM}`);
  if (!isEnvName(name)) {
    return formatError(`env entry has an invalid name before "="; expected ${ENV_NAME_FORM}`);
  }
  if (text.includes('\0')) return formatError('env entry contains a NUL character, which environment variables cannot hold');
  if (utf8Length(text) > SMOLFILE_LIMITS.maxArgBytes) {
    return formatError(`env entry ${name} is longer than ${SMOLFILE_LIMITS.maxArgBytes} bytes`, 'pass large values in a file on a volume');
  }
  return ok({ name, value: text.slice(equals + 1) });
}

/**
 * Parses an environment entry `"NAME=value"` (the value may be empty and may contain `=`).
 * Throws a `SmolfileError` (`SMOLVM_ERR_SMOLFILE_FORMAT`) otherwise; the message never repeats the entry.
 */
export function parseEnvEntry(text: string): EnvEntry {
  return unwrap(tryParseEnvEntry(text));
}
