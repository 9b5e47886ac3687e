import { describe, expect, it } from 'vitest';
import { editDistance, suggestKey } from '../src/suggest.js';

const TOP = ['image', 'entrypoint', 'cmd', 'env', 'workdir', 'user', 'cpus', 'memory', 'net', 'ports', 'volumes', 'init', 'storage', 'network', 'auth', 'health', 'restart', 'dev', 'pack', 'secrets'];

describe('suggestKey', () => {
  it.each([
    ['cpu', 'cpus'],
    ['cpsu', 'cpus'],
    ['memroy', 'memory'],
    ['mem', 'memory'],
    ['ram', 'memory'],
    ['port', 'ports'],
    ['volume', 'volumes'],
    ['enviroment', 'env'],
    ['environment', 'env'],
    ['workingdir', 'workdir'],
    ['working-dir', 'workdir'],
    ['MEMORY', 'memory'],
    ['healthcheck', 'health'],
    ['disk', 'storage'],
    ['secret', 'secrets'],
    ['entry_point', 'entrypoint'],
    ['storage_gib', 'storage'],
    ['networking_rules', 'network'],
  ])('%s -> %s', (key, expected) => {
    expect(suggestKey(key, TOP)).toBe(expected);
  });

  it.each(['frobnicate', 'x', 'kernel', 'a'.repeat(100)])('%s -> nothing', (key) => {
    expect(suggestKey(key, TOP)).toBeUndefined();
  });

  it('only suggests keys the table accepts', () => {
    expect(suggestKey('allowed_hosts', ['allow_hosts', 'allow_cidrs'])).toBe('allow_hosts');
    expect(suggestKey('allowed_hosts', TOP)).toBeUndefined();
  });
});

describe('editDistance', () => {
  it.each([
    ['', '', 0],
    ['a', '', 1],
    ['cpus', 'cpus', 0],
    ['cpu', 'cpus', 1],
    ['cpsu', 'cpus', 1],
    ['kitten', 'sitting', 3],
    ['CPUS', 'cpus', 0],
  ])('%s / %s = %d', (a, b, distance) => {
    expect(editDistance(a, b)).toBe(distance);
    expect(editDistance(b, a)).toBe(distance);
  });
});
