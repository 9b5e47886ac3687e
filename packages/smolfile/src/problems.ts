// Turns valibot issues into Smolfile problems: a permanent code, the key path, a message that starts with the
// path, and a hint where one helps. Positions are added by the caller, which owns the source text.
import type * as v from 'valibot';
import type { SmolfileProblemCode } from './errors.js';
import type { PathSegment } from './locate.js';
import { TYPE_HINTS } from './schema.js';
import { formatPath, shapeAt } from './shape.js';

/** A problem before it has a position. `at` says whether it should point at the key or at its value. */
export interface PendingProblem {
  readonly code: SmolfileProblemCode;
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly hint?: string;
  readonly at: 'key' | 'value';
}

const PROBLEM_CODES: ReadonlySet<string> = new Set<SmolfileProblemCode>([
  'SMOLVM_ERR_SMOLFILE_SYNTAX',
  'SMOLVM_ERR_SMOLFILE_TOO_LARGE',
  'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY',
  'SMOLVM_ERR_SMOLFILE_MISSING_KEY',
  'SMOLVM_ERR_SMOLFILE_TYPE',
  'SMOLVM_ERR_SMOLFILE_RANGE',
  'SMOLVM_ERR_SMOLFILE_FORMAT',
  'SMOLVM_ERR_SMOLFILE_DUPLICATE',
  'SMOLVM_ERR_SMOLFILE_CONFLICT',
  'SMOLVM_ERR_SMOLFILE_SECRET_UNRESOLVED',
]);

function isProblemCode(code: unknown): code is SmolfileProblemCode {
  return typeof code === 'string' && PROBLEM_CODES.has(code);
}

const RANGE_TYPES = new Set(['min_value', 'max_value', 'min_length', 'max_length', 'max_entries', 'picklist']);

function codeOf(issue: v.BaseIssue<unknown>): SmolfileProblemCode {
  // Our own raw checks and transforms carry their code in `expected` (see schema.ts).
  if (isProblemCode(issue.expected)) return issue.expected;
  if (issue.type === 'strict_object' && issue.path?.at(-1)?.origin === 'key') {
    return issue.input === undefined ? 'SMOLVM_ERR_SMOLFILE_MISSING_KEY' : 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY';
  }
  // A choice (picklist) of the right type but not among the choices is a range problem; of the wrong type, a type one.
  if (issue.type === 'picklist' && typeof issue.input !== 'string') return 'SMOLVM_ERR_SMOLFILE_TYPE';
  if (RANGE_TYPES.has(issue.type)) return 'SMOLVM_ERR_SMOLFILE_RANGE';
  if (issue.kind === 'schema' || issue.type === 'integer') return 'SMOLVM_ERR_SMOLFILE_TYPE';
  return 'SMOLVM_ERR_SMOLFILE_FORMAT';
}

function typeHint(issue: v.BaseIssue<unknown>, key: PathSegment | undefined): string | undefined {
  const input = issue.input;
  if (typeof key === 'string' && typeof input === 'string' && TYPE_HINTS[key] !== undefined) return TYPE_HINTS[key];
  if ((issue.type === 'number' || issue.type === 'boolean') && typeof input === 'string' && /^\s*(?:true|false|[-+]?\d[\d_]*(?:\.\d+)?)\s*$/.test(input)) {
    return 'remove the quotes: TOML numbers and booleans are written bare';
  }
  if (issue.type === 'array' && typeof input === 'string' && typeof key === 'string') {
    return `write a list in brackets, e.g. ${key} = ["…"]`;
  }
  if (issue.type === 'strict_object' && Array.isArray(input) && typeof key === 'string') {
    return `write one [${key}] table, not [[${key}]]`;
  }
  return undefined;
}

function missingKeyHint(path: readonly PathSegment[]): string | undefined {
  const key = path.at(-1);
  const table = shapeAt(path.slice(0, -1));
  if (typeof key !== 'string' || table?.kind !== 'table') return undefined;
  const form = table.entries.get(key)?.form;
  const where = path.length > 1 ? `[${formatPath(path.slice(0, -1))}]` : 'the file';
  return form === undefined ? `add ${key} to ${where}` : `add ${key} to ${where}; it accepts ${form}`;
}

export function issueToProblem(issue: v.BaseIssue<unknown>): PendingProblem {
  const path: PathSegment[] = (issue.path ?? []).map((item) => (typeof item.key === 'number' ? item.key : String(item.key)));
  const code = codeOf(issue);
  const shownPath = formatPath(path);
  const onKey = issue.path?.at(-1)?.origin === 'key';
  if (code === 'SMOLVM_ERR_SMOLFILE_MISSING_KEY' && issue.type === 'strict_object') {
    const hint = missingKeyHint(path);
    return { code, path, message: `${shownPath}: required key is missing`, at: 'key', ...(hint === undefined ? {} : { hint }) };
  }
  const message = shownPath === '' ? issue.message : `${shownPath}: ${issue.message}`;
  let hint: string | undefined;
  if (isProblemCode(issue.expected)) hint = issue.received === '' ? undefined : issue.received;
  else if (code === 'SMOLVM_ERR_SMOLFILE_TYPE') hint = typeHint(issue, path.at(-1));
  return { code, path, message, at: onKey || code === 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY' ? 'key' : 'value', ...(hint === undefined ? {} : { hint }) };
}
