import { CommanderError } from 'commander';
import { createProgram, type Io, type ProgramResult } from './program.js';
import { UsageError } from './usage-error.js';

/**
 * The CLI's single exit path: runs the command, prints errors as message + hint (a stack trace only for
 * internal errors, and only with --debug), and returns the exit code.
 */
export async function main(argv: string[], io: Io): Promise<number> {
  const result: ProgramResult = {};
  const program = createProgram(io, result);
  const debug = argv.includes('--debug');
  try {
    await program.parseAsync(argv, { from: 'user' });
    return result.exitCode ?? 0;
  } catch (e) {
    if (e instanceof CommanderError) {
      // --help and --version end here with code 0; any other commander error is a usage error.
      return e.exitCode === 0 ? 0 : 2;
    }
    if (e instanceof UsageError) {
      io.stderr.write(`smolvm: ${e.message}\n`);
      if (e.hint) io.stderr.write(`hint: ${e.hint}\n`);
      return 2;
    }
    const err = e as Error & { code?: string; hint?: string };
    const coded = typeof err.code === 'string' && err.code.startsWith('SMOLVM_ERR_');
    io.stderr.write(`smolvm: ${coded ? err.message : `internal error: ${err.message}`}\n`);
    if (err.hint) io.stderr.write(`${err.hint.startsWith('Guest console') ? '' : 'hint: '}${err.hint}\n`);
    if (!coded) io.stderr.write(debug ? `${err.stack}\n` : 'Run again with --debug for the stack trace, and please report it.\n');
    // A bad option value is a usage error even when the library is the one that noticed it.
    return err.code === 'SMOLVM_ERR_INVALID_OPTION' ? 2 : 1;
  }
}
