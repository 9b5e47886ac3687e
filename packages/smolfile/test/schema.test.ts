// The JSON Schema shipped for editors and the key table of docs/smolfile.md are generated from the valibot schema.
// These tests fail when either is out of date; run with UPDATE_SCHEMA=1 to regenerate both.
import { existsSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { stringify } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import { checkSmolfile, renderSmolfileKeyTable, smolfileJsonSchema, smolfileKeyReference } from '../src/index.js';

const packageDir = join(dirname(fileURLToPath(import.meta.url)), '..');
const schemaFile = join(packageDir, 'schema', 'smolfile.schema.json');
const docsFile = join(packageDir, '..', '..', 'docs', 'smolfile.md');
const update = process.env['UPDATE_SCHEMA'] === '1';

const BEGIN = '<!-- BEGIN GENERATED KEY TABLE (run UPDATE_SCHEMA=1 npx vitest run --project smolfile) -->';
const END = '<!-- END GENERATED KEY TABLE -->';

interface SchemaNode {
  type?: string;
  properties?: Record<string, SchemaNode>;
  additionalProperties?: SchemaNode | boolean;
  items?: SchemaNode;
  examples?: unknown[];
  default?: unknown;
  pattern?: string;
  description?: string;
}

/** Every node of the schema that describes a key, with its dotted path. */
function keyNodes(node: SchemaNode, prefix = ''): [string, SchemaNode][] {
  const found: [string, SchemaNode][] = [];
  for (const [key, child] of Object.entries(node.properties ?? {})) {
    const path = prefix === '' ? key : `${prefix}.${key}`;
    found.push([path, child], ...keyNodes(child, path));
    if (typeof child.additionalProperties === 'object') {
      found.push([`${path}.<NAME>`, child.additionalProperties], ...keyNodes(child.additionalProperties, `${path}.<NAME>`));
    }
  }
  return found;
}

/** A one-key Smolfile setting `path` to `value` (with whatever its table needs to be valid on its own). */
function smolfileWith(path: string, value: unknown): string {
  const parts = path.split('.').filter((part) => part !== '<NAME>');
  const document: Record<string, unknown> = {};
  let table = document;
  for (const part of parts.slice(0, -1)) {
    table = (table[part] ??= {}) as Record<string, unknown>;
  }
  table[parts.at(-1) ?? ''] = value;
  if (path.startsWith('secrets.<NAME>.')) return stringify({ secrets: { NAME: { [parts.at(-1) ?? '']: value } } });
  if (path.startsWith('health.') && path !== 'health.exec') (document['health'] as Record<string, unknown>)['exec'] = 'true';
  if (path === 'auth.ssh_keys') (document['auth'] as Record<string, unknown>)['ssh_agent'] = true;
  if (path === 'restart.max_retries') (document['restart'] as Record<string, unknown>)['policy'] = 'on-failure';
  return stringify(document);
}

describe('JSON Schema', () => {
  it('is current in schema/smolfile.schema.json', () => {
    const generated = `${JSON.stringify(smolfileJsonSchema, null, 2)}\n`;
    if (update) {
      mkdirSync(dirname(schemaFile), { recursive: true });
      writeFileSync(schemaFile, generated);
    }
    expect(existsSync(schemaFile), 'schema/smolfile.schema.json is missing; run UPDATE_SCHEMA=1').toBe(true);
    expect(readFileSync(schemaFile, 'utf8')).toBe(generated);
  });

  it('is a closed draft-07 schema: every table refuses unknown keys', () => {
    expect(smolfileJsonSchema['$schema']).toBe('http://json-schema.org/draft-07/schema#');
    const tables = [['', smolfileJsonSchema as SchemaNode] as [string, SchemaNode], ...keyNodes(smolfileJsonSchema as SchemaNode)].filter(
      ([, node]) => node.type === 'object' && node.properties !== undefined,
    );
    expect(tables.map(([path]) => path)).toEqual(['', 'network', 'auth', 'health', 'restart', 'dev', 'pack', 'secrets.<NAME>']);
    for (const [path, node] of tables) expect(node.additionalProperties, path).toBe(false);
  });

  it('describes every key, and its examples and defaults are valid Smolfile values', () => {
    for (const [path, node] of keyNodes(smolfileJsonSchema as SchemaNode)) {
      expect(node.description, path).toBeTruthy();
      for (const example of [...(node.examples ?? []), ...(node.default === undefined ? [] : [node.default])]) {
        if (path === 'secrets' || path === 'secrets.<NAME>') continue;
        const text = smolfileWith(path, example);
        const result = checkSmolfile(text);
        expect(result.problems, `${path} = ${JSON.stringify(example)}`).toEqual([]);
      }
    }
  });

  it('has patterns that accept the values the parser accepts', () => {
    const node = (path: string): SchemaNode | undefined => keyNodes(smolfileJsonSchema as SchemaNode).find(([p]) => p === path)?.[1];
    const accepts = (path: string, value: string): boolean => new RegExp(node(path)?.items?.pattern ?? node(path)?.pattern ?? '').test(value);
    for (const value of ['8080:80', '0.0.0.0:8080:80', '[::1]:8080:80']) expect(accepts('ports', value), value).toBe(true);
    for (const value of ['./a:/a', '/a:/b:ro', 'a:/b:rw']) expect(accepts('volumes', value), value).toBe(true);
    for (const value of ['A=1', '_B=']) expect(accepts('env', value), value).toBe(true);
    for (const value of ['10s', '1h30m', '250ms', '0s']) expect(accepts('health.interval', value), value).toBe(true);
    for (const value of ['', '10', 's', '1.5s']) expect(accepts('health.interval', value), value).toBe(false);
  });
});

describe('docs/smolfile.md', () => {
  it('holds the current key table', () => {
    const docs = readFileSync(docsFile, 'utf8');
    const start = docs.indexOf(BEGIN);
    const end = docs.indexOf(END);
    expect(start, 'the generated-table markers are missing').toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const generated = `${BEGIN}\n\n${renderSmolfileKeyTable()}\n${END}`;
    const current = docs.slice(start, end + END.length);
    if (update && current !== generated) writeFileSync(docsFile, docs.replace(current, generated));
    expect(readFileSync(docsFile, 'utf8').slice(start, start + generated.length)).toBe(generated);
  });

  it('mentions every key of the schema', () => {
    const docs = readFileSync(docsFile, 'utf8');
    const keys = keyNodes(smolfileJsonSchema as SchemaNode).map(([path]) => path);
    expect(keys.length).toBeGreaterThan(40);
    for (const key of keys) expect(docs.includes(`\`${key}\``) || docs.includes(`\`[${key}]\``), key).toBe(true);
  });

  it('shows example Smolfiles that are valid', () => {
    const docs = readFileSync(docsFile, 'utf8');
    const blocks = [...docs.matchAll(/```toml\n([\s\S]*?)```/g)].map((match) => match[1] ?? '');
    expect(blocks.length).toBeGreaterThanOrEqual(2);
    for (const block of blocks) expect(checkSmolfile(block, { path: '/project/Smolfile' }).problems).toEqual([]);
  });

  it('lists keys in the reference in schema order', () => {
    const reference = smolfileKeyReference();
    expect(reference[0]).toMatchObject({ key: 'image', table: '', type: 'string' });
    expect(reference.find((row) => row.key === 'memory')).toMatchObject({ type: 'integer', default: '512' });
    expect(reference.find((row) => row.key === 'health.exec')?.description).toMatch(/^Required\. /);
    expect(reference.find((row) => row.key === 'secrets.<NAME>')).toMatchObject({ example: 'GITHUB_TOKEN = { from_env = "GITHUB_TOKEN" }' });
  });
});
