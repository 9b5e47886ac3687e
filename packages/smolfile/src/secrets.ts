// Resolving [secrets] on the host at start. Values go to the caller only: they are never part of an error, a
// message, or anything this package writes.
import { SmolfileError, formatProblem, type SmolfileProblem } from './errors.js';
import { SMOLFILE_LIMITS } from './limits.js';
import type { SecretSource } from './schema.js';
import { formatPath } from './shape.js';
import { utf8Length } from './spec-result.js';

export interface ResolveSecretsOptions {
  /** The host environment to read `from_env` secrets from (usually `process.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Reads a `from_file` secret (usually `(path) => fs.readFile(path)`). */
  readonly readFile: (path: string) => Promise<string | Uint8Array> | string | Uint8Array;
}

function unresolved(name: string, message: string, hint?: string): SmolfileProblem {
  const path = formatPath(['secrets', name]);
  const problem: SmolfileProblem = { code: 'SMOLVM_ERR_SMOLFILE_SECRET_UNRESOLVED', path, line: 0, column: 0, message: `secret ${name}: ${message}` };
  return hint === undefined ? problem : { ...problem, hint };
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' ? code : 'an error';
}

/** Drops one trailing line break, which editors and `echo` add to secret files. */
function trimTrailingNewline(text: string): string {
  if (text.endsWith('\r\n')) return text.slice(0, -2);
  if (text.endsWith('\n')) return text.slice(0, -1);
  return text;
}

async function resolveOne(name: string, source: SecretSource, options: ResolveSecretsOptions): Promise<string | SmolfileProblem> {
  if (source.from === 'env') {
    const value = options.env[source.variable];
    if (value === undefined) {
      return unresolved(name, `environment variable ${source.variable} is not set`, `export ${source.variable} before starting the machine`);
    }
    if (value.includes('\0')) return unresolved(name, `environment variable ${source.variable} contains a NUL character`);
    return value;
  }
  let content: string | Uint8Array;
  try {
    content = await options.readFile(source.path);
  } catch (error) {
    // The cause is an I/O error about the path; it cannot contain the secret.
    const hint = errorCode(error) === 'ENOENT' ? 'create the file, or point from_file at the right path' : undefined;
    return unresolved(name, `cannot read ${source.path} (${errorCode(error)})`, hint);
  }
  const size = typeof content === 'string' ? utf8Length(content) : content.byteLength;
  if (size > SMOLFILE_LIMITS.maxSecretBytes) {
    return unresolved(name, `${source.path} is ${size} bytes; a secret may be at most ${SMOLFILE_LIMITS.maxSecretBytes} bytes`);
  }
  let text: string;
  try {
    text = typeof content === 'string' ? content : new TextDecoder('utf-8', { fatal: true }).decode(content);
  } catch {
    return unresolved(name, `${source.path} is not UTF-8 text`, 'store binary secrets base64-encoded');
  }
  if (text.includes('\0')) return unresolved(name, `${source.path} contains a NUL character`, 'store binary secrets base64-encoded');
  return trimTrailingNewline(text);
}

/**
 * Reads every secret from where its reference points. Returns the values by name, or throws a `SmolfileError`
 * (`SMOLVM_ERR_SMOLFILE_SECRETS_UNRESOLVED`) naming each secret that could not be read; errors never hold a
 * secret's value.
 */
export async function resolveSecrets(
  secrets: Readonly<Record<string, SecretSource>>,
  options: ResolveSecretsOptions,
): Promise<Record<string, string>> {
  const names = Object.keys(secrets);
  const results = await Promise.all(names.map((name) => resolveOne(name, secrets[name] as SecretSource, options)));
  const values: Record<string, string> = Object.create(null) as Record<string, string>;
  const problems: SmolfileProblem[] = [];
  results.forEach((result, index) => {
    if (typeof result === 'string') values[names[index] ?? ''] = result;
    else problems.push(result);
  });
  if (problems.length > 0) {
    const lines = problems.map((problem) => formatProblem(problem, undefined));
    throw new SmolfileError(
      'SMOLVM_ERR_SMOLFILE_SECRETS_UNRESOLVED',
      `${problems.length === 1 ? '1 secret' : `${problems.length} secrets`} could not be resolved:\n${lines.join('\n')}`,
      { problems, hint: 'secrets are read on the host at start: set the variables and create the files they name' },
    );
  }
  return values;
}
