import { doctor } from '@smolvm/core';
import type { Io } from '../program.js';

export async function doctorCommand(io: Io, opts: { json?: boolean }): Promise<number> {
  const report = await doctor(io.env);
  if (opts.json) {
    io.stdout.write(JSON.stringify(report, null, 2) + '\n');
  } else {
    for (const c of report.checks) {
      io.stdout.write(`${c.ok ? 'ok  ' : 'FAIL'} ${c.name.padEnd(14)} ${c.detail}\n`);
      if (!c.ok && c.hint) io.stdout.write(`     ${''.padEnd(14)} hint: ${c.hint}\n`);
    }
  }
  return report.ok ? 0 : 1;
}
