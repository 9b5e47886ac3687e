// The table structure of the schema (which keys each table accepts), read from the valibot schema itself, and the
// walk that reports every unknown key before validation. valibot's strict objects stop at the first unknown key;
// a Smolfile should list them all.
import type { PathSegment } from './locate.js';
import { smolfileSchema } from './schema.js';
import { suggestKey } from './suggest.js';

export interface TableEntry {
  readonly shape: Shape;
  readonly optional: boolean;
  /** The accepted form, from the key's JSON Schema description ("Accepted: ..."). */
  readonly form: string | undefined;
}

/** Builds the schema's own type message ("expected a table, got a list") for a value. */
type TypeMessage = (input: unknown) => string;

export type Shape =
  | { readonly kind: 'table'; readonly entries: ReadonlyMap<string, TableEntry>; readonly typeMessage: TypeMessage }
  | { readonly kind: 'record'; readonly value: Shape; readonly typeMessage: TypeMessage }
  | { readonly kind: 'leaf' };

/** What an unknown-key walk found: a problem to report (positions are filled in later). */
export interface KeyFinding {
  readonly code: 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY' | 'SMOLVM_ERR_SMOLFILE_FORMAT' | 'SMOLVM_ERR_SMOLFILE_TYPE';
  readonly path: readonly PathSegment[];
  readonly message: string;
  readonly hint?: string;
  readonly at: 'key' | 'value';
}

interface SchemaNode {
  readonly type: string;
  readonly wrapped?: unknown;
  readonly entries?: Readonly<Record<string, unknown>>;
  readonly value?: unknown;
  readonly pipe?: readonly { readonly type: string; readonly metadata?: Readonly<Record<string, unknown>> }[];
  readonly message?: unknown;
}

function typeMessageOf(node: SchemaNode): TypeMessage {
  const message = node.message;
  // The schema's messages are this package's own functions of the issue (see schema.ts); only `input` is read.
  if (typeof message === 'function') return (input) => String((message as (issue: { input: unknown }) => unknown)({ input }));
  return () => 'expected a table';
}

function formOf(node: SchemaNode): string | undefined {
  for (const action of node.pipe ?? []) {
    const description = action.type === 'metadata' ? action.metadata?.['description'] : undefined;
    if (typeof description === 'string' && description.includes('Accepted: ')) {
      return description.slice(description.indexOf('Accepted: ') + 'Accepted: '.length).replace(/\.$/, '');
    }
  }
  return undefined;
}

function shapeOf(schema: unknown): Shape {
  let node = schema as SchemaNode;
  while (node.type === 'optional' || node.type === 'exact_optional' || node.type === 'nullish') node = node.wrapped as SchemaNode;
  if (node.type === 'strict_object' || node.type === 'object' || node.type === 'loose_object') {
    const entries = new Map<string, TableEntry>();
    for (const [key, value] of Object.entries(node.entries ?? {})) {
      const entry = value as SchemaNode;
      const inner = entry.type === 'optional' ? (entry.wrapped as SchemaNode) : entry;
      entries.set(key, { shape: shapeOf(entry), optional: entry.type === 'optional', form: formOf(inner) });
    }
    return { kind: 'table', entries, typeMessage: typeMessageOf(node) };
  }
  if (node.type === 'record') return { kind: 'record', value: shapeOf(node.value), typeMessage: typeMessageOf(node) };
  return { kind: 'leaf' };
}

/** The Smolfile's table structure. */
export const SMOLFILE_SHAPE = shapeOf(smolfileSchema);

/** The shape at a path of keys (array indexes skipped), if the schema has one there. */
export function shapeAt(path: readonly PathSegment[]): Shape | undefined {
  let shape: Shape = SMOLFILE_SHAPE;
  for (const segment of path) {
    if (typeof segment === 'number') continue;
    if (shape.kind === 'table') {
      const entry = shape.entries.get(segment);
      if (entry === undefined) return undefined;
      shape = entry.shape;
    } else if (shape.kind === 'record') {
      shape = shape.value;
    } else {
      return undefined;
    }
  }
  return shape;
}

/** For each key, the tables (by name, '' for the top level) that accept it; for "belongs in [network]" hints. */
const KEY_HOMES: ReadonlyMap<string, readonly string[]> = (() => {
  const homes = new Map<string, string[]>();
  const visit = (shape: Shape, table: string): void => {
    if (shape.kind !== 'table') return;
    for (const [key, entry] of shape.entries) {
      homes.set(key, [...(homes.get(key) ?? []), table]);
      if (entry.shape.kind === 'table') visit(entry.shape, table === '' ? key : `${table}.${key}`);
    }
  };
  visit(SMOLFILE_SHAPE, '');
  return homes;
})();

const RESERVED_NAMES = new Set(['__proto__', 'constructor', 'prototype']);

export function isPlainTable(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date);
}

/** `a.b[2]."odd key"`: how a key path is shown in messages. */
export function formatPath(path: readonly PathSegment[]): string {
  let text = '';
  for (const segment of path) {
    if (typeof segment === 'number') text += `[${segment}]`;
    else {
      const key = /^[A-Za-z0-9_-]+$/.test(segment) ? segment : JSON.stringify(segment);
      text += text === '' ? key : `.${key}`;
    }
  }
  return text;
}

function tableName(path: readonly PathSegment[]): string {
  return path.length === 0 ? 'the top level' : `[${formatPath(path)}]`;
}

function unknownKeyHint(key: string, table: readonly PathSegment[], accepted: readonly string[]): string {
  const suggestion = suggestKey(key, accepted);
  if (suggestion !== undefined) return `did you mean "${suggestion}"?`;
  const tableKey = formatPath(table);
  const homes = (KEY_HOMES.get(key) ?? []).filter((home) => home !== tableKey);
  const acceptedList = `${tableName(table)} accepts ${accepted.join(', ')}`;
  if (homes.length > 0) {
    const places = homes.map((home) => (home === '' ? 'at the top level' : `in [${home}]`)).join(' or ');
    return `${key} belongs ${places}; ${acceptedList}`;
  }
  return acceptedList;
}

/**
 * Copies `value`, keeping only what the schema knows, and reports each unknown key on the way. Big integers
 * (beyond 2^53, which the TOML parser hands over as bigint) become numbers so that range checks report them.
 */
export function dropUnknownKeys(value: unknown, findings: KeyFinding[]): unknown {
  return walk(value, SMOLFILE_SHAPE, [], findings, 0);
}

/** Marks a value the walk has already reported and removed. */
const DROPPED: unique symbol = Symbol('dropped');

function walk(value: unknown, shape: Shape, path: PathSegment[], findings: KeyFinding[], depth: number): unknown {
  if (typeof value === 'bigint') return Number(value);
  if (depth > 64) return value;
  if (shape.kind !== 'leaf' && (Array.isArray(value) || value instanceof Date)) {
    // valibot takes any object for a table (arrays and dates included): report those here, with the schema's message.
    const key = path.at(-1);
    const arrayOfTables = Array.isArray(value) && value.length > 0 && value.every(isPlainTable);
    findings.push({
      code: 'SMOLVM_ERR_SMOLFILE_TYPE',
      path,
      message: `${formatPath(path)}: ${shape.typeMessage(value)}`,
      ...(arrayOfTables && typeof key === 'string' ? { hint: `write one [${formatPath(path)}] table, not [[${formatPath(path)}]]` } : {}),
      at: 'value',
    });
    return DROPPED;
  }
  if (Array.isArray(value)) return value.map((item, index) => walk(item, { kind: 'leaf' }, [...path, index], findings, depth + 1));
  if (!isPlainTable(value)) return value;
  if (shape.kind === 'table') {
    const copy: Record<string, unknown> = {};
    const accepted = [...shape.entries.keys()];
    for (const key of Object.keys(value)) {
      const entry = shape.entries.get(key);
      if (entry !== undefined) {
        const inner = walk(value[key], entry.shape, [...path, key], findings, depth + 1);
        if (inner !== DROPPED) copy[key] = inner;
        continue;
      }
      const keyPath = [...path, key];
      findings.push({
        code: 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY',
        path: keyPath,
        message: `${formatPath(keyPath)}: unknown ${isPlainTable(value[key]) ? 'table' : 'key'}`,
        hint: unknownKeyHint(key, path, accepted),
        at: 'key',
      });
    }
    return copy;
  }
  if (shape.kind === 'record') {
    const copy: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
    for (const key of Object.keys(value)) {
      if (RESERVED_NAMES.has(key)) {
        findings.push({
          code: 'SMOLVM_ERR_SMOLFILE_FORMAT',
          path: [...path, key],
          message: `${formatPath([...path, key])}: "${key}" cannot be used as a name here`,
          hint: 'choose another name',
          at: 'key',
        });
        continue;
      }
      const inner = walk(value[key], shape.value, [...path, key], findings, depth + 1);
      if (inner !== DROPPED) copy[key] = inner;
    }
    return copy;
  }
  // A table where the schema wants something else: valibot reports the type; inner keys need no report.
  const copy: Record<string, unknown> = Object.create(null) as Record<string, unknown>;
  for (const key of Object.keys(value)) copy[key] = walk(value[key], { kind: 'leaf' }, [...path, key], findings, depth + 1);
  return copy;
}
