// The JSON Schema of a Smolfile, for editors (Taplo / Even Better TOML, and any JSON Schema aware tool). It is
// generated from the valibot schema's input side, so it cannot drift from what the parser accepts; a test checks
// that the copy shipped in schema/smolfile.schema.json is current.
import { toJsonSchema, type JsonSchema } from '@valibot/to-json-schema';
import { smolfileSchema } from './schema.js';

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null) {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

function generate(): JsonSchema {
  const schema = toJsonSchema(smolfileSchema, {
    target: 'draft-07',
    typeMode: 'input',
    errorMode: 'throw',
    // Checks across keys (timeout within interval, one secret source...) have no JSON Schema form.
    ignoreActions: ['raw_check'],
  });
  // `$schema` first, so the file reads as a JSON Schema from its first line.
  const { $schema, ...rest } = schema as JsonSchema & { $schema?: string };
  return { $schema, ...rest } as JsonSchema;
}

/** The Smolfile's JSON Schema (draft-07), as shipped in `@smolvm/smolfile/schema.json`. */
export const smolfileJsonSchema: Readonly<JsonSchema> = deepFreeze(generate());
