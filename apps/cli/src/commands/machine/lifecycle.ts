import { Machine, parseDuration } from '@smolvm/core';
import type { Io } from '../../program.js';
import { UsageError } from '../../usage-error.js';

const DEFAULT = 'default';

export async function start(io: Io, name: string | undefined): Promise<number> {
  const m = await Machine.get(name ?? DEFAULT, { hostEnv: io.env });
  await m.start();
  io.stdout.write(`${m.name}\n`);
  return 0;
}

export async function stop(io: Io, name: string | undefined, flags: { timeout?: string }): Promise<number> {
  let timeoutMs: number | undefined;
  if (flags.timeout !== undefined) {
    try {
      timeoutMs = parseDuration(/^\d+$/.test(flags.timeout) ? `${flags.timeout}s` : flags.timeout);
    } catch {
      throw new UsageError(`--timeout ${flags.timeout} is not a duration`, 'Use a duration such as 10s or 1m.');
    }
  }
  const m = await Machine.get(name ?? DEFAULT, { hostEnv: io.env });
  const info = await m.inspect();
  if (info.state !== 'running' && info.state !== 'starting' && info.state !== 'stopping') {
    io.stderr.write(`smolvm: machine ${info.name} is already ${info.state}\n`);
    return 0;
  }
  await m.stop(timeoutMs !== undefined ? { timeoutMs } : {});
  io.stdout.write(`${m.name}\n`);
  return 0;
}

export async function restart(io: Io, name: string | undefined): Promise<number> {
  const m = await Machine.get(name ?? DEFAULT, { hostEnv: io.env });
  await m.restart();
  io.stdout.write(`${m.name}\n`);
  return 0;
}

export async function rm(io: Io, names: string[], flags: { force?: boolean }): Promise<number> {
  for (const name of names) {
    const m = await Machine.get(name, { hostEnv: io.env });
    await m.remove({ force: flags.force ?? false });
    io.stdout.write(`${name}\n`);
  }
  return 0;
}
