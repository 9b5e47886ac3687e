// The key reference of the Smolfile, read from its JSON Schema: the table in docs/smolfile.md is rendered from
// this, so the docs list every key with the type, default, accepted values and example the schema has.
import { stringify } from 'smol-toml';
import { smolfileJsonSchema } from './json-schema.js';

export interface SmolfileKeyReference {
  /** Dotted key path, e.g. `health.interval`; `secrets.<NAME>` for each secret. */
  readonly key: string;
  /** The table the key belongs to: `''` for the top level, else e.g. `health`. */
  readonly table: string;
  /** TOML type in words: `integer`, `string`, `list of strings`, `table`... */
  readonly type: string;
  /** The default as TOML, when the key has one. */
  readonly default?: string;
  /** What the key does and the values it accepts. */
  readonly description: string;
  /** An example line of TOML. */
  readonly example?: string;
}

interface Node {
  readonly type?: string;
  readonly items?: Node;
  readonly anyOf?: readonly Node[];
  readonly properties?: Readonly<Record<string, Node>>;
  readonly additionalProperties?: Node | boolean;
  readonly required?: readonly string[];
  readonly description?: string;
  readonly default?: unknown;
  readonly examples?: readonly unknown[];
}

function typeName(node: Node): string {
  if (node.anyOf !== undefined) return node.anyOf.map(typeName).join(' or ');
  if (node.type === 'array') return `list of ${typeName(node.items ?? {})}s`;
  if (node.type === 'object') return 'table';
  return node.type ?? 'any';
}

function toml(key: string, value: unknown): string {
  return stringify({ [key]: value }).trim();
}

function inlineValue(value: unknown): string {
  return toml('x', value).replace(/^x = /, '');
}

/** `NAME = { key = value }` for the first entry of a record example, as it is written under its table. */
function firstEntryExample(example: unknown): { example: string } | undefined {
  if (typeof example !== 'object' || example === null) return undefined;
  const [name, entry] = Object.entries(example)[0] ?? [];
  if (name === undefined || typeof entry !== 'object' || entry === null) return undefined;
  const fields = Object.entries(entry).map(([key, value]) => `${key} = ${inlineValue(value)}`);
  return { example: `${name} = { ${fields.join(', ')} }` };
}

/** Every key of the Smolfile, in schema order: top-level keys first, then each table's keys. */
export function smolfileKeyReference(): SmolfileKeyReference[] {
  const rows: SmolfileKeyReference[] = [];
  const visit = (node: Node, table: string): void => {
    for (const [key, child] of Object.entries(node.properties ?? {})) {
      const path = table === '' ? key : `${table}.${key}`;
      const isTable = child.type === 'object';
      const required = node.required?.includes(key) ?? false;
      const example = child.examples?.[0];
      const row: SmolfileKeyReference = {
        key: path,
        table,
        type: isTable ? 'table' : typeName(child),
        description: `${required ? 'Required. ' : ''}${child.description ?? ''}`,
        ...(child.default === undefined ? {} : { default: inlineValue(child.default) }),
        ...(example === undefined || isTable ? {} : { example: toml(key, example) }),
      };
      rows.push(row);
      if (isTable && child.properties !== undefined) visit(child, path);
      const entry = typeof child.additionalProperties === 'object' ? child.additionalProperties : undefined;
      if (isTable && entry !== undefined) {
        rows.push({
          key: `${path}.<NAME>`,
          table: path,
          type: typeName(entry),
          description: entry.description ?? '',
          ...(firstEntryExample(example) ?? {}),
        });
        visit(entry, `${path}.<NAME>`);
      }
    }
  };
  visit(smolfileJsonSchema as Node, '');
  return rows;
}

function cell(text: string): string {
  return text.replace(/\|/g, '\\|').replace(/\n/g, '<br>');
}

/** The key reference as a Markdown table (the generated part of docs/smolfile.md). */
export function renderSmolfileKeyTable(): string {
  const lines = ['| Key | Type | Default | Description | Example |', '| --- | --- | --- | --- | --- |'];
  for (const row of smolfileKeyReference()) {
    const key = row.type === 'table' && !row.key.includes('<') ? `\`[${row.key}]\`` : `\`${row.key}\``;
    const example = row.example === undefined ? '' : `\`${cell(row.example)}\``;
    lines.push(`| ${key} | ${row.type} | ${row.default === undefined ? '' : `\`${cell(row.default)}\``} | ${cell(row.description)} | ${example} |`);
  }
  return `${lines.join('\n')}\n`;
}
