// Connects a guest process to this terminal: stdio streams with backpressure, raw mode and window size
// for -t (always restored), and signals forwarded to the guest process.
import { formatDuration, type GuestProcess, type Machine } from '@smolvm/core';
import type { Io } from './program.js';

export interface AttachFlags {
  env?: string[];
  workdir?: string;
  user?: string;
  interactive?: boolean;
  tty?: boolean;
  timeoutMs?: number;
}

type TtyIn = NodeJS.ReadStream & { isTTY?: boolean; setRawMode?: (raw: boolean) => unknown };
type TtyOut = NodeJS.WritableStream & { isTTY?: boolean; rows?: number; columns?: number };

export async function attachProcess(io: Io, machine: Machine, cmd: string[], flags: AttachFlags): Promise<GuestProcess> {
  const stdin = (io.stdin ?? process.stdin) as TtyIn;
  const stdout = io.stdout as TtyOut;
  const tty = flags.tty ? { rows: stdout.rows ?? 24, cols: stdout.columns ?? 80 } : undefined;
  const proc = await machine.spawn(cmd, {
    ...(flags.env ? { env: flags.env } : {}),
    ...(flags.workdir !== undefined ? { cwd: flags.workdir } : {}),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(tty ? { tty } : {}),
    ...(flags.timeoutMs !== undefined ? { timeoutMs: flags.timeoutMs } : {}),
    stdin: flags.interactive ?? false,
  });

  // Output: pipe() applies backpressure, so the guest only sends as fast as our stdout drains.
  proc.stdout.pipe(io.stdout, { end: false });
  proc.stderr.pipe(io.stderr, { end: false });

  const restore: Array<() => void> = [];
  if (flags.interactive) {
    if (tty && stdin.isTTY && stdin.setRawMode) {
      stdin.setRawMode(true);
      const unraw = (): void => void stdin.setRawMode?.(false);
      // Restored on every path out, including an exception or process.exit.
      process.once('exit', unraw);
      restore.push(() => {
        unraw();
        process.removeListener('exit', unraw);
      });
    }
    stdin.pipe(proc.stdin);
    restore.push(() => {
      stdin.unpipe(proc.stdin);
      stdin.pause();
    });
  }
  if (tty && (stdout as { on?: unknown }).on && stdout.isTTY) {
    const onResize = (): void => proc.resize(stdout.rows ?? 24, stdout.columns ?? 80);
    (stdout as NodeJS.WriteStream).on('resize', onResize);
    restore.push(() => (stdout as NodeJS.WriteStream).removeListener('resize', onResize));
  }
  const forward = (sig: NodeJS.Signals) => (): void => proc.kill(sig);
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const) {
    const h = forward(sig);
    process.on(sig, h);
    restore.push(() => process.removeListener(sig, h));
  }
  const waitDrained = (s: NodeJS.ReadableStream): Promise<void> =>
    new Promise((resolve) => {
      s.once('end', resolve);
      s.once('error', () => resolve());
      s.once('close', resolve);
    });
  const drained = Promise.all([waitDrained(proc.stdout), waitDrained(proc.stderr)]);
  void proc.exited
    .then(() => drained)
    .catch(() => {})
    .finally(() => {
      for (const r of restore.reverse()) r();
    });
  // Callers await `exited`; make it also wait until output has been handed to our streams.
  return Object.assign(proc, { exited: proc.exited.then(async (x) => (await drained, x)) });
}

/**
 * Runs `cmd` attached to this terminal and returns the CLI's exit code: the workload's own, or 124 (with a
 * message) when `timeoutMs` ran out.
 */
export async function runAttached(io: Io, machine: Machine, cmd: string[], flags: AttachFlags): Promise<number> {
  const proc = await attachProcess(io, machine, cmd, flags);
  const exit = await proc.exited;
  if (exit.timedOut) {
    io.stderr.write(`smolvm: the command ran past its ${formatDuration(flags.timeoutMs!)} timeout and was killed\n`);
    return 124;
  }
  return exit.exitCode;
}
