import { describe, expect, it } from 'vitest';
import { parseSmolfile, resolveSecrets, SmolfileError, type SecretSource } from '../src/index.js';

const SECRET = 'hunter2-do-not-print';

async function rejected(promise: Promise<unknown>): Promise<SmolfileError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SmolfileError) return error;
    throw error;
  }
  throw new Error('expected a SmolfileError');
}

describe('resolveSecrets', () => {
  const files: Record<string, string | Uint8Array> = {
    '/run/secrets/db': `${SECRET}\n`,
    '/run/secrets/crlf': `${SECRET}\r\n`,
    '/run/secrets/two-newlines': `${SECRET}\n\n`,
    '/run/secrets/bytes': new TextEncoder().encode(SECRET),
  };
  const readFile = async (path: string): Promise<string | Uint8Array> => {
    const content = files[path];
    if (content === undefined) throw Object.assign(new Error(`ENOENT: no such file, open '${path}'`), { code: 'ENOENT' });
    return content;
  };

  it('reads secrets from the environment and from files, dropping one trailing newline', async () => {
    const smolfile = parseSmolfile(
      [
        '[secrets]',
        'A = { from_env = "VAR_A" }',
        'B = { from_file = "/run/secrets/db" }',
        'C = { from_file = "/run/secrets/crlf" }',
        'D = { from_file = "/run/secrets/two-newlines" }',
        'E = { from_file = "/run/secrets/bytes" }',
        'F = { from_env = "EMPTY" }',
      ].join('\n'),
    );
    const values = await resolveSecrets(smolfile.secrets ?? {}, { env: { VAR_A: SECRET, EMPTY: '' }, readFile });
    expect(values).toEqual({ A: SECRET, B: SECRET, C: SECRET, D: `${SECRET}\n`, E: SECRET, F: '' });
  });

  it('names every secret it could not resolve, never a value', async () => {
    const secrets: Record<string, SecretSource> = {
      MISSING_ENV: { from: 'env', variable: 'NOT_SET' },
      MISSING_FILE: { from: 'file', path: '/run/secrets/none' },
      NUL_ENV: { from: 'env', variable: 'HAS_NUL' },
      BIG: { from: 'file', path: '/big' },
      BINARY: { from: 'file', path: '/binary' },
      FINE: { from: 'env', variable: 'FINE' },
    };
    files['/big'] = SECRET.repeat(5000);
    files['/binary'] = new Uint8Array([0xff, 0xfe, 0x00]);
    const error = await rejected(
      resolveSecrets(secrets, { env: { HAS_NUL: `${SECRET}\0`, FINE: SECRET }, readFile }),
    );
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_SECRETS_UNRESOLVED');
    expect(error.problems.map((problem) => [problem.path, problem.message, problem.hint])).toEqual([
      ['secrets.MISSING_ENV', 'secret MISSING_ENV: environment variable NOT_SET is not set', 'export NOT_SET before starting the machine'],
      ['secrets.MISSING_FILE', 'secret MISSING_FILE: cannot read /run/secrets/none (ENOENT)', 'create the file, or point from_file at the right path'],
      ['secrets.NUL_ENV', 'secret NUL_ENV: environment variable HAS_NUL contains a NUL character', undefined],
      ['secrets.BIG', 'secret BIG: /big is 100000 bytes; a secret may be at most 65536 bytes', undefined],
      ['secrets.BINARY', 'secret BINARY: /binary is not UTF-8 text', 'store binary secrets base64-encoded'],
    ]);
    expect(error.message.split('\n')[0]).toBe('5 secrets could not be resolved:');
    expect(JSON.stringify({ message: error.message, problems: error.problems, hint: error.hint })).not.toContain('hunter2');
  });

  it('reports a NUL in a secret file', async () => {
    const error = await rejected(
      resolveSecrets({ X: { from: 'file', path: '/nul' } }, { env: {}, readFile: () => 'a\0b' }),
    );
    expect(error.problems[0]?.message).toBe('secret X: /nul contains a NUL character');
    expect(error.message.split('\n')[0]).toBe('1 secret could not be resolved:');
  });

  it('treats a synchronous throw from readFile like a failed read', async () => {
    const error = await rejected(
      resolveSecrets({ X: { from: 'file', path: '/x' } }, {
        env: {},
        readFile: () => {
          throw new Error('boom');
        },
      }),
    );
    expect(error.problems[0]?.message).toBe('secret X: cannot read /x (an error)');
  });

  it('returns an empty record for no secrets', async () => {
    expect(await resolveSecrets({}, { env: {}, readFile: () => '' })).toEqual({});
  });
});
