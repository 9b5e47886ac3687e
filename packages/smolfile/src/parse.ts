// Reading a Smolfile: size cap, TOML, unknown keys, the schema, checks across tables, then positions for every
// problem. Every problem in the file is collected before anything is reported.
import { open } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { parse as parseToml, TomlError } from 'smol-toml';
import * as v from 'valibot';
import { invalidSmolfileError, SmolfileError, type SmolfileProblem } from './errors.js';
import { SMOLFILE_LIMITS } from './limits.js';
import { SourceLocator, type PathSegment } from './locate.js';
import { issueToProblem, type PendingProblem } from './problems.js';
import { smolfileSchema, type Smolfile } from './schema.js';
import { dropUnknownKeys, formatPath, isPlainTable, type KeyFinding } from './shape.js';
import { describeType, utf8Length } from './spec-result.js';
import { resolveVolumeHostPath, type VolumeSpec } from './volumes.js';

export interface ParseSmolfileOptions {
  /** Where the text came from, for messages (`path:line:column`) and as the default base directory. */
  readonly path?: string;
  /** Directory relative volume paths start from. Default: the directory of `path`, else the current directory. */
  readonly baseDir?: string;
}

export type SmolfileCheckResult =
  | { readonly ok: true; readonly problems: readonly SmolfileProblem[]; readonly smolfile: Smolfile }
  | { readonly ok: false; readonly problems: readonly SmolfileProblem[]; readonly smolfile?: undefined };

function problemAt(pending: PendingProblem, locator: SourceLocator | undefined): SmolfileProblem {
  const { line, column } = locator?.locate(pending.path, pending.at) ?? { line: 1, column: 1 };
  const problem = { code: pending.code, path: formatPath(pending.path), line, column, message: pending.message };
  return pending.hint === undefined ? problem : { ...problem, hint: pending.hint };
}

function syntaxProblem(error: TomlError): SmolfileProblem {
  // smol-toml's message is "Invalid TOML document: <reason>" followed by a code excerpt. Only the reason is kept:
  // the excerpt repeats source lines, which may hold values that should not end up in logs.
  const reason = (error.message.split('\n')[0] ?? '').replace(/^Invalid TOML document:\s*/, '');
  return {
    code: 'SMOLVM_ERR_SMOLFILE_SYNTAX',
    path: '',
    line: Math.max(1, error.line),
    column: Math.max(1, error.column),
    message: `invalid TOML: ${reason}`,
  };
}

function tooLargeProblem(sizeBytes: number): SmolfileProblem {
  return {
    code: 'SMOLVM_ERR_SMOLFILE_TOO_LARGE',
    path: '',
    line: 1,
    column: 1,
    message: `the file is ${sizeBytes} bytes; a Smolfile may be at most ${SMOLFILE_LIMITS.maxFileBytes} bytes`,
    hint: 'a Smolfile declares a machine; put data and scripts in files on a volume instead',
  };
}

/** Checks that need more than one table: they run on the data after unknown keys are dropped. */
function crossTableProblems(data: Record<string, unknown>): PendingProblem[] {
  const problems: PendingProblem[] = [];
  const network = data['network'];
  if (data['net'] === false && isPlainTable(network)) {
    const listed = (key: string): boolean => {
      const list = network[key];
      return Array.isArray(list) && list.length > 0;
    };
    if (listed('allow_hosts') || listed('allow_cidrs')) {
      problems.push({
        code: 'SMOLVM_ERR_SMOLFILE_CONFLICT',
        path: ['net'],
        message: 'net: is false, but [network] allows hosts or CIDRs',
        hint: 'remove net = false to allow only the listed destinations, or remove the allow-lists to keep the network off',
        at: 'value',
      });
    }
  }
  const secrets = data['secrets'];
  if (isPlainTable(secrets)) {
    const names = new Set(Object.keys(secrets));
    const envLists: PathSegment[][] = [['env'], ['dev', 'env'], ['pack', 'env']];
    for (const listPath of envLists) {
      let list: unknown = data;
      for (const key of listPath) list = isPlainTable(list) ? list[key] : undefined;
      if (!Array.isArray(list)) continue;
      list.forEach((entry: unknown, index) => {
        if (typeof entry !== 'string') return;
        const name = entry.slice(0, Math.max(0, entry.indexOf('=')));
        if (!names.has(name)) return;
        const path = [...listPath, index];
        problems.push({
          code: 'SMOLVM_ERR_SMOLFILE_CONFLICT',
          path,
          message: `${formatPath(path)}: ${name} is also declared in [secrets]`,
          hint: 'a name is either an env entry or a secret; remove one of them',
          at: 'value',
        });
      });
    }
  }
  return problems;
}

/**
 * Drops "missing key" problems in tables that also have an unknown key: `{ from_envv = "X" }` is one misspelling,
 * and reporting the misspelled key is enough.
 */
function withoutConsequences(problems: PendingProblem[], findings: readonly KeyFinding[]): PendingProblem[] {
  const tablesWithUnknownKeys = new Set(
    findings.filter((finding) => finding.code === 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY').map((finding) => JSON.stringify(finding.path.slice(0, -1))),
  );
  if (tablesWithUnknownKeys.size === 0) return problems;
  return problems.filter((problem) => {
    if (problem.code !== 'SMOLVM_ERR_SMOLFILE_MISSING_KEY') return true;
    return !tablesWithUnknownKeys.has(JSON.stringify(problem.path)) && !tablesWithUnknownKeys.has(JSON.stringify(problem.path.slice(0, -1)));
  });
}

function resolveVolumes(volumes: readonly VolumeSpec[] | undefined, baseDir: string): VolumeSpec[] | undefined {
  return volumes?.map((volume) => resolveVolumeHostPath(volume, baseDir));
}

function comparePositions(a: SmolfileProblem, b: SmolfileProblem): number {
  return a.line - b.line || a.column - b.column;
}

/**
 * Checks a Smolfile without throwing for what is wrong with it: `ok` with the parsed Smolfile, or every problem
 * found, each with its position.
 */
export function checkSmolfile(text: string, options: ParseSmolfileOptions = {}): SmolfileCheckResult {
  if (typeof text !== 'string') {
    // JavaScript callers sometimes hand over the Buffer from readFile.
    return {
      ok: false,
      problems: [{
        code: 'SMOLVM_ERR_SMOLFILE_TYPE',
        path: '',
        line: 1,
        column: 1,
        message: `expected the Smolfile's text as a string, got ${describeType(text)}`,
        hint: 'decode the file first, or use loadSmolfile(path)',
      }],
    };
  }
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  if (source.length > SMOLFILE_LIMITS.maxFileBytes / 3) {
    const size = utf8Length(source);
    if (size > SMOLFILE_LIMITS.maxFileBytes) return { ok: false, problems: [tooLargeProblem(size)] };
  }

  let document: Record<string, unknown>;
  try {
    document = parseToml(source, { integersAsBigInt: 'asNeeded', maxDepth: SMOLFILE_LIMITS.maxTomlDepth });
  } catch (error) {
    if (error instanceof TomlError) return { ok: false, problems: [syntaxProblem(error)] };
    throw error;
  }

  const findings: KeyFinding[] = [];
  const data = dropUnknownKeys(document, findings) as Record<string, unknown>;
  const pending: PendingProblem[] = [...findings];
  // abortPipeEarly: one problem per value (inf is not also reported as too large once it is not an integer).
  const result = v.safeParse(smolfileSchema, data, { abortEarly: false, abortPipeEarly: true });
  if (!result.success) pending.push(...withoutConsequences(result.issues.map(issueToProblem), findings));
  pending.push(...crossTableProblems(data));

  if (pending.length > 0 || !result.success) {
    const locator = new SourceLocator(source);
    const problems = pending.map((problem) => problemAt(problem, locator)).sort(comparePositions);
    return { ok: false, problems };
  }

  const baseDir = resolve(options.baseDir ?? (options.path === undefined ? process.cwd() : dirname(resolve(options.path))));
  const parsed = result.output;
  const smolfile: Smolfile = {
    ...parsed,
    volumes: resolveVolumes(parsed.volumes, baseDir),
    dev: parsed.dev === undefined ? undefined : { ...parsed.dev, volumes: resolveVolumes(parsed.dev.volumes, baseDir) },
  };
  return { ok: true, problems: [], smolfile };
}

/**
 * Parses and validates a Smolfile. Throws a `SmolfileError` with code `SMOLVM_ERR_SMOLFILE_INVALID` whose
 * `problems` lists everything wrong with the file and whose message shows each as `file:line:column: message`.
 */
export function parseSmolfile(text: string, options: ParseSmolfileOptions = {}): Smolfile {
  const result = checkSmolfile(text, options);
  if (result.ok) return result.smolfile;
  throw invalidSmolfileError(result.problems, options.path);
}

export interface LoadSmolfileOptions {
  /** Directory relative volume paths start from. Default: the Smolfile's directory. */
  readonly baseDir?: string;
}

function readFailure(path: string, error: unknown): SmolfileError {
  const code = (error as { code?: unknown } | null)?.code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return new SmolfileError('SMOLVM_ERR_SMOLFILE_NOT_FOUND', `no Smolfile at ${path}`, {
      cause: error,
      file: path,
      hint: 'check the path, or create a Smolfile there (docs/smolfile.md shows one)',
    });
  }
  if (code === 'EISDIR') {
    return new SmolfileError('SMOLVM_ERR_SMOLFILE_READ', `cannot read ${path}: it is a directory`, {
      cause: error,
      file: path,
      hint: `pass the file itself, e.g. ${join(path, 'Smolfile')}`,
    });
  }
  const reason = typeof code === 'string' ? code : 'an I/O error';
  return new SmolfileError('SMOLVM_ERR_SMOLFILE_READ', `cannot read ${path} (${reason})`, {
    cause: error,
    file: path,
    hint: 'check that the file exists and that you may read it',
  });
}

/** Decodes UTF-8 strictly; on a bad byte sequence, reports where the first one is. */
function decodeUtf8(bytes: Uint8Array, path: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch {
    const lossy = new TextDecoder('utf-8').decode(bytes);
    const { line, column } = new SourceLocator(lossy).position(Math.max(0, lossy.indexOf('\uFFFD')));
    throw invalidSmolfileError(
      [{
        code: 'SMOLVM_ERR_SMOLFILE_SYNTAX',
        path: '',
        line,
        column,
        message: 'the file is not valid UTF-8',
        hint: 'save the file as UTF-8',
      }],
      path,
    );
  }
}

/**
 * Reads and parses the Smolfile at `path`; relative volume paths start from its directory. Throws a
 * `SmolfileError`: `SMOLVM_ERR_SMOLFILE_NOT_FOUND` when there is no file, `SMOLVM_ERR_SMOLFILE_READ` when it
 * cannot be read, `SMOLVM_ERR_SMOLFILE_INVALID` (with every problem) when it is not a valid Smolfile, including
 * one larger than the size cap, which is not read at all.
 */
export async function loadSmolfile(path: string, options: LoadSmolfileOptions = {}): Promise<Smolfile> {
  const absolute = resolve(path);
  let handle;
  try {
    handle = await open(absolute, 'r');
  } catch (error) {
    throw readFailure(path, error);
  }
  let bytes: Uint8Array;
  try {
    const info = await handle.stat();
    if (info.isDirectory()) throw readFailure(path, Object.assign(new Error('is a directory'), { code: 'EISDIR' }));
    if (info.size > SMOLFILE_LIMITS.maxFileBytes) throw invalidSmolfileError([tooLargeProblem(info.size)], path);
    // Read at most one byte past the cap: the file may have grown since stat.
    const buffer = new Uint8Array(SMOLFILE_LIMITS.maxFileBytes + 1);
    let length = 0;
    while (length < buffer.length) {
      const { bytesRead } = await handle.read(buffer, length, buffer.length - length, null);
      if (bytesRead === 0) break;
      length += bytesRead;
    }
    if (length > SMOLFILE_LIMITS.maxFileBytes) throw invalidSmolfileError([tooLargeProblem(length)], path);
    bytes = buffer.subarray(0, length);
  } catch (error) {
    if (error instanceof SmolfileError) throw error;
    throw readFailure(path, error);
  } finally {
    await handle.close();
  }
  return parseSmolfile(decodeUtf8(bytes, path), { path, baseDir: options.baseDir ?? dirname(absolute) });
}
