import { Machine } from '@smolvm/core';
import { attachProcess, runAttached } from '../../attach.js';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';
import { parseTimeout } from './run.js';

export interface ExecFlags {
  env?: string[];
  workdir?: string;
  user?: string;
  interactive?: boolean;
  tty?: boolean;
  timeout?: string;
}

export async function machineExec(io: Io, name: string, cmd: string[], flags: ExecFlags): Promise<number> {
  if (cmd.length === 0) throw new UsageError('missing the command to run', `Put it after --, e.g.: smolvm machine exec ${name} -- uname -a`);
  const timeoutMs = parseTimeout(flags.timeout);
  await using m = await Machine.get(name, { hostEnv: io.env });
  return await runAttached(io, m, cmd, { ...flags, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
}

export async function machineShell(io: Io, name: string | undefined, flags: { user?: string }): Promise<number> {
  await using m = await Machine.get(name ?? 'default', { hostEnv: io.env });
  const info = await m.inspect();
  if (info.state !== 'running') {
    io.stderr.write(`smolvm: starting ${info.name}\n`);
    await m.start();
  }
  const stdin = (io.stdin ?? process.stdin) as { isTTY?: boolean };
  const proc = await attachProcess(io, m, ['/bin/sh', '-l'], { interactive: true, tty: stdin.isTTY === true, ...(flags.user ? { user: flags.user } : {}) });
  return (await proc.exited).exitCode;
}
