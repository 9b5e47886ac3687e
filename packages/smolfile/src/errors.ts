// Errors of @smolvm/smolfile. Every code is permanent: callers and docs match on it, so codes are only ever added.

/** Codes of the problems found in a Smolfile (or in overrides and secrets checked against it). */
export type SmolfileProblemCode =
  /** The text is not valid TOML, or not valid UTF-8. */
  | 'SMOLVM_ERR_SMOLFILE_SYNTAX'
  /** The file is larger than the size cap, so it was not parsed. */
  | 'SMOLVM_ERR_SMOLFILE_TOO_LARGE'
  /** A key or table the Smolfile does not define. */
  | 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY'
  /** A key its table requires is absent. */
  | 'SMOLVM_ERR_SMOLFILE_MISSING_KEY'
  /** A value of the wrong TOML type (a string where an integer belongs, a float where an integer belongs). */
  | 'SMOLVM_ERR_SMOLFILE_TYPE'
  /** A number, list length or choice outside what is accepted. */
  | 'SMOLVM_ERR_SMOLFILE_RANGE'
  /** A string that does not have its accepted form (a duration, port mapping, volume, CIDR, host pattern...). */
  | 'SMOLVM_ERR_SMOLFILE_FORMAT'
  /** The same thing declared twice in one list (an env name, a host port, a mount point). */
  | 'SMOLVM_ERR_SMOLFILE_DUPLICATE'
  /** Two settings that contradict each other. */
  | 'SMOLVM_ERR_SMOLFILE_CONFLICT'
  /** A secret could not be read from where its reference points. */
  | 'SMOLVM_ERR_SMOLFILE_SECRET_UNRESOLVED';

/** Codes a {@link SmolfileError} can carry. */
export type SmolfileErrorCode =
  | SmolfileProblemCode
  /** A Smolfile with one or more problems; `problems` lists every one. */
  | 'SMOLVM_ERR_SMOLFILE_INVALID'
  /** `loadSmolfile` found no file at the path. */
  | 'SMOLVM_ERR_SMOLFILE_NOT_FOUND'
  /** `loadSmolfile` could not read the file for another reason (a directory, permissions...). */
  | 'SMOLVM_ERR_SMOLFILE_READ'
  /** Overrides given to `resolveMachineConfig` (CLI flags, SDK options) have problems; `problems` lists them. */
  | 'SMOLVM_ERR_SMOLFILE_OVERRIDE_INVALID'
  /** `resolveSecrets` could not resolve one or more secrets; `problems` names them (never their values). */
  | 'SMOLVM_ERR_SMOLFILE_SECRETS_UNRESOLVED';

/**
 * One problem, located in the file where it came from one.
 *
 * `line` and `column` are 1-based (columns count UTF-16 code units, as editors do). They are 0 for problems that
 * do not come from a place in a file: overrides passed to `resolveMachineConfig` and secrets in `resolveSecrets`.
 */
export interface SmolfileProblem {
  readonly code: SmolfileProblemCode;
  /** Key path of the value, e.g. `health.interval`, `ports[1]`, `secrets.TOKEN`; empty for the whole file. */
  readonly path: string;
  readonly line: number;
  readonly column: number;
  /** What is wrong, starting with the key path, e.g. `memory: expected an integer number of MiB ...`. */
  readonly message: string;
  /** What to do about it, e.g. `did you mean "cpus"?`. */
  readonly hint?: string;
}

export interface SmolfileErrorOptions {
  readonly hint?: string;
  readonly cause?: unknown;
  readonly problems?: readonly SmolfileProblem[];
  /** The file the problems were found in, when there was one. */
  readonly file?: string;
}

/** The one error class of this package. Match on `code` (or use {@link isSmolvmError}), not on `instanceof`. */
export class SmolfileError extends Error {
  override readonly name = 'SmolfileError';
  readonly code: SmolfileErrorCode;
  readonly hint: string | undefined;
  readonly problems: readonly SmolfileProblem[];
  readonly file: string | undefined;

  constructor(code: SmolfileErrorCode, message: string, options: SmolfileErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.hint = options.hint;
    this.problems = options.problems ?? [];
    this.file = options.file;
  }
}

/** The shape every smolvm package's errors share. */
export interface SmolvmErrorLike extends Error {
  readonly code: `SMOLVM_ERR_${string}`;
  readonly hint?: string | undefined;
}

/** True for an error from any smolvm package: its `code` starts with `SMOLVM_ERR_`. Works across package copies. */
export function isSmolvmError(error: unknown): error is SmolvmErrorLike {
  if (typeof error !== 'object' || error === null) return false;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'string' && code.startsWith('SMOLVM_ERR_');
}

/** `file:line:col: message` (or just `message` for problems with no position), then the hint on its own line. */
export function formatProblem(problem: SmolfileProblem, file: string | undefined): string {
  const where = problem.line > 0 ? `${file ?? 'Smolfile'}:${problem.line}:${problem.column}: ` : '';
  const hint = problem.hint === undefined ? '' : `\n    hint: ${problem.hint}`;
  return `${where}${problem.message}${hint}`;
}

/** A message lists this many problems at most; `problems` always holds all of them. */
const MAX_LISTED_PROBLEMS = 50;

/** Builds the error thrown for a file with problems: a header line, then every problem on its own line. */
export function invalidSmolfileError(problems: readonly SmolfileProblem[], file: string | undefined): SmolfileError {
  const count = problems.length === 1 ? '1 problem' : `${problems.length} problems`;
  const shown = problems.slice(0, MAX_LISTED_PROBLEMS).map((problem) => formatProblem(problem, file));
  if (problems.length > MAX_LISTED_PROBLEMS) shown.push(`... and ${problems.length - MAX_LISTED_PROBLEMS} more (see the error's problems)`);
  return new SmolfileError('SMOLVM_ERR_SMOLFILE_INVALID', `${file ?? 'Smolfile'} is not valid (${count}):\n${shown.join('\n')}`, {
    problems,
    file,
    hint: 'Fix each problem listed; the Smolfile reference (docs/smolfile.md) gives every key and its accepted values.',
  });
}
