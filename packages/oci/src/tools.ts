// Runs e2fsprogs tools with bounded output and a timeout. debugfs reports most command failures on
// stderr while exiting 0, so stderr lines other than its banner count as failures.
import { spawn } from 'node:child_process';
import { OciError } from './errors.js';

export interface RunToolOptions {
  input?: string;
  timeoutMs?: number;
  /** Treat any stderr line that is not the version banner as a failure (debugfs). */
  strictStderr?: boolean;
  env?: NodeJS.ProcessEnv;
}

const MAX_CAPTURE = 64 << 10;

export function toolPath(name: 'mke2fs' | 'debugfs', env: NodeJS.ProcessEnv = process.env): string {
  return (name === 'mke2fs' ? env.SMOLVM_MKE2FS : env.SMOLVM_DEBUGFS) ?? name;
}

export function runTool(cmd: string, args: string[], opts: RunToolOptions = {}): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'ignore', 'pipe'], env: opts.env ?? process.env });
    let err = '';
    let settled = false;
    const finish = (e?: Error): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (e) reject(e);
      else resolve();
    };
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      finish(new OciError('SMOLVM_ERR_OCI_TIMEOUT', `${cmd} did not finish within ${opts.timeoutMs} ms`, {
        hint: 'The image may be very large or the disk very slow; the half-built disk was removed.',
      }));
    }, opts.timeoutMs ?? 600_000);
    child.stderr.on('data', (d: Buffer) => {
      if (err.length < MAX_CAPTURE) err += d.toString();
    });
    child.on('error', (e) => {
      finish(new OciError('SMOLVM_ERR_OCI_TOOL_MISSING', `could not run ${cmd}: ${e.message}`, {
        hint: 'Install e2fsprogs (Debian/Ubuntu: apt-get install e2fsprogs; Fedora: dnf install e2fsprogs; macOS: brew install e2fsprogs), or set SMOLVM_MKE2FS / SMOLVM_DEBUGFS.',
        cause: e,
      }));
    });
    child.on('close', (code, signal) => {
      const problems = err
        .split('\n')
        .map((l) => l.trim())
        .filter((l) => l !== '' && !/^debugfs \d/.test(l) && !/^mke2fs \d/.test(l));
      if (code !== 0 || (opts.strictStderr && problems.length > 0)) {
        finish(new OciError('SMOLVM_ERR_OCI_TOOL_FAILED', `${cmd} failed (${signal ? `signal ${signal}` : `exit ${code}`}): ${problems.slice(0, 5).join('; ').slice(0, 2000)}`, {
          hint: 'This is a bug in smolvm or a broken e2fsprogs install; the half-built disk was removed.',
        }));
      } else {
        finish();
      }
    });
    child.stdin.on('error', () => {
      /* reported through 'close' */
    });
    child.stdin.end(opts.input ?? '');
  });
}
