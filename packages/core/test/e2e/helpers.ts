import { execFileSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';

/** QEMU processes started by smolvm (their command line names our agent port). */
export function smolvmQemuPids(): number[] {
  let out = '';
  try {
    out = execFileSync('pgrep', ['-f', 'name=smolvm.agent'], { encoding: 'utf8' });
  } catch {
    return [];
  }
  return out.split('\n').filter(Boolean).map(Number);
}

/** smolvm's temporary VM directories in the temp dir. */
export function smolvmTempDirs(): string[] {
  return readdirSync(tmpdir()).filter((n) => /^smolvm-[A-Za-z0-9]{6}$/.test(n));
}
