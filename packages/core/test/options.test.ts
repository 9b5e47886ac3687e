import { describe, expect, it } from 'vitest';
import { checkCpus, checkMemory, mergeEnv, normalizeEnv } from '../src/options.js';

describe('resource options', () => {
  it.each([0, -1, 1.5, 65, 999, Number.NaN])('refuses cpus=%s with the accepted range', (n) => {
    expect(() => checkCpus(n)).toThrow(/cpus must be a whole number from 1 to 64/);
  });
  it('accepts a sane cpu count and defaults to 1', () => {
    expect(checkCpus(2)).toBe(2);
    expect(checkCpus(undefined)).toBe(1);
  });
  it.each([0, 63, 1.5, 10 ** 9])('refuses memory=%s', (n) => {
    expect(() => checkMemory(n)).toThrow(/memory must be a whole number of MiB from 64 to \d+/);
  });
  it('defaults memory to 512 MiB', () => {
    expect(checkMemory(undefined)).toBe(512);
  });
});

describe('environment', () => {
  it('accepts maps and K=V lists, later entries win', () => {
    expect(normalizeEnv(['A=1', 'B=x=y', 'A=2'])).toEqual(['A=2', 'B=x=y']);
    expect(normalizeEnv({ FOO: 'bar' })).toEqual(['FOO=bar']);
  });
  it.each(['NOEQUALS', '=x', '1A=b', 'A-B=c'])('refuses %s', (e) => {
    expect(() => normalizeEnv([e])).toThrow(/not KEY=VALUE|not valid/);
  });
  it('layers environments', () => {
    expect(mergeEnv(['PATH=/bin', 'HOME=/root'], ['HOME=/home/x'])).toEqual(['PATH=/bin', 'HOME=/home/x']);
  });
});
