import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { chooseAccelerator, findQemu } from '../src/host.js';

// A fake root per test: /dev/kvm, /sys/module/kvm_pvm and /proc/cpuinfo are plain files there.
const roots: string[] = [];
function fakeRoot(files: Record<string, string>): string {
  const root = mkdtempSync(join(tmpdir(), 'smolvm-host-'));
  roots.push(root);
  for (const [p, content] of Object.entries(files)) {
    mkdirSync(join(root, p, '..'), { recursive: true });
    writeFileSync(join(root, p), content);
  }
  return root;
}
afterEach(() => {
  for (const r of roots.splice(0)) rmSync(r, { recursive: true, force: true });
});

describe.runIf(process.platform === 'linux')('chooseAccelerator', () => {
  it('uses kvm when /dev/kvm is usable and the CPU has vmx', () => {
    const root = fakeRoot({ 'dev/kvm': '', 'proc/cpuinfo': 'flags\t\t: fpu vmx sse\n' });
    expect(chooseAccelerator({}, root).accel).toBe('kvm');
  });

  it('falls back to tcg without /dev/kvm and says why', () => {
    const c = chooseAccelerator({}, fakeRoot({}));
    expect(c).toEqual({ accel: 'tcg', reason: expect.stringMatching(/\/dev\/kvm does not exist/) });
  });

  it('detects a PVM nested hypervisor and refuses it', () => {
    const root = fakeRoot({ 'dev/kvm': '', 'sys/module/kvm_pvm/refcnt': '1', 'proc/cpuinfo': 'flags\t\t: fpu sse\n' });
    const c = chooseAccelerator({}, root);
    expect(c.accel).toBe('tcg');
    expect(c.reason).toMatch(/PVM nested hypervisor/);
  });

  it('refuses kvm when the CPU reports no virtualization extensions', () => {
    const root = fakeRoot({ 'dev/kvm': '', 'proc/cpuinfo': 'flags\t\t: fpu sse\n' });
    expect(chooseAccelerator({}, root).reason).toMatch(/no vmx\/svm/);
  });

  it('honours SMOLVM_ACCEL and rejects nonsense', () => {
    expect(chooseAccelerator({ SMOLVM_ACCEL: 'kvm' }, fakeRoot({}))).toEqual({ accel: 'kvm', reason: 'forced by SMOLVM_ACCEL=kvm' });
    expect(() => chooseAccelerator({ SMOLVM_ACCEL: 'fast' })).toThrow(/not an accelerator/);
  });
});

describe('findQemu', () => {
  it('names the binary and how to install it when QEMU is missing', () => {
    expect(() => findQemu({ PATH: '/nonexistent' })).toThrow(/qemu-system-\w+ was not found on PATH/);
    try {
      findQemu({ PATH: '/nonexistent' });
    } catch (e) {
      expect((e as { hint: string }).hint).toMatch(/Install QEMU/);
      expect((e as { code: string }).code).toBe('SMOLVM_ERR_QEMU_NOT_FOUND');
    }
  });

  it('reports a SMOLVM_QEMU that does not run', () => {
    expect(() => findQemu({ SMOLVM_QEMU: '/bin/false' }, { version: true })).toThrow(/does not run/);
    const notExecutable = join(fakeRoot({ 'qemu': 'not a program' }), 'qemu');
    chmodSync(notExecutable, 0o644);
    expect(() => findQemu({ SMOLVM_QEMU: notExecutable })).toThrow(/not an executable file/);
  });
});
