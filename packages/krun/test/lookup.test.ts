import { describe, expect, it } from 'vitest';
import { defaultLibkrunCandidates, libkrunInstallHint } from '../src/lookup.js';

describe('defaultLibkrunCandidates', () => {
  it('tries the Linux sonames first, then distribution and Homebrew paths', () => {
    const list = defaultLibkrunCandidates({ platform: 'linux', arch: 'x64', env: {} });
    expect(list.slice(0, 2)).toEqual(['libkrun.so.1', 'libkrun.so']);
    expect(list).toContain('/usr/lib64/libkrun.so.1');
    expect(list).toContain('/usr/lib/x86_64-linux-gnu/libkrun.so.1');
    expect(list).toContain('/usr/local/lib/libkrun.so');
    expect(list.indexOf('/usr/lib64/libkrun.so.1')).toBeLessThan(list.indexOf('/usr/local/lib/libkrun.so.1'));
    expect(list.every((c) => !c.endsWith('.dylib'))).toBe(true);
    expect(new Set(list).size).toBe(list.length);
  });

  it('uses the multiarch directory of the host architecture', () => {
    expect(defaultLibkrunCandidates({ platform: 'linux', arch: 'arm64', env: {} })).toContain(
      '/usr/lib/aarch64-linux-gnu/libkrun.so.1',
    );
  });

  it('tries the macOS names, HOMEBREW_PREFIX first, then the Homebrew prefixes', () => {
    const list = defaultLibkrunCandidates({ platform: 'darwin', arch: 'arm64', env: { HOMEBREW_PREFIX: '/opt/brew' } });
    expect(list.slice(0, 3)).toEqual(['libkrun.1.dylib', 'libkrun.dylib', '/opt/brew/lib/libkrun.1.dylib']);
    expect(list).toContain('/opt/homebrew/lib/libkrun.1.dylib');
    expect(list).toContain('/opt/homebrew/opt/libkrun/lib/libkrun.1.dylib');
    expect(list).toContain('/usr/local/lib/libkrun.dylib');
    expect(list.every((c) => !c.includes('.so'))).toBe(true);
  });
});

describe('libkrunInstallHint', () => {
  it('names the packages for Fedora, Arch and Homebrew on Linux', () => {
    const hint = libkrunInstallHint('linux');
    expect(hint).toMatch(/Fedora: sudo dnf install libkrun libkrunfw/);
    expect(hint).toMatch(/Arch Linux: sudo pacman -S libkrun libkrunfw/);
    expect(hint).toMatch(/brew install libkrun/);
  });

  it('mentions the hypervisor entitlement on macOS', () => {
    expect(libkrunInstallHint('darwin')).toContain('com.apple.security.hypervisor');
  });
});
