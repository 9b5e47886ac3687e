import { constants as osConstants } from 'node:os';
import { describe, expect, it } from 'vitest';
import { callFailed, errnoName, isKrunError, isSmolvmError, KrunError } from '../src/errors.js';

describe('errnoName', () => {
  it('names every errno of this host from os.constants.errno, negative or not', () => {
    for (const value of Object.values(osConstants.errno)) {
      const found = errnoName(-value);
      expect(found).toBeDefined();
      // Aliases share a number (EAGAIN/EWOULDBLOCK): the found name has the same value.
      expect(osConstants.errno[found as keyof typeof osConstants.errno]).toBe(value);
      expect(errnoName(value)).toBe(found);
    }
  });

  it('prefers the names libkrun documents where two share a number', () => {
    expect(errnoName(osConstants.errno.ENOTSUP)).toBe('ENOTSUP');
    expect(errnoName(osConstants.errno.EAGAIN)).toBe('EAGAIN');
  });

  it('returns undefined for an unknown number', () => {
    expect(errnoName(100_000)).toBeUndefined();
  });
});

describe('callFailed', () => {
  it('builds a coded error with fn, errno, name and description', () => {
    const err = callFailed('krun_add_vsock_port2', -osConstants.errno.EEXIST, '/lib/libkrun.so.1');
    expect(err).toMatchObject({
      code: 'SMOLVM_ERR_KRUN_CALL_FAILED',
      fn: 'krun_add_vsock_port2',
      errno: osConstants.errno.EEXIST,
      errnoName: 'EEXIST',
      libraryPath: '/lib/libkrun.so.1',
    });
    expect(err.message).toMatch(/^krun_add_vsock_port2 failed with EEXIST \(-\d+\): \S/);
    expect(err.hint).toContain('must not exist');
  });

  it('still reports an errno number this host cannot name', () => {
    const err = callFailed('krun_set_root', -100_000);
    expect(err.errnoName).toBeUndefined();
    expect(err.message).toContain('error -100000');
  });
});

describe('isSmolvmError', () => {
  it('checks the code, not the class', () => {
    expect(isSmolvmError(new KrunError('SMOLVM_ERR_KRUN_INTERNAL', 'x'))).toBe(true);
    expect(isSmolvmError(Object.assign(new Error('x'), { code: 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY' }))).toBe(true);
    expect(isSmolvmError({ code: 'SMOLVM_ERR_X', message: 'plain object from another realm' })).toBe(true);
    expect(isSmolvmError(Object.assign(new Error('x'), { code: 'ENOENT' }))).toBe(false);
    expect(isSmolvmError(null)).toBe(false);
    expect(isKrunError(Object.assign(new Error('x'), { code: 'SMOLVM_ERR_SMOLFILE_UNKNOWN_KEY' }))).toBe(false);
  });

  it('serialises to the JSON the runner writes', () => {
    const cause = new Error('inner');
    const err = new KrunError('SMOLVM_ERR_KRUN_CALL_FAILED', 'm', { fn: 'krun_set_exec', errno: 2, errnoName: 'ENOENT', cause });
    expect(err.cause).toBe(cause);
    expect(JSON.parse(JSON.stringify(err))).toEqual({
      code: 'SMOLVM_ERR_KRUN_CALL_FAILED',
      message: 'm',
      errno: 2,
      errnoName: 'ENOENT',
      fn: 'krun_set_exec',
    });
  });
});
