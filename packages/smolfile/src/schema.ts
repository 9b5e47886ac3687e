// The Smolfile schema. One valibot schema gives the validation (with the messages people see), the TypeScript
// types (`Smolfile` is its output type) and the JSON Schema shipped for editors (its input side).
//
// Conventions:
// - Every leaf carries its own messages, written as "expected <accepted form>, got <what was found>", so a
//   problem names the key path (added later), the accepted form and, for numbers, the value found. String
//   values are never repeated in type errors: they might be secrets.
// - Strings with a form of their own (durations, ports, volumes...) are checked and parsed by the spec parsers
//   in a raw transform, so each is parsed exactly once. A parser's failure travels in the issue's `expected`
//   (the problem code) and `received` (the hint) fields, since valibot issues have no free-form field; see
//   problems.ts for the reading side.
// - `v.metadata` holds the editor-facing JSON Schema annotations (description, default, examples, pattern);
//   it sits before any transform because the JSON Schema is generated from the input side.
// - Tables are strict objects. Unknown keys never reach valibot (which reports only the first one): the shape
//   walker in check.ts reports every one of them and drops them first.
import * as v from 'valibot';
import { MACHINE_DEFAULTS } from './defaults.js';
import { formatDuration, tryParseDurationWithin } from './duration.js';
import { ENV_ENTRY_FORM, ENV_NAME, ENV_NAME_FORM, tryParseEnvEntry, type EnvEntry } from './env.js';
import { tryParseHostPattern, HOST_PATTERN_FORM, type HostPattern } from './host-pattern.js';
import { CIDR_FORM, tryParseCidr, type Cidr } from './ip.js';
import { SMOLFILE_LIMITS } from './limits.js';
import { PORT_SPEC_FORM, tryParsePortSpec, type PortSpec } from './ports.js';
import { describeType, describeValue, quote, type SpecResult } from './spec-result.js';
import {
  GUEST_PATH_FORM,
  HOST_PATH_FORM,
  IMAGE_FORM,
  SSH_KEY_FILTER_FORM,
  USER_FORM,
  tryParseAbsoluteHostPath,
  tryParseArgument,
  tryParseEnvName,
  tryParseGuestPath,
  tryParseImageReference,
  tryParseShellCommand,
  tryParseSshKeyFilter,
  tryParseUser,
} from './values.js';
import { VOLUME_SPEC_FORM, tryParseVolumeSpecUnresolved, type VolumeSpec } from './volumes.js';

// ---------------------------------------------------------------------------------------------------------------
// Output types of the parts of a Smolfile that are more than a plain value.

export interface NetworkPolicy {
  /** Host patterns the machine may reach. */
  readonly allowHosts: readonly HostPattern[];
  /** Address blocks the machine may reach. */
  readonly allowCidrs: readonly Cidr[];
}

export interface AuthConfig {
  /** Forward the host's SSH agent (keys never enter the machine). */
  readonly sshAgent: boolean;
  /** Only these keys (fingerprints or comments) are offered; empty means every key of the agent. */
  readonly sshKeys: readonly string[];
}

export interface HealthCheck {
  /** The command, as argv; a string in the Smolfile becomes `["/bin/sh", "-c", string]`. */
  readonly exec: readonly string[];
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failures before the machine counts as unhealthy. */
  readonly retries: number;
  /** Failures during this time after start do not count. */
  readonly startupGraceMs: number;
}

export type RestartPolicyName = 'never' | 'on-failure' | 'always';

export interface RestartConfig {
  readonly policy: RestartPolicyName;
  /** Restarts after consecutive failures before giving up; absent means no limit. */
  readonly maxRetries?: number;
  /** Longest wait between restarts (the wait doubles from one second up to this). */
  readonly maxBackoffMs: number;
}

/** Where a secret's value comes from. The value itself is read only by `resolveSecrets`, on the host, at start. */
export type SecretSource =
  | { readonly from: 'env'; /** Host environment variable. */ readonly variable: string }
  | { readonly from: 'file'; /** Absolute host path. */ readonly path: string };

// ---------------------------------------------------------------------------------------------------------------
// Building blocks.

type Message = (issue: v.BaseIssue<unknown>) => string;

function expects(form: string): Message {
  return (issue) => `expected ${form}, got ${describeValue(issue.input)}`;
}

function expectsNoValue(form: string): Message {
  return (issue) => `expected ${form}, got ${describeType(issue.input)}`;
}

/** JSON Schema annotations for a key: what it does, then what it accepts. */
function about(what: string, form: string, extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { description: `${what} Accepted: ${form}.`, ...extra };
}

/** Runs a spec parser as a raw transform: its value on success, its failure as an issue otherwise. */
function parsedBy<TInput, TOutput>(parse: (input: TInput) => SpecResult<TOutput>) {
  return v.rawTransform<TInput, TOutput>(({ dataset, addIssue, NEVER }) => {
    const result = parse(dataset.value);
    if (result.ok) return result.value;
    addIssue({ message: result.message, expected: result.code, received: result.hint ?? '' });
    return NEVER;
  });
}

/** A string checked and parsed by a spec parser. */
function specString<T>(form: string, parse: (text: string) => SpecResult<T>, annotations: Record<string, unknown> = {}) {
  return v.pipe(v.string(expectsNoValue(form)), v.metadata(annotations), parsedBy(parse));
}

function integer(form: string, min: number, max: number, annotations: Record<string, unknown>) {
  const message = expects(form);
  return v.pipe(v.number(message), v.integer(message), v.minValue(min, message), v.maxValue(max, message), v.metadata(annotations));
}

function boolean(annotations: Record<string, unknown>) {
  return v.pipe(v.boolean(expectsNoValue('true or false')), v.metadata(annotations));
}

function countMessage(max: number): Message {
  return (issue) => {
    const input = issue.input;
    const count = Array.isArray(input) ? input.length : typeof input === 'object' && input !== null ? Object.keys(input).length : 0;
    return `has ${count} entries; at most ${max} are accepted`;
  };
}

function list<TItem extends v.GenericSchema>(item: TItem, max: number, form: string, annotations: Record<string, unknown>) {
  return v.pipe(v.array(item, expectsNoValue(form)), v.maxLength(max, countMessage(max)), v.metadata(annotations));
}

/** Reports the second and later entries of a list whose key repeats an earlier one. */
function unique<T>(keyOf: (item: T) => string, message: (item: T) => string, hint: string) {
  return v.rawCheck<T[]>(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const seen = new Set<string>();
    dataset.value.forEach((item, index) => {
      const key = keyOf(item);
      if (seen.has(key)) {
        addIssue({
          message: message(item),
          expected: 'SMOLVM_ERR_SMOLFILE_DUPLICATE',
          received: hint,
          path: [{ type: 'array', origin: 'value', input: dataset.value, key: index, value: item }],
        });
      }
      seen.add(key);
    });
  });
}

function durationField(what: string, minMs: number, maxMs: number, defaultMs: number | undefined, examples: string[]) {
  const form = `a duration from ${formatDuration(minMs)} to ${formatDuration(maxMs)} such as "10s", "5m" or "1h30m"`;
  return specString(form, (text) => tryParseDurationWithin(text, minMs, maxMs), {
    ...about(what, form),
    ...(defaultMs === undefined ? {} : { default: formatDuration(defaultMs) }),
    examples,
    pattern: '^(?=\\d)(\\d+h)?(\\d+m)?(\\d+s)?(\\d+ms)?$',
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Keys shared by the top level, [dev] and [pack].

const ARGV_FORM = 'a list of strings, e.g. ["/usr/bin/app", "--port", "80"]';
const argument = specString('a string', tryParseArgument);

const imageField = specString(IMAGE_FORM, tryParseImageReference, about('OCI image the machine runs.', IMAGE_FORM, {
  examples: ['alpine:3.20'],
}));

const entrypointField = list(argument, SMOLFILE_LIMITS.maxArgs, ARGV_FORM, about(
  'Program the machine runs, replacing the image\'s entrypoint; [] clears it.',
  ARGV_FORM,
  { examples: [['/usr/local/bin/server']] },
));

const cmdField = list(argument, SMOLFILE_LIMITS.maxArgs, ARGV_FORM, about(
  'Arguments to the entrypoint, replacing the image\'s command. A command given after `--` on the command line replaces it.',
  ARGV_FORM,
  { examples: [['--listen', '0.0.0.0:8080']] },
));

const ENV_LIST_FORM = 'a list of "NAME=value" strings, where NAME is letters, digits and "_" and does not start with a digit';
const envField = v.pipe(
  list(specString(ENV_ENTRY_FORM, tryParseEnvEntry, { pattern: '^[A-Za-z_][A-Za-z0-9_]*=' }), SMOLFILE_LIMITS.maxEnv, ENV_LIST_FORM, about(
    'Environment variables of the workload and of init commands. Values are strings.',
    ENV_LIST_FORM,
    { examples: [['RUST_LOG=info', 'PORT=8080']] },
  )),
  unique<EnvEntry>((entry) => entry.name, (entry) => `${entry.name} is set more than once in this list`, 'keep one entry; to change a value for local runs, use [dev] env'),
);

const workdirField = specString(GUEST_PATH_FORM, tryParseGuestPath, about('Working directory of the workload.', GUEST_PATH_FORM, {
  examples: ['/app'],
}));

const userField = specString(USER_FORM, tryParseUser, about('User the workload runs as; the image\'s user by default.', USER_FORM, {
  examples: ['1000:1000'],
}));

// cpus, memory and storage have machine defaults at the top level; in [pack] an unset key means the top-level
// value, so the [pack] copies carry no default.
const CPUS_FORM = `an integer number of CPUs from ${SMOLFILE_LIMITS.cpus.min} to ${SMOLFILE_LIMITS.cpus.max}`;
const cpusField = (withDefault: boolean) => integer(CPUS_FORM, SMOLFILE_LIMITS.cpus.min, SMOLFILE_LIMITS.cpus.max, about('Virtual CPUs.', CPUS_FORM, {
  ...(withDefault ? { default: MACHINE_DEFAULTS.cpus } : {}),
  examples: [2],
}));

const MEMORY_FORM = `an integer number of MiB from ${SMOLFILE_LIMITS.memoryMiB.min} to ${SMOLFILE_LIMITS.memoryMiB.max}`;
const memoryField = (withDefault: boolean) => integer(MEMORY_FORM, SMOLFILE_LIMITS.memoryMiB.min, SMOLFILE_LIMITS.memoryMiB.max, about('Memory, in MiB.', MEMORY_FORM, {
  ...(withDefault ? { default: MACHINE_DEFAULTS.memoryMiB } : {}),
  examples: [2048],
}));

const STORAGE_FORM = `an integer number of GiB from ${SMOLFILE_LIMITS.storageGiB.min} to ${SMOLFILE_LIMITS.storageGiB.max}`;
const storageField = (withDefault: boolean) => integer(STORAGE_FORM, SMOLFILE_LIMITS.storageGiB.min, SMOLFILE_LIMITS.storageGiB.max, about(
  'Size of the machine\'s writable disk, in GiB (sparse: it takes host space only as it fills).',
  STORAGE_FORM,
  { ...(withDefault ? { default: MACHINE_DEFAULTS.storageGiB } : {}), examples: [20] },
));

const netField = boolean(about(
  'Outbound network. Off by default. With [network] allow-lists, outbound traffic is limited to them.',
  'true or false',
  { default: MACHINE_DEFAULTS.net, examples: [true] },
));

const PORTS_FORM = `a list of ${PORT_SPEC_FORM}`;
const portsField = v.pipe(
  list(specString(PORT_SPEC_FORM, tryParsePortSpec, { pattern: '^(?:(?:\\[[0-9A-Fa-f:.]+\\]|[0-9.]+):)?\\d{1,5}:\\d{1,5}$' }), SMOLFILE_LIMITS.maxPorts, PORTS_FORM, about(
    'Ports forwarded from the host to the machine. The host side binds loopback unless an address is given.',
    PORTS_FORM,
    { examples: [['8080:80']] },
  )),
  unique<PortSpec>(
    (port) => `${port.hostAddress ?? ''}|${port.hostPort}`,
    (port) => `host port ${port.hostPort} is mapped more than once`,
    'a host port can be forwarded to one guest port only',
  ),
);

const VOLUMES_FORM = `a list of ${VOLUME_SPEC_FORM}`;
const volumesField = v.pipe(
  list(specString(VOLUME_SPEC_FORM, tryParseVolumeSpecUnresolved, { pattern: '^[^:]+:/[^:]*(?::(?:ro|rw))?$' }), SMOLFILE_LIMITS.maxVolumes, VOLUMES_FORM, about(
    'Host directories or files mounted in the machine.',
    VOLUMES_FORM,
    { examples: [['./src:/app/src', '/srv/data:/data:ro']] },
  )),
  unique<VolumeSpec>(
    (volume) => volume.guestPath,
    (volume) => `${volume.guestPath} is mounted more than once`,
    'mount each path in the machine once',
  ),
);

const INIT_FORM = 'a list of shell commands, e.g. ["apk add --no-cache curl"]';
const initField = list(specString('a shell command (a string)', tryParseShellCommand), SMOLFILE_LIMITS.maxInit, INIT_FORM, about(
  'Commands run by /bin/sh -c, in order, on every start before the workload; a failing command stops the start.',
  INIT_FORM,
  { examples: [['apk add --no-cache curl']] },
));

// ---------------------------------------------------------------------------------------------------------------
// Tables.

const HOSTS_FORM = `a list of host patterns: ${HOST_PATTERN_FORM}`;
const CIDRS_FORM = `a list of CIDR blocks: ${CIDR_FORM}`;
const networkTable = v.pipe(
  v.strictObject(
    {
      allow_hosts: v.optional(list(specString(HOST_PATTERN_FORM, tryParseHostPattern), SMOLFILE_LIMITS.maxAllowHosts, HOSTS_FORM, about(
        'Hosts the machine may reach; turns the network on, limited to the allow-lists.',
        HOSTS_FORM,
        { default: [], examples: [['api.github.com', '*.npmjs.org']] },
      ))),
      allow_cidrs: v.optional(list(specString(CIDR_FORM, tryParseCidr), SMOLFILE_LIMITS.maxAllowCidrs, CIDRS_FORM, about(
        'Address blocks the machine may reach; turns the network on, limited to the allow-lists.',
        CIDRS_FORM,
        { default: [], examples: [['10.0.0.0/8', '2001:db8::/32']] },
      ))),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ description: 'Egress allow-list, enforced on the host. Cloud metadata addresses are always refused.' }),
  v.transform((table): NetworkPolicy => ({ allowHosts: table.allow_hosts ?? [], allowCidrs: table.allow_cidrs ?? [] })),
);

const SSH_KEYS_FORM = 'a list of key fingerprints "SHA256:<43 base64 characters>" (as ssh-add -l prints) or key comments';
const authTable = v.pipe(
  v.strictObject(
    {
      ssh_agent: v.optional(boolean(about('Forward the host\'s SSH agent; private keys never enter the machine.', 'true or false', {
        default: false,
        examples: [true],
      }))),
      ssh_keys: v.optional(list(specString(SSH_KEY_FILTER_FORM, tryParseSshKeyFilter), SMOLFILE_LIMITS.maxSshKeys, SSH_KEYS_FORM, about(
        'Offer only these keys of the agent to the machine; every key when absent.',
        SSH_KEYS_FORM,
        { examples: [['SHA256:uNiVztksCsDhcc0u9e8BujQXVUpKZIDTMczCvj3tD2s', 'deploy@ci']] },
      ))),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ description: 'Credentials the machine may use without holding them.' }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const table = dataset.value;
    if ((table.ssh_keys?.length ?? 0) > 0 && table.ssh_agent !== true) {
      addIssue({
        message: 'has no effect unless ssh_agent = true',
        expected: 'SMOLVM_ERR_SMOLFILE_CONFLICT',
        received: 'add ssh_agent = true to [auth], or remove ssh_keys',
        path: [{ type: 'object', origin: 'value', input: table, key: 'ssh_keys', value: table.ssh_keys }],
      });
    }
  }),
  v.transform((table): AuthConfig => ({ sshAgent: table.ssh_agent ?? false, sshKeys: table.ssh_keys ?? [] })),
);

const HEALTH_EXEC_FORM = 'a command: a list of strings such as ["pg_isready", "-q"], or a string run by /bin/sh -c';

/** The health check command: a non-empty argv list, or a shell command line. */
function parseHealthCommand(input: unknown): SpecResult<string[]> | { ok: false; typeError: string; index?: number } {
  if (typeof input === 'string') {
    const checked = tryParseShellCommand(input);
    return checked.ok ? { ok: true, value: ['/bin/sh', '-c', checked.value] } : checked;
  }
  if (!Array.isArray(input)) return { ok: false, typeError: `expected ${HEALTH_EXEC_FORM}, got ${describeType(input)}` };
  if (input.length === 0) return { ok: false, code: 'SMOLVM_ERR_SMOLFILE_FORMAT', message: `the command is empty; expected ${HEALTH_EXEC_FORM}` };
  if (input.length > SMOLFILE_LIMITS.maxArgs) {
    return { ok: false, code: 'SMOLVM_ERR_SMOLFILE_RANGE', message: `has ${input.length} entries; at most ${SMOLFILE_LIMITS.maxArgs} are accepted` };
  }
  const argv: string[] = [];
  for (const [index, item] of input.entries()) {
    if (typeof item !== 'string') return { ok: false, typeError: `expected a string, got ${describeType(item)}`, index };
    const checked = tryParseArgument(item);
    if (!checked.ok) return checked;
    argv.push(checked.value);
  }
  return { ok: true, value: argv };
}

const healthExec = v.pipe(
  v.unknown(),
  v.metadata(about('Command that checks the workload; exit status 0 means healthy.', HEALTH_EXEC_FORM, {
    anyOf: [
      { type: 'string', minLength: 1 },
      { type: 'array', items: { type: 'string' }, minItems: 1, maxItems: SMOLFILE_LIMITS.maxArgs },
    ],
    examples: [['curl', '-fsS', 'http://127.0.0.1:8080/healthz']],
  })),
  v.rawTransform<unknown, string[]>(({ dataset, addIssue, NEVER }) => {
    const result = parseHealthCommand(dataset.value);
    if (result.ok) return result.value;
    if ('typeError' in result) {
      const value = dataset.value;
      addIssue({
        message: result.typeError,
        expected: 'SMOLVM_ERR_SMOLFILE_TYPE',
        received: '',
        ...(result.index === undefined || !Array.isArray(value)
          ? {}
          : { path: [{ type: 'array', origin: 'value', input: value, key: result.index, value: value[result.index] as unknown }] }),
      });
    } else {
      addIssue({ message: result.message, expected: result.code, received: result.hint ?? '' });
    }
    return NEVER;
  }),
);

const RETRIES_FORM = 'an integer from 1 to 100';
const healthTable = v.pipe(
  v.strictObject(
    {
      exec: healthExec,
      interval: v.optional(durationField('Time between checks.', 1000, 86_400_000, MACHINE_DEFAULTS.health.intervalMs, ['10s'])),
      timeout: v.optional(durationField('Time a check may take before it counts as failed; at most the interval.', 1000, 3_600_000, MACHINE_DEFAULTS.health.timeoutMs, ['3s'])),
      retries: v.optional(integer(RETRIES_FORM, 1, 100, about('Consecutive failed checks before the machine counts as unhealthy.', RETRIES_FORM, {
        default: MACHINE_DEFAULTS.health.retries,
        examples: [5],
      }))),
      startup_grace: v.optional(durationField('Time after start during which failed checks do not count.', 0, 3_600_000, MACHINE_DEFAULTS.health.startupGraceMs, ['30s'])),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ description: 'Health check run inside the machine while it runs.' }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const table = dataset.value;
    const interval = table.interval ?? MACHINE_DEFAULTS.health.intervalMs;
    const timeout = table.timeout ?? MACHINE_DEFAULTS.health.timeoutMs;
    if (timeout <= interval) return;
    const key = table.timeout === undefined ? 'interval' : 'timeout';
    addIssue({
      message: table.timeout === undefined
        ? `${formatDuration(interval)} is shorter than the default timeout (${formatDuration(timeout)})`
        : `${formatDuration(timeout)} is longer than the interval (${formatDuration(interval)})`,
      expected: 'SMOLVM_ERR_SMOLFILE_CONFLICT',
      received: `a check must end before the next one starts: set timeout to at most ${formatDuration(interval)}`,
      path: [{ type: 'object', origin: 'value', input: table, key, value: table[key] }],
    });
  }),
  v.transform((table): HealthCheck => ({
    exec: table.exec,
    intervalMs: table.interval ?? MACHINE_DEFAULTS.health.intervalMs,
    timeoutMs: table.timeout ?? MACHINE_DEFAULTS.health.timeoutMs,
    retries: table.retries ?? MACHINE_DEFAULTS.health.retries,
    startupGraceMs: table.startup_grace ?? MACHINE_DEFAULTS.health.startupGraceMs,
  })),
);

const RESTART_POLICIES = ['never', 'on-failure', 'always'] as const;
const POLICY_FORM = 'one of "never", "on-failure" or "always"';
const MAX_RETRIES_FORM = 'an integer from 1 to 10000';
const restartTable = v.pipe(
  v.strictObject(
    {
      policy: v.optional(v.pipe(
        v.picklist(RESTART_POLICIES, (issue) => `expected ${POLICY_FORM}, got ${typeof issue.input === 'string' ? quote(issue.input) : describeType(issue.input)}`),
        v.metadata(about('When the supervisor restarts the workload after it exits.', POLICY_FORM, {
          default: MACHINE_DEFAULTS.restart.policy,
          examples: ['on-failure'],
        })),
      )),
      max_retries: v.optional(integer(MAX_RETRIES_FORM, 1, 10_000, about(
        'Restarts after consecutive failures before giving up; no limit when absent.',
        MAX_RETRIES_FORM,
        { examples: [5] },
      ))),
      max_backoff: v.optional(durationField('Longest wait between restarts; the wait doubles from 1s up to it.', 1000, 3_600_000, MACHINE_DEFAULTS.restart.maxBackoffMs, ['30s'])),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ description: 'What happens when the workload of a persistent machine exits.' }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const table = dataset.value;
    if (table.max_retries !== undefined && (table.policy ?? MACHINE_DEFAULTS.restart.policy) === 'never') {
      addIssue({
        message: 'has no effect with policy "never"',
        expected: 'SMOLVM_ERR_SMOLFILE_CONFLICT',
        received: 'set policy = "on-failure" or "always", or remove max_retries',
        path: [{ type: 'object', origin: 'value', input: table, key: 'max_retries', value: table.max_retries }],
      });
    }
  }),
  v.transform((table): RestartConfig => {
    const config: RestartConfig = {
      policy: table.policy ?? MACHINE_DEFAULTS.restart.policy,
      maxBackoffMs: table.max_backoff ?? MACHINE_DEFAULTS.restart.maxBackoffMs,
    };
    return table.max_retries === undefined ? config : { ...config, maxRetries: table.max_retries };
  }),
);

const SECRET_FORM = 'a table { from_env = "VARIABLE" } or { from_file = "/absolute/path" }';
const secretEntry = v.pipe(
  v.strictObject(
    {
      from_env: v.optional(specString(ENV_NAME_FORM, tryParseEnvName, about('Host environment variable holding the secret.', ENV_NAME_FORM, {
        examples: ['GITHUB_TOKEN'],
      }))),
      from_file: v.optional(specString(HOST_PATH_FORM, tryParseAbsoluteHostPath, about('Host file holding the secret (one trailing newline is dropped).', HOST_PATH_FORM, {
        examples: ['/run/secrets/db_password'],
      }))),
    },
    expectsNoValue(SECRET_FORM),
  ),
  v.metadata({
    description: 'One secret, seen by the workload as the environment variable NAME: where its value is read on the host.',
    oneOf: [{ required: ['from_env'] }, { required: ['from_file'] }],
  }),
  v.rawCheck(({ dataset, addIssue }) => {
    if (!dataset.typed) return;
    const { from_env: fromEnv, from_file: fromFile } = dataset.value;
    if (fromEnv === undefined && fromFile === undefined) {
      addIssue({ message: `says nowhere to read the secret from; expected ${SECRET_FORM}`, expected: 'SMOLVM_ERR_SMOLFILE_MISSING_KEY', received: '' });
    } else if (fromEnv !== undefined && fromFile !== undefined) {
      addIssue({ message: 'sets both from_env and from_file', expected: 'SMOLVM_ERR_SMOLFILE_CONFLICT', received: 'keep one of them' });
    }
  }),
  v.transform((entry): SecretSource =>
    entry.from_env !== undefined ? { from: 'env', variable: entry.from_env } : { from: 'file', path: entry.from_file ?? '' }),
);

const secretsTable = v.pipe(
  v.record(
    v.pipe(
      v.string(),
      v.regex(ENV_NAME, (issue) => `${quote(String(issue.input))} is not a valid secret name; expected ${ENV_NAME_FORM}`),
      v.maxLength(SMOLFILE_LIMITS.maxEnvNameLength, (issue) => `${quote(String(issue.input))} is too long for a secret name`),
    ),
    secretEntry,
    expectsNoValue('a table of secrets, NAME = { from_env = "VARIABLE" } or NAME = { from_file = "/absolute/path" }'),
  ),
  v.maxEntries(SMOLFILE_LIMITS.maxSecrets, countMessage(SMOLFILE_LIMITS.maxSecrets)),
  v.metadata({
    description:
      'Secrets the workload sees as environment variables NAME. Each names where its value is read on the host at start; values are never written to disk, into a pack, or into messages.',
    examples: [{ GITHUB_TOKEN: { from_env: 'GITHUB_TOKEN' }, DB_PASSWORD: { from_file: '/run/secrets/db_password' } }],
  }),
  v.transform((table): Readonly<Record<string, SecretSource>> => {
    const secrets: Record<string, SecretSource> = Object.create(null) as Record<string, SecretSource>;
    for (const [name, source] of Object.entries(table)) secrets[name] = source;
    return secrets;
  }),
);

const devTable = v.pipe(
  v.strictObject(
    {
      volumes: v.optional(volumesField),
      env: v.optional(envField),
      init: v.optional(initField),
      workdir: v.optional(workdirField),
      ports: v.optional(portsField),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ description: 'Local-only settings, applied with --dev: lists are added to the top-level ones, workdir replaces it.' }),
  v.transform((table) => ({
    volumes: table.volumes,
    env: table.env,
    init: table.init,
    workdir: table.workdir,
    ports: table.ports,
  })),
);

const packTable = v.pipe(
  v.strictObject(
    {
      entrypoint: v.optional(entrypointField),
      cmd: v.optional(cmdField),
      env: v.optional(envField),
      workdir: v.optional(workdirField),
      user: v.optional(userField),
      init: v.optional(initField),
      cpus: v.optional(cpusField(false)),
      memory: v.optional(memoryField(false)),
      storage: v.optional(storageField(false)),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ description: 'Settings for packing into a .smolmachine: lists are added to the top-level ones, the rest replace them.' }),
  v.transform((table) => ({
    entrypoint: table.entrypoint,
    cmd: table.cmd,
    env: table.env,
    workdir: table.workdir,
    user: table.user,
    init: table.init,
    cpus: table.cpus,
    memoryMiB: table.memory,
    storageGiB: table.storage,
  })),
);

// ---------------------------------------------------------------------------------------------------------------
// The whole file.

export const smolfileSchema = v.pipe(
  v.strictObject(
    {
      image: v.optional(imageField),
      entrypoint: v.optional(entrypointField),
      cmd: v.optional(cmdField),
      env: v.optional(envField),
      workdir: v.optional(workdirField),
      user: v.optional(userField),
      cpus: v.optional(cpusField(true)),
      memory: v.optional(memoryField(true)),
      net: v.optional(netField),
      ports: v.optional(portsField),
      volumes: v.optional(volumesField),
      init: v.optional(initField),
      storage: v.optional(storageField(true)),
      network: v.optional(networkTable),
      auth: v.optional(authTable),
      health: v.optional(healthTable),
      restart: v.optional(restartTable),
      dev: v.optional(devTable),
      pack: v.optional(packTable),
      secrets: v.optional(secretsTable),
    },
    expectsNoValue('a table'),
  ),
  v.metadata({ title: 'Smolfile', description: 'A smolvm machine, declared. See docs/smolfile.md.' }),
  v.transform((file) => ({
    image: file.image,
    entrypoint: file.entrypoint,
    cmd: file.cmd,
    env: file.env,
    workdir: file.workdir,
    user: file.user,
    cpus: file.cpus,
    memoryMiB: file.memory,
    net: file.net,
    ports: file.ports,
    volumes: file.volumes,
    init: file.init,
    storageGiB: file.storage,
    network: file.network,
    auth: file.auth,
    health: file.health,
    restart: file.restart,
    dev: file.dev,
    pack: file.pack,
    secrets: file.secrets,
  })),
);

/**
 * A validated Smolfile. Keys follow TypeScript conventions with units in their names (`memory` in the file is
 * `memoryMiB` here); spec strings are parsed (ports, volumes with absolute host paths, env entries, durations in
 * milliseconds). A key absent from the file is `undefined`; defaults are applied by `resolveMachineConfig`.
 */
export type Smolfile = v.InferOutput<typeof smolfileSchema>;

/** A Smolfile as written in TOML (the input side of the schema, as the JSON Schema describes it). */
export type SmolfileInput = v.InferInput<typeof smolfileSchema>;

/** The `[dev]` table of a Smolfile. */
export type SmolfileDevOverrides = NonNullable<Smolfile['dev']>;

/** The `[pack]` table of a Smolfile. */
export type SmolfilePackOverrides = NonNullable<Smolfile['pack']>;

/** Keys a problem about a key's type can explain better than "got a string". */
export const TYPE_HINTS: Readonly<Record<string, string>> = {
  memory: 'memory is a whole number of MiB without quotes or units: 2 GiB is memory = 2048',
  storage: 'storage is a whole number of GiB without quotes or units, e.g. storage = 20',
  cpus: 'cpus is a whole number without quotes, e.g. cpus = 2',
};

