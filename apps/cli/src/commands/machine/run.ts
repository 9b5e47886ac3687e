import { Machine, formatDuration, normalizeEnv, parseDuration } from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';
import { attachProcess } from '../../attach.js';

export interface MachineRunFlags {
  cpus?: number;
  mem?: number;
  env?: string[];
  workdir?: string;
  user?: string;
  interactive?: boolean;
  tty?: boolean;
  timeout?: string;
}

export function parseTimeout(text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const plain = /^\d+$/.test(text) ? `${text}s` : text;
  try {
    const ms = parseDuration(plain);
    if (ms <= 0) throw new Error('zero');
    return ms;
  } catch {
    throw new UsageError(`--timeout ${text} is not a duration`, 'Use a duration such as 30s, 5m or 1h (a bare number means seconds).');
  }
}

export async function machineRun(io: Io, cmd: string[], flags: MachineRunFlags): Promise<number> {
  if (cmd.length === 0) {
    throw new UsageError('missing the command to run', 'Put it after --, e.g.: smolvm machine run -- uname -a');
  }
  const timeoutMs = parseTimeout(flags.timeout);
  normalizeEnv(flags.env ?? []); // bad -e entries are refused before anything boots
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  let machine: Machine | undefined;
  try {
    machine = await Machine.boot({
      ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
      ...(flags.mem !== undefined ? { memoryMiB: flags.mem } : {}),
      hostEnv: io.env,
      signal: abort.signal,
      ...(io.env.SMOLVM_QUIET ? {} : { onNotice: (m: string) => void io.stderr.write(`${m}\n`) }),
    });
  } catch (e) {
    if (abort.signal.aborted) return 130;
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
  try {
    if (abort.signal.aborted) return 130;
    const proc = await attachProcess(io, machine, cmd, { ...flags, ...(timeoutMs !== undefined ? { timeoutMs } : {}) });
    const exit = await proc.exited;
    if (exit.timedOut) {
      io.stderr.write(`smolvm: the command ran past its ${formatDuration(timeoutMs!)} timeout and was killed\n`);
      return 124;
    }
    return exit.exitCode;
  } finally {
    await machine.stop();
  }
}
