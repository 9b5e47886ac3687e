// Property tests: whatever the input, the package answers with a result or one of its own coded errors, never
// with anything else, and every problem points inside the text it came from.
import fc from 'fast-check';
import { stringify } from 'smol-toml';
import { describe, expect, it } from 'vitest';
import {
  checkSmolfile,
  isSmolvmError,
  parseCidr,
  parseDuration,
  parseEnvEntry,
  parseHostPattern,
  parsePortSpec,
  parseSmolfile,
  parseVolumeSpec,
  resolveMachineConfig,
  smolfileKeyReference,
} from '../src/index.js';
import { SourceLocator } from '../src/locate.js';

/** Runs `run`; anything thrown must be a coded smolvm error. */
function onlyCodedErrors(run: () => unknown): void {
  try {
    run();
  } catch (error) {
    if (!isSmolvmError(error)) throw error;
  }
}

function problemsInside(text: string): void {
  const result = checkSmolfile(text);
  const source = text.startsWith('\uFEFF') ? text.slice(1) : text;
  const lines = source.split('\n');
  for (const problem of result.problems) {
    expect(problem.code).toMatch(/^SMOLVM_ERR_SMOLFILE_/);
    expect(problem.line).toBeGreaterThanOrEqual(1);
    expect(problem.line).toBeLessThanOrEqual(lines.length);
    expect(problem.column).toBeGreaterThanOrEqual(1);
    expect(problem.column).toBeLessThanOrEqual((lines[problem.line - 1]?.length ?? 0) + 1);
    expect(problem.message.length).toBeGreaterThan(0);
  }
  expect(result.ok).toBe(result.problems.length === 0);
}

// Keys of the schema and near misses, so generated documents reach deep into the validation.
const SCHEMA_KEYS = smolfileKeyReference().map((row) => row.key.split('.').at(-1) ?? '').filter((key) => key !== '<NAME>');
const keyName = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom(...SCHEMA_KEYS, 'NAME', 'TOKEN') },
  { weight: 1, arbitrary: fc.string({ maxLength: 12 }) },
  { weight: 1, arbitrary: fc.constantFrom('__proto__', 'constructor', 'prototype', 'cpu', 'mem', 'a.b', '') },
);
const specLike = fc.constantFrom(
  '10s', '5m', '1h30m', '10', '0s', '8080:80', '[::1]:80:80', '0:0', './a:/a', '/a:/b:ro', '~/x:/x', 'A=1', 'A', '=',
  '10.0.0.0/8', '10.0.0.1/8', '::/0', 'example.com', '*.example.com', '*', 'alpine:3.20', 'UPPER', 'on-failure',
  'SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s', '/run/secrets/x', 'relative', '',
);
const scalar = fc.oneof(
  specLike,
  fc.string({ maxLength: 20 }),
  fc.integer({ min: -100_000, max: 300_000 }),
  fc.double({ noNaN: false }),
  fc.boolean(),
  fc.bigInt({ min: -(2n ** 70n), max: 2n ** 70n }),
);
const { value: tomlValue } = fc.letrec((tie) => ({
  value: fc.oneof(
    { depthSize: 'small', withCrossShrink: true },
    scalar,
    fc.array(tie('value'), { maxLength: 4 }),
    fc.dictionary(keyName, tie('value'), { maxKeys: 5 }),
  ),
}));
const document = fc.dictionary(keyName, tomlValue, { maxKeys: 8 });

function toToml(value: Record<string, unknown>): string | undefined {
  try {
    return stringify(value);
  } catch {
    return undefined; // a value TOML cannot hold (mixed arrays in old TOML, NaN keys...): not a Smolfile test
  }
}

describe('properties', () => {
  it('random text: checkSmolfile never throws, and problems point inside the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'grapheme' }), (text) => {
        problemsInside(text);
        onlyCodedErrors(() => parseSmolfile(text));
      }),
      { numRuns: 1500 },
    );
  });

  it('random text built from TOML pieces', () => {
    const piece = fc.constantFrom(
      '[', ']', '[[', ']]', '{', '}', '=', ',', '.', '"', "'", '"""', "'''", '#', '\n', '\r\n', ' ', '\\', '\\u0000',
      'cpus', 'health', 'exec', 'secrets', 'ports', '"8080:80"', '1', '1.5', 'true', 'inf', '1979-05-27', 'network',
      'allow_hosts', '"a.example"', 'dev', 'env', '"A=1"',
    );
    fc.assert(
      fc.property(fc.array(piece, { maxLength: 40 }), (pieces) => {
        const text = pieces.join('');
        problemsInside(text);
        onlyCodedErrors(() => parseSmolfile(text));
      }),
      { numRuns: 3000 },
    );
  });

  it('random TOML documents with Smolfile keys: only coded problems, positions inside the text', () => {
    fc.assert(
      fc.property(document, (value) => {
        const text = toToml(value);
        if (text === undefined) return;
        problemsInside(text);
        onlyCodedErrors(() => parseSmolfile(text, { path: '/p/Smolfile' }));
      }),
      { numRuns: 2000 },
    );
  });

  it('random documents nested under tables', () => {
    const tables = fc.dictionary(fc.constantFrom('network', 'auth', 'health', 'restart', 'dev', 'pack', 'secrets'), document, { maxKeys: 4 });
    fc.assert(
      fc.property(tables, (value) => {
        const text = toToml(value);
        if (text === undefined) return;
        problemsInside(text);
        const result = checkSmolfile(text);
        if (result.ok) onlyCodedErrors(() => resolveMachineConfig(result.smolfile, {}, { dev: true }));
      }),
      { numRuns: 2000 },
    );
  });

  it('values of env entries and secrets never appear in messages', () => {
    const secret = fc.string({ minLength: 12, maxLength: 30 }).map((s) => `S3CR3T${s.replace(/[^A-Za-z0-9]/g, 'x')}`);
    fc.assert(
      fc.property(secret, fc.constantFrom('env-bare', 'env-bad-name', 'env-nul', 'secret-inline', 'secret-list'), (value, where) => {
        const text = {
          'env-bare': stringify({ env: [value] }),
          'env-bad-name': stringify({ env: [`1${value}=${value}`] }),
          'env-nul': stringify({ env: [`A=${value}\0`] }),
          'secret-inline': stringify({ secrets: { TOKEN: value } }),
          'secret-list': stringify({ secrets: { TOKEN: [value] } }),
        }[where];
        const result = checkSmolfile(text);
        expect(result.ok).toBe(false);
        for (const problem of result.problems) expect(`${problem.message}\n${problem.hint ?? ''}`).not.toContain(value);
      }),
      { numRuns: 300 },
    );
  });

  it('the spec parsers throw only coded errors', () => {
    const input = fc.oneof(fc.string({ maxLength: 80 }), specLike, fc.stringMatching(/^[\d:[\].a-f/]{0,40}$/));
    fc.assert(
      fc.property(input, (text) => {
        for (const parse of [parseDuration, parsePortSpec, parseVolumeSpec, parseCidr, parseHostPattern, parseEnvEntry]) {
          onlyCodedErrors(() => parse(text));
        }
      }),
      { numRuns: 3000 },
    );
  });

  it('CIDR blocks written back parse to themselves', () => {
    const v4 = fc.tuple(fc.ipV4(), fc.integer({ min: 0, max: 32 })).map(([address, prefix]) => `${address}/${prefix}`);
    const v6 = fc.tuple(fc.ipV6(), fc.integer({ min: 0, max: 128 })).map(([address, prefix]) => `${address}/${prefix}`);
    fc.assert(
      fc.property(fc.oneof(v4, v6), (text) => {
        let cidr;
        try {
          cidr = parseCidr(text);
        } catch (error) {
          // Host bits set: the hint names the block to write instead, which must parse.
          const hint = (error as { hint?: string }).hint ?? '';
          const suggested = /did you mean "(.*)"\?/.exec(hint)?.[1];
          expect(suggested, text).toBeDefined();
          cidr = parseCidr(suggested ?? '');
        }
        expect(parseCidr(cidr.cidr)).toEqual(cidr);
      }),
      { numRuns: 2000 },
    );
  });

  it('the locator never throws and always answers inside the text', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 200 }), fc.array(fc.oneof(fc.string({ maxLength: 5 }), fc.nat(5)), { maxLength: 4 }), (text, path) => {
        const { line, column } = new SourceLocator(text).locate(path);
        const lines = text.split('\n');
        expect(line).toBeLessThanOrEqual(lines.length);
        expect(column).toBeLessThanOrEqual((lines[line - 1]?.length ?? 0) + 1);
      }),
      { numRuns: 2000 },
    );
  });
});
