import { Machine } from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';

export interface MachineRunFlags {
  cpus?: number;
  mem?: number;
  env?: string[];
  workdir?: string;
}

/** Writes to a host stream, resolving only once it has drained, so a slow reader slows the guest instead of growing a buffer. */
function sink(stream: NodeJS.WritableStream) {
  return (chunk: Buffer): void | Promise<void> => {
    if (stream.write(chunk)) return;
    return new Promise((resolve) => stream.once('drain', () => resolve()));
  };
}

export async function machineRun(io: Io, cmd: string[], flags: MachineRunFlags): Promise<number> {
  if (cmd.length === 0) {
    throw new UsageError('missing the command to run', 'Put it after --, e.g.: smolvm machine run -- uname -a');
  }
  const abort = new AbortController();
  const onSignal = (): void => abort.abort(new Error('interrupted'));
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const result = await Machine.run({
      cmd,
      ...(flags.cpus !== undefined ? { cpus: flags.cpus } : {}),
      ...(flags.mem !== undefined ? { memoryMiB: flags.mem } : {}),
      ...(flags.env ? { env: flags.env } : {}),
      ...(flags.workdir !== undefined ? { cwd: flags.workdir } : {}),
      collectOutput: false,
      hostEnv: io.env,
      onStdout: sink(io.stdout),
      onStderr: sink(io.stderr),
      onNotice: io.env.SMOLVM_QUIET ? undefined : (m) => void io.stderr.write(`${m}\n`),
      signal: abort.signal,
    });
    return result.exitCode;
  } catch (e) {
    if (abort.signal.aborted) return 130;
    throw e;
  } finally {
    process.removeListener('SIGINT', onSignal);
    process.removeListener('SIGTERM', onSignal);
  }
}
