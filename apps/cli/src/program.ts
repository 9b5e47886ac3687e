// The command tree. Only commander is imported here: every handler (and with it @smolvm/core) is loaded
// lazily when its command runs, so `smolvm --version` and `--help` stay fast.
import { createRequire } from 'node:module';
import { Command, InvalidArgumentError, Option } from 'commander';
// Types only (erased at run time), so the handlers still load lazily.
import type { MachineRunFlags } from './commands/machine/run.js';
import type { ExecFlags } from './commands/machine/exec.js';
import { addSmolfileOptions } from './commands/smolfile/options.js';

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

// Repeatable options. A `--no-X` given earlier leaves `false` behind: a later `-x` starts the list afresh.
const collect = (value: string, previous: string[] | boolean | undefined): string[] => [...(Array.isArray(previous) ? previous : []), value];

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
    .option('-v, --volume <HOST:GUEST[:ro]>', 'mount a host directory in the machine (repeatable; :ro for read-only)', collect)
    .option('-p, --publish <[ADDR:]HOST:GUEST>', 'publish a guest TCP port on the host (repeatable; host loopback unless ADDR is given)', collect)
    .option('--image <image>', 'boot this image: a reference (alpine:3.20), an archive (- for stdin), an OCI layout or a root filesystem directory')
    .option('--platform <os/arch>', 'platform to pick from a multi-platform image (default: the host\'s)')
    .option('--insecure-registry', 'allow plain http to a registry that is not on loopback')
    .option('--entrypoint <cmd>', 'replace the image\'s Entrypoint (\'\' clears it)')
    .argument('[cmd...]', 'command and arguments, after --')
    .action(async (cmd: string[], opts: MachineRunFlags) => {
      const { machineRun } = await import('./commands/machine/run.js');
      result.exitCode = await machineRun(io, cmd, opts);
    });

  const DEFAULT = 'default';
  const nameArg = '[name]';
  const nameDesc = `machine name (default "${DEFAULT}")`;
  const handler = <A extends unknown[]>(load: () => Promise<(io: Io, ...args: A) => Promise<number>>) =>
    async (...args: A): Promise<void> => {
      const fn = await load();
      result.exitCode = await fn(io, ...args);
    };
  /** Operands before and after `--` (commander merges them; we need them apart for NAME -- CMD). */
  const splitDashDash = (operands: string[]): { before: string[]; after: string[] } => {
    // commander keeps the argv it parsed as `rawArgs` (not in its typings).
    const raw = (program as unknown as { rawArgs?: string[] }).rawArgs ?? [];
    const i = raw.indexOf('--');
    if (i < 0) return { before: operands.slice(0, 1), after: operands.slice(1) };
    const after = raw.length - i - 1;
    return { before: operands.slice(0, operands.length - after), after: operands.slice(operands.length - after) };
  };

  machine
    .command('create')
    .description('create a persistent machine (stopped) with its own writable disk')
    .argument(nameArg, nameDesc)
    .option('--image <ref>', 'OCI image (default: the built-in busybox image)')
    .option('--cpus <n>', 'virtual CPUs', positiveInt('--cpus'))
    .option('--mem <MiB>', 'memory in MiB', positiveInt('--mem'))
    .option('--storage <GiB>', 'size of the writable disk in GiB', positiveInt('--storage'))
    .option('-e, --env <K=V>', 'environment for every command (repeatable)', collect)
    .option('-w, --workdir <dir>', 'default working directory')
    .option('--init <cmd>', 'shell command run at every start (repeatable)', collect)
    .option('--restart <policy>', 'never, on-failure or always')
    .option('-p, --publish <[ADDR:]HOST:GUEST>', 'publish a guest TCP port on the host (repeatable; host loopback unless ADDR is given)', collect)
    .option('-v, --volume <HOST:GUEST[:ro]>', 'mount a host directory at every start (repeatable; :ro for read-only)', collect)
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/machine/create.js')).machineCreate));

  for (const [verb, desc] of [
    ['start', 'start a stopped machine'],
    ['restart', 'stop and start a machine'],
  ] as const) {
    machine
      .command(verb)
      .description(desc)
      .argument(nameArg, nameDesc)
      .action(handler(async () => (await import('./commands/machine/lifecycle.js'))[verb]));
  }
  machine
    .command('stop')
    .description('stop a machine (the guest syncs and powers off; forced after --timeout)')
    .argument(nameArg, nameDesc)
    .option('--timeout <duration>', 'how long to wait for a graceful stop (default 10s)')
    .action(handler(async () => (await import('./commands/machine/lifecycle.js')).stop));

  machine
    .command('exec')
    .description('run a command in a running machine')
    .usage('[options] [name] -- CMD [ARGS...]')
    .option('-e, --env <K=V>', 'set an environment variable (repeatable)', collect)
    .option('-w, --workdir <dir>', 'working directory in the guest')
    .option('-u, --user <user>', 'run as UID[:GID] or a user name from the image')
    .option('-i, --interactive', 'stream stdin to the command')
    .option('-t, --tty', 'allocate a pseudo-terminal')
    .option('--timeout <duration>', 'kill the command after this long')
    .argument('[args...]', 'machine name, then -- and the command')
    .action(async (args: string[], opts: ExecFlags) => {
      const { before, after } = splitDashDash(args);
      const { machineExec } = await import('./commands/machine/exec.js');
      result.exitCode = await machineExec(io, before[0] ?? DEFAULT, after, opts);
    });
  machine
    .command('shell')
    .description('open a shell in a machine (starting it if it is stopped)')
    .argument(nameArg, nameDesc)
    .option('-u, --user <user>', 'run as UID[:GID] or a user name')
    .action(handler(async () => (await import('./commands/machine/exec.js')).machineShell));

  machine
    .command('ls')
    .description('list machines')
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/machine/info.js')).machineLs));
  machine
    .command('inspect')
    .description('show everything about a machine')
    .argument(nameArg, nameDesc)
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/machine/info.js')).machineInspect));
  machine
    .command('logs')
    .description('show the guest console and supervisor log')
    .argument(nameArg, nameDesc)
    .option('-f, --follow', 'keep printing new lines')
    .action(handler(async () => (await import('./commands/machine/info.js')).machineLogs));
  machine
    .command('stats')
    .description('guest CPU, memory and disk, and host memory')
    .argument(nameArg, nameDesc)
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/machine/info.js')).machineStats));
  machine
    .command('update')
    .description('change resources or settings of a stopped machine')
    .argument(nameArg, nameDesc)
    .option('--cpus <n>', 'virtual CPUs', positiveInt('--cpus'))
    .option('--mem <MiB>', 'memory in MiB', positiveInt('--mem'))
    .option('--storage <GiB>', 'grow the writable disk to GiB', positiveInt('--storage'))
    .option('-e, --env <K=V>', 'replace the environment (repeatable)', collect)
    .option('-w, --workdir <dir>', 'default working directory')
    .option('--init <cmd>', 'replace the init commands (repeatable)', collect)
    .option('--restart <policy>', 'never, on-failure or always')
    .option('-p, --publish <[ADDR:]HOST:GUEST>', 'replace the published ports (repeatable)', collect)
    .option('--no-publish', 'publish no ports')
    .option('-v, --volume <HOST:GUEST[:ro]>', 'replace the mounted host directories (repeatable)', collect)
    .option('--no-volume', 'mount no host directories')
    .action(handler(async () => (await import('./commands/machine/create.js')).machineUpdate));
  machine
    .command('rm')
    .description('delete machines and their disks')
    .argument('<names...>', 'machine names')
    .option('-f, --force', 'stop running machines first')
    .action(handler(async () => (await import('./commands/machine/lifecycle.js')).rm));
  machine
    .command('cp')
    .description('copy files between the host and a machine (NAME:PATH on one side)')
    .argument('<src>', 'source: a host path or NAME:PATH')
    .argument('<dst>', 'destination: a host path or NAME:PATH')
    .action(handler(async () => (await import('./commands/machine/cp.js')).machineCp));

  // -s/--smolfile, --no-smolfile and --dev on the commands that take a machine's settings.
  for (const verb of ['run', 'create']) {
    const command = machine.commands.find((c) => c.name() === verb);
    if (command) addSmolfileOptions(command);
  }
  const smolfile = program.command('smolfile').description('work with Smolfiles (TOML files that declare a machine)');
  smolfile
    .command('check')
    .description('check a Smolfile and print every problem as file:line:col (exit 1 if there is any)')
    .argument('[path]', 'the Smolfile (default: ./Smolfile)')
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/smolfile/check.js')).smolfileCheck));

  const image = program.command('image').description('pull, list and remove the images machines boot from');
  image
    .command('pull')
    .description('pull (or import) an image and build its root disk; prints it pinned to its digest')
    .argument('<image>', 'a reference (alpine:3.20), an archive (- for stdin), an OCI layout or a root filesystem directory')
    .option('--platform <os/arch>', 'platform to pick from a multi-platform image (default: the host\'s)')
    .option('--insecure-registry', 'allow plain http to a registry that is not on loopback')
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/image/pull.js')).imagePull));
  image
    .command('ls')
    .description('list stored images and the machines that use them')
    .option('--json', 'machine-readable output')
    .option('-q, --quiet', 'print digests only')
    .action(handler(async () => (await import('./commands/image/ls.js')).imageLs));
  image
    .command('rm')
    .description('remove images (their data goes at the next prune)')
    .argument('<images...>', 'references or digests (12+ hex digits are enough)')
    .option('-f, --force', 'remove even when a machine uses it (the machine keeps its disk)')
    .action(handler(async () => (await import('./commands/image/rm.js')).imageRm));
  image
    .command('prune')
    .description('free the image cache: what no image needs (--all: every image no machine uses)')
    .option('-a, --all', 'also remove images no machine uses')
    .option('--json', 'machine-readable output')
    .action(handler(async () => (await import('./commands/image/prune.js')).imagePrune));

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
