import { lstatSync, mkdirSync } from 'node:fs';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { ErrorCode, SmolvmError } from '../errors.js';

/**
 * Where a running machine's sockets live. Unix socket paths are limited to ~104 bytes, so they cannot sit
 * in a deep data directory: `$XDG_RUNTIME_DIR/smolvm/<id>` or `<tmp>/smolvm-<uid>/<id>`, both 0700 and
 * checked to belong to this user (another user must not be able to pre-create them).
 */
export function runtimeDir(machineId: string, env: NodeJS.ProcessEnv = process.env): string {
  const base = env.XDG_RUNTIME_DIR ? join(env.XDG_RUNTIME_DIR, 'smolvm') : join(tmpdir(), `smolvm-${userInfo().uid}`);
  return join(base, machineId.slice(0, 12));
}

export function ensurePrivateDir(path: string): void {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const st = lstatSync(path);
  const uid = userInfo().uid;
  if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o077) !== 0) {
    throw new SmolvmError(ErrorCode.UNSUPPORTED_HOST, `${path} is not a private directory of this user`, {
      hint: 'Remove it (it may have been created by another user) and try again.',
    });
  }
}

export const SOCKET_NAMES = { agent: 'agent.sock', client: 'machine.sock', control: 'control.sock' } as const;
export const FILE_NAMES = { disk: 'disk.ext4', console: 'console.log', supervisorLog: 'supervisor.log' } as const;
