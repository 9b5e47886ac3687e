// `smolvm smolfile check [PATH]`: every problem of a Smolfile as file:line:col, exit 1 when there is any.
import { checkSmolfileFile, formatSmolfileProblem, SMOLFILE_NAME } from '@smolvm/core';
import type { Io } from '../../program.js';

export async function smolfileCheck(io: Io, path: string | undefined, flags: { json?: boolean }): Promise<number> {
  const report = await checkSmolfileFile(path ?? SMOLFILE_NAME, { cwd: io.cwd });
  if (flags.json) {
    io.stdout.write(`${JSON.stringify({ file: report.displayPath, path: report.path, ok: report.ok, problems: report.problems }, null, 2)}\n`);
  } else if (report.ok) {
    io.stdout.write(`${report.displayPath}: ok\n`);
  } else {
    for (const problem of report.problems) io.stdout.write(`${formatSmolfileProblem(problem, report.displayPath)}\n`);
    const n = report.problems.length;
    io.stdout.write(`${report.displayPath}: ${n} ${n === 1 ? 'problem' : 'problems'}\n`);
  }
  return report.ok ? 0 : 1;
}
