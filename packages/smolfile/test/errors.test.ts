import { describe, expect, it } from 'vitest';
import { isSmolvmError, SmolfileError } from '../src/index.js';

describe('SmolfileError', () => {
  it('carries its code, hint, problems, file and cause', () => {
    const cause = new Error('underlying');
    const error = new SmolfileError('SMOLVM_ERR_SMOLFILE_READ', 'cannot read x', { hint: 'check x', cause, file: 'x' });
    expect(error).toBeInstanceOf(Error);
    expect(error.name).toBe('SmolfileError');
    expect(error.code).toBe('SMOLVM_ERR_SMOLFILE_READ');
    expect(error.hint).toBe('check x');
    expect(error.cause).toBe(cause);
    expect(error.file).toBe('x');
    expect(error.problems).toEqual([]);
  });

  it('has no cause unless given one', () => {
    expect('cause' in new SmolfileError('SMOLVM_ERR_SMOLFILE_INVALID', 'x')).toBe(false);
  });
});

describe('isSmolvmError', () => {
  it.each([
    [new SmolfileError('SMOLVM_ERR_SMOLFILE_INVALID', 'x'), true],
    [Object.assign(new Error('from another package'), { code: 'SMOLVM_ERR_NETPROXY_CLOSED' }), true],
    [{ code: 'SMOLVM_ERR_X', message: 'plain object' }, true],
    [Object.assign(new Error('node error'), { code: 'ENOENT' }), false],
    [new Error('no code'), false],
    [{ code: 42 }, false],
    ['SMOLVM_ERR_SMOLFILE_INVALID', false],
    [null, false],
    [undefined, false],
  ])('%o -> %s', (value, expected) => {
    expect(isSmolvmError(value)).toBe(expected);
  });
});
