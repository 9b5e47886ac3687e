import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkMachineName, isValidMachineName, smolvmHome } from '../../src/state/index.js';

describe('smolvmHome', () => {
  it.each([
    [{ SMOLVM_HOME: '/srv/smolvm', XDG_DATA_HOME: '/xdg', HOME: '/home/u' }, '/srv/smolvm'],
    [{ SMOLVM_HOME: 'rel/dir', HOME: '/home/u' }, resolve('rel/dir')],
    [{ XDG_DATA_HOME: '/xdg', HOME: '/home/u' }, '/xdg/smolvm'],
    [{ XDG_DATA_HOME: 'not/absolute', HOME: '/home/u' }, '/home/u/.local/share/smolvm'],
    [{ SMOLVM_HOME: '', XDG_DATA_HOME: '', HOME: '/home/u' }, '/home/u/.local/share/smolvm'],
    [{ HOME: '/home/u' }, '/home/u/.local/share/smolvm'],
  ])('%j -> %s', (env, expected) => {
    expect(smolvmHome(env)).toBe(expected);
  });
});

describe('machine names', () => {
  it.each(['a', '0', 'dev', 'web-1', 'build.cache', 'a_b', 'x'.repeat(63), '9lives', 'a..b', 'a-'])('accepts %j', (name) => {
    expect(checkMachineName(name)).toBe(name);
    expect(isValidMachineName(name)).toBe(true);
  });

  it.each(['', 'A', 'Dev', '-a', '.a', '_a', '..', 'a b', 'a/b', '../x', 'x'.repeat(64), 'café', 'a\n', 'a:b', 'a@b'])(
    'refuses %j and says the rule',
    (name) => {
      expect(isValidMachineName(name)).toBe(false);
      let error: unknown;
      try {
        checkMachineName(name);
      } catch (e) {
        error = e;
      }
      expect(error).toMatchObject({
        code: 'SMOLVM_ERR_INVALID_MACHINE_NAME',
        message: `invalid machine name ${JSON.stringify(name)}: a name is 1 to 63 characters: lowercase letters, digits, '_', '.' and '-', starting with a letter or digit`,
        hint: expect.stringContaining('For example'),
      });
    },
  );

  it('refuses a name that is not a string', () => {
    expect(() => checkMachineName(42)).toThrow(/invalid machine name 42/);
  });
});
