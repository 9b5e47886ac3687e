// The command tree. Only commander is imported here: every handler (and with it @smolvm/core) is loaded
// lazily when its command runs, so `smolvm --version` and `--help` stay fast.
import { createRequire } from 'node:module';
import { Command, InvalidArgumentError, Option } from 'commander';

export interface Io {
  /** Defaults to process.stdin (used by -i). */
  stdin?: NodeJS.ReadableStream & { isTTY?: boolean };
  stdout: NodeJS.WritableStream & { isTTY?: boolean };
  stderr: NodeJS.WritableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
  cwd: string;
}

export interface ProgramResult {
  /** Set by a handler to the process exit code it wants (the workload's, for run/exec). */
  exitCode?: number;
}

const collect = (value: string, previous: string[] = []): string[] => [...previous, value];

function positiveInt(name: string) {
  return (v: string): number => {
    if (!/^\d+$/.test(v)) throw new InvalidArgumentError(`${name} must be a whole number, got "${v}"`);
    return Number(v);
  };
}

export function version(): string {
  return (createRequire(import.meta.url)('../package.json') as { version: string }).version;
}

export function createProgram(io: Io, result: ProgramResult = {}): Command {
  const program = new Command('smolvm')
    .description('Run Linux workloads in hardware-isolated microVMs.')
    .version(version(), '-V, --version')
    .option('--debug', 'print stack traces for internal errors')
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
    })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  const machine = program.command('machine').description('run and manage microVMs');
  machine
    .command('run')
    .description('boot a fresh microVM, run one command in it, and throw the VM away')
    .usage('[options] -- CMD [ARGS...]')
    .option('--cpus <n>', 'virtual CPUs', positiveInt('--cpus'))
    .addOption(new Option('--mem <MiB>', 'memory in MiB').argParser(positiveInt('--mem')))
    .option('-e, --env <K=V>', 'set an environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory in the guest')
    .option('-u, --user <user>', 'run as UID[:GID] or a user name from the image')
    .option('-i, --interactive', 'stream stdin to the command')
    .option('-t, --tty', 'allocate a pseudo-terminal (use -it for a shell)')
    .option('--timeout <duration>', 'kill the command after this long (e.g. 30s, 5m)')
    .argument('[cmd...]', 'command and arguments, after --')
    .action(async (cmd: string[], opts: import('./commands/machine/run.js').MachineRunFlags) => {
      const { machineRun } = await import('./commands/machine/run.js');
      result.exitCode = await machineRun(io, cmd, opts);
    });

  program
    .command('doctor')
    .description('check this host: engine, accelerator, QEMU, kernel, agent')
    .option('--json', 'machine-readable output')
    .action(async (opts: { json?: boolean }) => {
      const { doctorCommand } = await import('./commands/doctor.js');
      result.exitCode = await doctorCommand(io, opts);
    });

  return program;
}
