// The invalid-Smolfile corpus: one case per problem a Smolfile can have, each with the exact problems expected.
// In `toml`, each » marks where a problem must point (it is removed before parsing); problems are listed in the
// order of their markers.

export type Code =
  | 'SYNTAX'
  | 'TOO_LARGE'
  | 'UNKNOWN_KEY'
  | 'MISSING_KEY'
  | 'TYPE'
  | 'RANGE'
  | 'FORMAT'
  | 'DUPLICATE'
  | 'CONFLICT';

/** [code, key path, message, hint?] */
export type Expected = readonly [Code, string, string, string?];

export interface InvalidCase {
  readonly name: string;
  readonly toml: string;
  readonly problems: readonly Expected[];
}

const TOP_KEYS = 'image, entrypoint, cmd, env, workdir, user, cpus, memory, net, ports, volumes, init, storage, network, auth, health, restart, dev, pack, secrets';
const IMAGE_FORM = 'an image reference such as "alpine:3.20", "ghcr.io/org/app:1.2" or "name@sha256:<64 hex digits>"';
const ENV_FORM = '"NAME=value", where NAME is letters, digits and "_" and does not start with a digit';
const ENV_LIST = 'a list of "NAME=value" strings, where NAME is letters, digits and "_" and does not start with a digit';
const PORT_FORM = '"HOST:GUEST" or "ADDRESS:HOST:GUEST" with ports from 1 to 65535, e.g. "8080:80" or "0.0.0.0:8080:80"';
const VOLUME_FORM = '"HOST:GUEST" or "HOST:GUEST:ro", where HOST is a host path (relative paths start from the Smolfile\'s directory) and GUEST an absolute path in the machine';
const HOST_FORM = 'a host name such as "example.com", or "*.example.com" for every name below it';
const CIDR_FORM = 'a CIDR block such as "10.0.0.0/8" or "2001:db8::/32", or a single address';
const DURATION = 'a duration such as "10s", "5m" or "1h30m" (units h, m, s, ms)';
const SECRET_FORM = 'a table { from_env = "VARIABLE" } or { from_file = "/absolute/path" }';
const ARGV = 'a list of strings, e.g. ["/usr/bin/app", "--port", "80"]';
const KEY_FILTER = 'a key fingerprint "SHA256:<43 base64 characters>" (as ssh-add -l prints) or a key comment';
const LABEL_RULE = 'each dot-separated label must be 1 to 63 letters, digits, "-" or "_", not starting or ending with "-"';
const HEALTH_EXEC = 'a command: a list of strings such as ["pg_isready", "-q"], or a string run by /bin/sh -c';
const HEALTH = '[health]\nexec = "true"\n';
const quotes = 'remove the quotes: TOML numbers and booleans are written bare';

export const INVALID: readonly InvalidCase[] = [
  // --- TOML itself ---
  {
    name: 'syntax error on the first line',
    toml: 'cpus = »',
    problems: [['SYNTAX', '', 'invalid TOML: invalid value']],
  },
  {
    name: 'syntax error points at its line',
    toml: 'image = "alpine"\ncpus = 2\nmemory = »= 3\n',
    problems: [['SYNTAX', '', 'invalid TOML: invalid value']],
  },
  {
    name: 'a key defined twice',
    toml: 'cpus = 1\n»cpus = 2\n',
    problems: [['SYNTAX', '', 'invalid TOML: trying to redefine an already defined table or value']],
  },

  // --- unknown keys and tables ---
  {
    name: 'unknown key with a near miss',
    toml: '»cpu = 2',
    problems: [['UNKNOWN_KEY', 'cpu', 'cpu: unknown key', 'did you mean "cpus"?']],
  },
  {
    name: 'unknown key known from another tool',
    toml: '»working_dir = "/app"',
    problems: [['UNKNOWN_KEY', 'working_dir', 'working_dir: unknown key', 'did you mean "workdir"?']],
  },
  {
    name: 'unknown key in another case',
    toml: '»CPUS = 2',
    problems: [['UNKNOWN_KEY', 'CPUS', 'CPUS: unknown key', 'did you mean "cpus"?']],
  },
  {
    name: 'unknown key with nothing close',
    toml: '»frobnicate = true',
    problems: [['UNKNOWN_KEY', 'frobnicate', 'frobnicate: unknown key', `the top level accepts ${TOP_KEYS}`]],
  },
  {
    name: 'a table key at the top level',
    toml: '»allow_hosts = ["example.com"]',
    problems: [['UNKNOWN_KEY', 'allow_hosts', 'allow_hosts: unknown key', `allow_hosts belongs in [network]; the top level accepts ${TOP_KEYS}`]],
  },
  {
    name: 'unknown table',
    toml: '[»healthcheck]\nexec = "true"\n',
    problems: [['UNKNOWN_KEY', 'healthcheck', 'healthcheck: unknown table', 'did you mean "health"?']],
  },
  {
    name: 'unknown key in a table, every one reported',
    toml: '[network]\n»allow_host = ["a.example"]\n»allowcidrs = []\n',
    problems: [
      ['UNKNOWN_KEY', 'network.allow_host', 'network.allow_host: unknown key', 'did you mean "allow_hosts"?'],
      ['UNKNOWN_KEY', 'network.allowcidrs', 'network.allowcidrs: unknown key', 'did you mean "allow_cidrs"?'],
    ],
  },
  {
    name: 'unknown key in dotted form',
    toml: 'health.exec = "true"\nhealth.»intervall = "5s"\n',
    problems: [['UNKNOWN_KEY', 'health.intervall', 'health.intervall: unknown key', 'did you mean "interval"?']],
  },
  {
    name: 'unknown key in an inline table',
    toml: 'secrets = { TOKEN = { »from_envv = "GH_TOKEN" } }',
    problems: [
      ['UNKNOWN_KEY', 'secrets.TOKEN.from_envv', 'secrets.TOKEN.from_envv: unknown key', 'did you mean "from_env"?'],
    ],
  },
  {
    name: 'a top-level key in [dev]',
    toml: '[dev]\n»cpus = 4\n',
    problems: [['UNKNOWN_KEY', 'dev.cpus', 'dev.cpus: unknown key', 'cpus belongs at the top level or in [pack]; [dev] accepts volumes, env, init, workdir, ports']],
  },
  {
    name: 'volumes in [pack]',
    toml: '[pack]\n»volumes = ["./a:/a"]\n',
    problems: [['UNKNOWN_KEY', 'pack.volumes', 'pack.volumes: unknown key', 'volumes belongs at the top level or in [dev]; [pack] accepts entrypoint, cmd, env, workdir, user, init, cpus, memory, storage']],
  },
  {
    name: 'a quoted key that is not a Smolfile key',
    toml: '»"cpus count" = 2\n»"my key" = 1',
    problems: [
      ['UNKNOWN_KEY', '"cpus count"', '"cpus count": unknown key', 'did you mean "cpus"?'],
      ['UNKNOWN_KEY', '"my key"', '"my key": unknown key', `the top level accepts ${TOP_KEYS}`],
    ],
  },
  {
    name: '__proto__ is just an unknown key',
    toml: '»__proto__ = 1',
    problems: [['UNKNOWN_KEY', '__proto__', '__proto__: unknown key', `the top level accepts ${TOP_KEYS}`]],
  },

  // --- image ---
  { name: 'image: not a string', toml: 'image = »3', problems: [['TYPE', 'image', `image: expected ${IMAGE_FORM}, got an integer`]] },
  { name: 'image: empty', toml: 'image = »""', problems: [['FORMAT', 'image', `image: empty image reference; expected ${IMAGE_FORM}`]] },
  {
    name: 'image: upper case',
    toml: 'image = »"Alpine:3"',
    problems: [['FORMAT', 'image', `image: invalid image reference "Alpine:3": "Alpine" is not a valid repository name component; expected ${IMAGE_FORM}`, 'repository names are lower case']],
  },
  {
    name: 'image: whitespace',
    toml: 'image = »"alpine 3"',
    problems: [['FORMAT', 'image', `image: invalid image reference "alpine 3": contains whitespace or control characters; expected ${IMAGE_FORM}`]],
  },
  {
    name: 'image: a URL',
    toml: 'image = »"https://ghcr.io/org/app"',
    problems: [['FORMAT', 'image', `image: invalid image reference "https://ghcr.io/org/app": a URL is not an image reference; expected ${IMAGE_FORM}`, 'drop the scheme, e.g. "ghcr.io/org/app:1.2"']],
  },
  {
    name: 'image: bad digest',
    toml: 'image = »"alpine@sha256"',
    problems: [['FORMAT', 'image', `image: invalid image reference "alpine@sha256": the digest after "@" is malformed; expected ${IMAGE_FORM}`, 'a digest looks like sha256:<64 hex digits>']],
  },
  {
    name: 'image: short sha256 digest',
    toml: `image = »"alpine@sha256:${'a'.repeat(40)}"`,
    problems: [['FORMAT', 'image', `image: invalid image reference "alpine@sha256:${'a'.repeat(40)}": a sha256 digest is 64 lower-case hex digits; expected ${IMAGE_FORM}`]],
  },
  {
    name: 'image: bad tag',
    toml: 'image = »"alpine:-3"',
    problems: [['FORMAT', 'image', `image: invalid image reference "alpine:-3": the tag after ":" is malformed; expected ${IMAGE_FORM}`]],
  },
  {
    name: 'image: bad registry',
    toml: 'image = »"my_registry.io/app"',
    problems: [['FORMAT', 'image', `image: invalid image reference "my_registry.io/app": "my_registry.io" is not a registry host; expected ${IMAGE_FORM}`]],
  },
  {
    name: 'image: too long',
    toml: `image = »"${'a'.repeat(513)}"`,
    problems: [['FORMAT', 'image', `image: invalid image reference "${'a'.repeat(64)}…": too long; expected ${IMAGE_FORM}`]],
  },

  // --- entrypoint and cmd ---
  {
    name: 'entrypoint: a string, not a list',
    toml: 'entrypoint = »"/bin/app"',
    problems: [['TYPE', 'entrypoint', `entrypoint: expected ${ARGV}, got a string`, 'write a list in brackets, e.g. entrypoint = ["…"]']],
  },
  { name: 'entrypoint: not strings', toml: 'entrypoint = [»1]', problems: [['TYPE', 'entrypoint[0]', 'entrypoint[0]: expected a string, got an integer']] },
  {
    name: 'entrypoint: NUL in an argument',
    toml: 'entrypoint = ["/bin/app", »"a\\u0000b"]',
    problems: [['FORMAT', 'entrypoint[1]', 'entrypoint[1]: argument contains a NUL character, which a program argument cannot hold']],
  },
  {
    name: 'entrypoint: too many arguments',
    toml: `entrypoint = »[${'"a",'.repeat(1025)}]`,
    problems: [['RANGE', 'entrypoint', 'entrypoint: has 1025 entries; at most 1024 are accepted']],
  },
  { name: 'cmd: a table', toml: 'cmd = »{ a = 1 }', problems: [['TYPE', 'cmd', `cmd: expected ${ARGV}, got a table`]] },
  {
    name: 'cmd: an argument too long',
    toml: `cmd = [»"${'x'.repeat(131_073)}"]`,
    problems: [['FORMAT', 'cmd[0]', 'cmd[0]: argument is longer than 131072 bytes']],
  },

  // --- env ---
  {
    name: 'env: a string, not a list',
    toml: 'env = »"A=1"',
    problems: [['TYPE', 'env', `env: expected ${ENV_LIST}, got a string`, 'write a list in brackets, e.g. env = ["…"]']],
  },
  {
    name: 'env: a table, not a list',
    toml: 'env = »{ A = "1" }',
    problems: [['TYPE', 'env', `env: expected ${ENV_LIST}, got a table`]],
  },
  {
    name: 'env: entry without "=" is not repeated (it may be a token)',
    toml: 'env = ["A=1", »"ghp_SECRETTOKEN"]',
    problems: [['FORMAT', 'env[1]', `env[1]: env entry has no "="; expected ${ENV_FORM}`, 'write NAME=value; an empty value is written NAME=']],
  },
  { name: 'env: nothing before "="', toml: 'env = [»"=x"]', problems: [['FORMAT', 'env[0]', `env[0]: env entry has nothing before "="; expected ${ENV_FORM}`]] },
  {
    name: 'env: invalid name',
    toml: 'env = [»"1A=x"]',
    problems: [['FORMAT', 'env[0]', 'env[0]: env entry has an invalid name before "="; expected a name of letters, digits and "_" that does not start with a digit']],
  },
  {
    name: 'env: NUL in a value',
    toml: 'env = [»"A=\\u0000"]',
    problems: [['FORMAT', 'env[0]', 'env[0]: env entry contains a NUL character, which environment variables cannot hold']],
  },
  {
    name: 'env: entry too long',
    toml: `env = [»"A=${'x'.repeat(131_071)}"]`,
    problems: [['FORMAT', 'env[0]', 'env[0]: env entry A is longer than 131072 bytes', 'pass large values in a file on a volume']],
  },
  { name: 'env: not strings', toml: 'env = [»true]', problems: [['TYPE', 'env[0]', `env[0]: expected ${ENV_FORM}, got a boolean`]] },
  {
    name: 'env: a name set twice',
    toml: 'env = ["A=1", "B=2", »"A=3"]',
    problems: [['DUPLICATE', 'env[2]', 'env[2]: A is set more than once in this list', 'keep one entry; to change a value for local runs, use [dev] env']],
  },
  {
    name: 'env: too many entries',
    toml: `env = »[${Array.from({ length: 1025 }, (_, i) => `"V${i}=1"`).join(',')}]`,
    problems: [['RANGE', 'env', 'env: has 1025 entries; at most 1024 are accepted']],
  },
  {
    name: 'env: a name that is also a secret',
    toml: 'env = [»"TOKEN=x"]\n[secrets]\nTOKEN = { from_env = "GH_TOKEN" }\n',
    problems: [['CONFLICT', 'env[0]', 'env[0]: TOKEN is also declared in [secrets]', 'a name is either an env entry or a secret; remove one of them']],
  },

  // --- workdir and user ---
  { name: 'workdir: not a string', toml: 'workdir = »["/app"]', problems: [['TYPE', 'workdir', 'workdir: expected an absolute path in the machine, e.g. "/app", got a list']] },
  { name: 'workdir: relative', toml: 'workdir = »"app"', problems: [['FORMAT', 'workdir', 'workdir: "app" is not an absolute path; expected an absolute path in the machine, e.g. "/app"']] },
  { name: 'workdir: NUL', toml: 'workdir = »"/a\\u0000"', problems: [['FORMAT', 'workdir', 'workdir: path contains a NUL character']] },
  { name: 'workdir: too long', toml: `workdir = »"/${'a'.repeat(4096)}"`, problems: [['FORMAT', 'workdir', `workdir: path "/${'a'.repeat(63)}…" is too long`]] },
  { name: 'user: not a string', toml: 'user = »1000', problems: [['TYPE', 'user', 'user: expected a user name or uid, optionally followed by ":group" or ":gid", e.g. "app" or "1000:1000", got an integer']] },
  { name: 'user: malformed', toml: 'user = »"app user"', problems: [['FORMAT', 'user', 'user: invalid user "app user"; expected a user name or uid, optionally followed by ":group" or ":gid", e.g. "app" or "1000:1000"']] },
  { name: 'user: uid too large', toml: 'user = »"1000:4294967295"', problems: [['FORMAT', 'user', 'user: invalid user "1000:4294967295": 4294967295 is larger than the largest uid or gid (4294967294)']] },

  // --- cpus, memory, storage ---
  {
    name: 'cpus: a quoted number',
    toml: 'cpus = »"2"',
    problems: [['TYPE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got a string', 'cpus is a whole number without quotes, e.g. cpus = 2']],
  },
  { name: 'cpus: a float', toml: 'cpus = »1.5', problems: [['TYPE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got 1.5']] },
  { name: 'cpus: inf', toml: 'cpus = »inf', problems: [['TYPE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got inf']] },
  { name: 'cpus: nan', toml: 'cpus = »nan', problems: [['TYPE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got nan']] },
  { name: 'cpus: zero', toml: 'cpus = »0', problems: [['RANGE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got 0']] },
  { name: 'cpus: too many', toml: 'cpus = »65', problems: [['RANGE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got 65']] },
  {
    name: 'cpus: beyond 2^53',
    toml: 'cpus = »123456789012345678901',
    problems: [['RANGE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got 123456789012345680000']],
  },
  { name: 'cpus: a date', toml: 'cpus = »1979-05-27', problems: [['TYPE', 'cpus', 'cpus: expected an integer number of CPUs from 1 to 64, got a date']] },
  {
    name: 'memory: with a unit',
    toml: 'memory = »"2G"',
    problems: [['TYPE', 'memory', 'memory: expected an integer number of MiB from 64 to 262144, got a string', 'memory is a whole number of MiB without quotes or units: 2 GiB is memory = 2048']],
  },
  { name: 'memory: too small', toml: 'memory = »32', problems: [['RANGE', 'memory', 'memory: expected an integer number of MiB from 64 to 262144, got 32']] },
  { name: 'memory: too large', toml: 'memory = »262145', problems: [['RANGE', 'memory', 'memory: expected an integer number of MiB from 64 to 262144, got 262145']] },
  { name: 'memory: negative', toml: 'memory = »-512', problems: [['RANGE', 'memory', 'memory: expected an integer number of MiB from 64 to 262144, got -512']] },
  {
    name: 'storage: with a unit',
    toml: 'storage = »"20GiB"',
    problems: [['TYPE', 'storage', 'storage: expected an integer number of GiB from 1 to 2048, got a string', 'storage is a whole number of GiB without quotes or units, e.g. storage = 20']],
  },
  { name: 'storage: zero', toml: 'storage = »0', problems: [['RANGE', 'storage', 'storage: expected an integer number of GiB from 1 to 2048, got 0']] },
  { name: 'storage: too large', toml: 'storage = »4096', problems: [['RANGE', 'storage', 'storage: expected an integer number of GiB from 1 to 2048, got 4096']] },

  // --- net ---
  { name: 'net: a word', toml: 'net = »"yes"', problems: [['TYPE', 'net', 'net: expected true or false, got a string']] },
  { name: 'net: a quoted boolean', toml: 'net = »"true"', problems: [['TYPE', 'net', 'net: expected true or false, got a string', quotes]] },
  { name: 'net: a number', toml: 'net = »1', problems: [['TYPE', 'net', 'net: expected true or false, got an integer']] },
  {
    name: 'net: off while [network] allows hosts',
    toml: 'net = »false\n[network]\nallow_hosts = ["example.com"]\n',
    problems: [['CONFLICT', 'net', 'net: is false, but [network] allows hosts or CIDRs', 'remove net = false to allow only the listed destinations, or remove the allow-lists to keep the network off']],
  },

  // --- ports ---
  {
    name: 'ports: a string, not a list',
    toml: 'ports = »"8080:80"',
    problems: [['TYPE', 'ports', `ports: expected a list of ${PORT_FORM}, got a string`, 'write a list in brackets, e.g. ports = ["…"]']],
  },
  { name: 'ports: a number', toml: 'ports = [»8080]', problems: [['TYPE', 'ports[0]', `ports[0]: expected ${PORT_FORM}, got an integer`]] },
  { name: 'ports: one port', toml: 'ports = [»"80"]', problems: [['FORMAT', 'ports[0]', `ports[0]: invalid port mapping "80"; expected ${PORT_FORM}`, 'write "80:80" to forward the same port']] },
  { name: 'ports: host port 0', toml: 'ports = [»"0:80"]', problems: [['RANGE', 'ports[0]', 'ports[0]: invalid port mapping "0:80": host port 0 is out of range; ports are 1 to 65535']] },
  { name: 'ports: guest port too large', toml: 'ports = [»"80:65536"]', problems: [['RANGE', 'ports[0]', 'ports[0]: invalid port mapping "80:65536": guest port 65536 is out of range; ports are 1 to 65535']] },
  { name: 'ports: not a number', toml: 'ports = [»"http:80"]', problems: [['FORMAT', 'ports[0]', `ports[0]: invalid port mapping "http:80": "http" is not a host port number; expected ${PORT_FORM}`]] },
  { name: 'ports: unbracketed IPv6', toml: 'ports = [»"::1:80:80"]', problems: [['FORMAT', 'ports[0]', `ports[0]: invalid port mapping "::1:80:80"; expected ${PORT_FORM}`, 'write an IPv6 address in brackets, e.g. "[::1]:8080:80"']] },
  { name: 'ports: bracketed IPv4', toml: 'ports = [»"[127.0.0.1]:80:80"]', problems: [['FORMAT', 'ports[0]', 'ports[0]: invalid port mapping "[127.0.0.1]:80:80": "127.0.0.1" is not an IPv6 address']] },
  { name: 'ports: unclosed bracket', toml: 'ports = [»"[::1:80:80"]', problems: [['FORMAT', 'ports[0]', `ports[0]: invalid port mapping "[::1:80:80"; expected ${PORT_FORM}`, 'write an IPv6 address in brackets, e.g. "[::1]:8080:80"']] },
  {
    name: 'ports: a host name as address',
    toml: 'ports = [»"localhost:80:80"]',
    problems: [['FORMAT', 'ports[0]', 'ports[0]: invalid port mapping "localhost:80:80": "localhost" is not an IP address', 'bind an address such as "127.0.0.1" or "0.0.0.0"; host names are not accepted here']],
  },
  { name: 'ports: a protocol suffix', toml: 'ports = [»"53:53/udp"]', problems: [['FORMAT', 'ports[0]', `ports[0]: invalid port mapping "53:53/udp"; expected ${PORT_FORM}`, 'protocol suffixes such as "/udp" are not accepted']] },
  {
    name: 'ports: a host port mapped twice',
    toml: 'ports = ["8080:80", "9090:90", »"8080:81"]',
    problems: [['DUPLICATE', 'ports[2]', 'ports[2]: host port 8080 is mapped more than once', 'a host port can be forwarded to one guest port only']],
  },
  {
    name: 'ports: too many',
    toml: `ports = »[${Array.from({ length: 129 }, (_, i) => `"${i + 1}:80"`).join(',')}]`,
    problems: [['RANGE', 'ports', 'ports: has 129 entries; at most 128 are accepted']],
  },

  // --- volumes ---
  { name: 'volumes: no guest path', toml: 'volumes = [»"./data"]', problems: [['FORMAT', 'volumes[0]', `volumes[0]: invalid volume "./data": expected ${VOLUME_FORM}`, 'add the path in the machine, e.g. "./data:/data"']] },
  { name: 'volumes: tilde', toml: 'volumes = [»"~/src:/src"]', problems: [['FORMAT', 'volumes[0]', 'volumes[0]: invalid volume "~/src:/src": "~" is not expanded', 'write the full path, or a path relative to the Smolfile\'s directory']] },
  { name: 'volumes: relative guest path', toml: 'volumes = [»"./src:src"]', problems: [['FORMAT', 'volumes[0]', 'volumes[0]: invalid volume "./src:src": the path in the machine must be absolute (start with "/")']] },
  { name: 'volumes: unknown option', toml: 'volumes = [»"./src:/src:rx"]', problems: [['FORMAT', 'volumes[0]', 'volumes[0]: invalid volume "./src:/src:rx": unknown option "rx"', 'the only options are "ro" (read-only) and "rw" (read-write, the default)']] },
  { name: 'volumes: over the root', toml: 'volumes = [»"./root:/"]', problems: [['FORMAT', 'volumes[0]', 'volumes[0]: invalid volume "./root:/": cannot mount over the machine\'s root directory']] },
  { name: 'volumes: dot-dot in the guest path', toml: 'volumes = [»"./a:/srv/../etc"]', problems: [['FORMAT', 'volumes[0]', 'volumes[0]: invalid volume "./a:/srv/../etc": the path in the machine must not contain ".."']] },
  { name: 'volumes: empty host path', toml: 'volumes = [»":/data"]', problems: [['FORMAT', 'volumes[0]', 'volumes[0]: invalid volume ":/data": the host path is empty']] },
  { name: 'volumes: too many colons', toml: 'volumes = [»"C:/a:/b:ro"]', problems: [['FORMAT', 'volumes[0]', `volumes[0]: invalid volume "C:/a:/b:ro": expected ${VOLUME_FORM}`, 'paths that contain ":" cannot be mounted']] },
  { name: 'volumes: empty', toml: 'volumes = [»""]', problems: [['FORMAT', 'volumes[0]', `volumes[0]: invalid volume "": empty; expected ${VOLUME_FORM}`]] },
  {
    name: 'volumes: one mount point twice',
    toml: 'volumes = ["./a:/data", »"./b:/data/"]',
    problems: [['DUPLICATE', 'volumes[1]', 'volumes[1]: /data is mounted more than once', 'mount each path in the machine once']],
  },

  // --- init ---
  { name: 'init: a string, not a list', toml: 'init = »"apk add curl"', problems: [['TYPE', 'init', 'init: expected a list of shell commands, e.g. ["apk add --no-cache curl"], got a string', 'write a list in brackets, e.g. init = ["…"]']] },
  { name: 'init: an empty command', toml: 'init = [»"  "]', problems: [['FORMAT', 'init[0]', 'init[0]: command is empty; expected a shell command such as "apk add curl"']] },
  { name: 'init: not a string', toml: 'init = [»["apk", "add"]]', problems: [['TYPE', 'init[0]', 'init[0]: expected a shell command (a string), got a list']] },
  { name: 'init: NUL', toml: 'init = [»"echo \\u0000"]', problems: [['FORMAT', 'init[0]', 'init[0]: command contains a NUL character']] },
  {
    name: 'init: too long',
    toml: `init = [»"${'x'.repeat(65_537)}"]`,
    problems: [['FORMAT', 'init[0]', 'init[0]: command is longer than 65536 bytes', 'put long scripts in a file on a volume and run that']],
  },
  {
    name: 'init: too many',
    toml: `init = »[${'"true",'.repeat(129)}]`,
    problems: [['RANGE', 'init', 'init: has 129 entries; at most 128 are accepted']],
  },

  // --- [network] ---
  { name: 'network: not a table', toml: 'network = »true', problems: [['TYPE', 'network', 'network: expected a table, got a boolean']] },
  { name: 'health: a date', toml: 'health = »1979-05-27', problems: [['TYPE', 'health', 'health: expected a table, got a date']] },
  { name: 'secrets: a list of tables', toml: '»[[secrets]]\nA = { from_env = "B" }\n', problems: [['TYPE', 'secrets', 'secrets: expected a table of secrets, NAME = { from_env = "VARIABLE" } or NAME = { from_file = "/absolute/path" }, got a list', 'write one [secrets] table, not [[secrets]]']] },
  { name: 'a secret given as a list', toml: '[secrets]\nA = »["B"]\n', problems: [['TYPE', 'secrets.A', `secrets.A: expected ${SECRET_FORM}, got a list`]] },
  { name: 'a quoted key with odd characters is shown quoted', toml: '[secrets]\n»"a.b" = { from_env = "B" }\n', problems: [['FORMAT', 'secrets."a.b"', 'secrets."a.b": "a.b" is not a valid secret name; expected a name of letters, digits and "_" that does not start with a digit']] },
  {
    name: 'network: [[network]]',
    toml: '»[[network]]\nallow_hosts = []\n',
    problems: [['TYPE', 'network', 'network: expected a table, got a list', 'write one [network] table, not [[network]]']],
  },
  { name: 'allow_hosts: an IP address', toml: '[network]\nallow_hosts = [»"1.2.3.4"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "1.2.3.4" is an IP address, not a host name', 'put addresses in allow_cidrs, e.g. "203.0.113.7" or "203.0.113.0/24"']] },
  { name: 'allow_hosts: an IPv6 address in brackets', toml: '[network]\nallow_hosts = [»"[::1]"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "[::1]" is an IP address, not a host name', 'put addresses in allow_cidrs, e.g. "203.0.113.7" or "203.0.113.0/24"']] },
  { name: 'allow_hosts: a URL', toml: '[network]\nallow_hosts = [»"https://example.com/"]', problems: [['FORMAT', 'network.allow_hosts[0]', `network.allow_hosts[0]: "https://example.com/" is not a host name; expected ${HOST_FORM}`, 'write only the host, without a scheme or path']] },
  { name: 'allow_hosts: with a port', toml: '[network]\nallow_hosts = [»"example.com:443"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "example.com:443" is not a host name: ports are not part of a host pattern', 'write "example.com"']] },
  { name: 'allow_hosts: a lone star', toml: '[network]\nallow_hosts = [»"*"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "*" alone is not a host pattern', 'to allow every host, set net = true and leave the allow-lists empty']] },
  { name: 'allow_hosts: a star inside', toml: '[network]\nallow_hosts = [»"api.*.example.com"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "api.*.example.com": "*" may only be the whole first label, as in "*.example.com"']] },
  { name: 'allow_hosts: a partial star', toml: '[network]\nallow_hosts = [»"*example.com"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "*example.com": "*" may only be the whole first label, as in "*.example.com"']] },
  { name: 'allow_hosts: a whole TLD', toml: '[network]\nallow_hosts = [»"*.com"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "*.com" would match a whole top-level domain', 'anchor the wildcard at a registered name, e.g. "*.example.com"']] },
  { name: 'allow_hosts: a bad label', toml: '[network]\nallow_hosts = [»"-bad.example.com"]', problems: [['FORMAT', 'network.allow_hosts[0]', `network.allow_hosts[0]: "-bad.example.com" is not a host name: ${LABEL_RULE}`]] },
  { name: 'allow_hosts: an empty label', toml: '[network]\nallow_hosts = [»"a..example.com"]', problems: [['FORMAT', 'network.allow_hosts[0]', `network.allow_hosts[0]: "a..example.com" is not a host name: ${LABEL_RULE}`]] },
  { name: 'allow_hosts: unicode', toml: '[network]\nallow_hosts = [»"bücher.de"]', problems: [['FORMAT', 'network.allow_hosts[0]', `network.allow_hosts[0]: "bücher.de" is not a host name: ${LABEL_RULE}`, 'write international names in their ASCII (xn--) form']] },
  { name: 'allow_hosts: numeric last label', toml: '[network]\nallow_hosts = [»"example.123"]', problems: [['FORMAT', 'network.allow_hosts[0]', 'network.allow_hosts[0]: "example.123" is not a host name: the last label cannot be all digits']] },
  { name: 'allow_hosts: empty', toml: '[network]\nallow_hosts = [»""]', problems: [['FORMAT', 'network.allow_hosts[0]', `network.allow_hosts[0]: empty host pattern; expected ${HOST_FORM}`]] },
  { name: 'allow_hosts: too long', toml: `[network]\nallow_hosts = [»"${'a.'.repeat(130)}com"]`, problems: [['FORMAT', 'network.allow_hosts[0]', `network.allow_hosts[0]: host pattern "${'a.'.repeat(32)}…" is longer than a DNS name can be (253 characters)`]] },
  { name: 'allow_hosts: not a list', toml: '[network]\nallow_hosts = »"example.com"', problems: [['TYPE', 'network.allow_hosts', `network.allow_hosts: expected a list of host patterns: ${HOST_FORM}, got a string`, 'write a list in brackets, e.g. allow_hosts = ["…"]']] },
  { name: 'allow_cidrs: host bits set', toml: '[network]\nallow_cidrs = [»"10.0.0.1/8"]', problems: [['FORMAT', 'network.allow_cidrs[0]', 'network.allow_cidrs[0]: "10.0.0.1/8" has host bits set after the /8 prefix', 'did you mean "10.0.0.0/8"?']] },
  { name: 'allow_cidrs: IPv6 host bits set', toml: '[network]\nallow_cidrs = [»"2001:db8::1/32"]', problems: [['FORMAT', 'network.allow_cidrs[0]', 'network.allow_cidrs[0]: "2001:db8::1/32" has host bits set after the /32 prefix', 'did you mean "2001:db8::/32"?']] },
  { name: 'allow_cidrs: prefix too long', toml: '[network]\nallow_cidrs = [»"10.0.0.0/33"]', problems: [['RANGE', 'network.allow_cidrs[0]', 'network.allow_cidrs[0]: "10.0.0.0/33": prefix length 33 is out of range; IPv4 prefixes are 0 to 32']] },
  { name: 'allow_cidrs: IPv6 prefix too long', toml: '[network]\nallow_cidrs = [»"::/129"]', problems: [['RANGE', 'network.allow_cidrs[0]', 'network.allow_cidrs[0]: "::/129": prefix length 129 is out of range; IPv6 prefixes are 0 to 128']] },
  { name: 'allow_cidrs: prefix not a number', toml: '[network]\nallow_cidrs = [»"10.0.0.0/x"]', problems: [['FORMAT', 'network.allow_cidrs[0]', `network.allow_cidrs[0]: "10.0.0.0/x" is not a CIDR block: the prefix length after "/" must be a number; expected ${CIDR_FORM}`]] },
  { name: 'allow_cidrs: a host name', toml: '[network]\nallow_cidrs = [»"example.com"]', problems: [['FORMAT', 'network.allow_cidrs[0]', `network.allow_cidrs[0]: "example.com" is not a CIDR block: "example.com" is not an IP address; expected ${CIDR_FORM}`, 'host names go in allow_hosts; allow_cidrs takes IP addresses']] },
  { name: 'allow_cidrs: leading zeros', toml: '[network]\nallow_cidrs = [»"010.0.0.0/8"]', problems: [['FORMAT', 'network.allow_cidrs[0]', `network.allow_cidrs[0]: "010.0.0.0/8" is not a CIDR block: "010.0.0.0" is not an IP address; expected ${CIDR_FORM}`]] },
  { name: 'allow_cidrs: empty', toml: '[network]\nallow_cidrs = [»""]', problems: [['FORMAT', 'network.allow_cidrs[0]', `network.allow_cidrs[0]: empty CIDR block; expected ${CIDR_FORM}`]] },

  // --- [auth] ---
  { name: 'ssh_agent: a string', toml: '[auth]\nssh_agent = »"yes"', problems: [['TYPE', 'auth.ssh_agent', 'auth.ssh_agent: expected true or false, got a string']] },
  { name: 'ssh_keys: short fingerprint', toml: '[auth]\nssh_agent = true\nssh_keys = [»"SHA256:abc"]', problems: [['FORMAT', 'auth.ssh_keys[0]', `auth.ssh_keys[0]: invalid key fingerprint "SHA256:abc"; expected ${KEY_FILTER}`]] },
  { name: 'ssh_keys: MD5 fingerprint', toml: '[auth]\nssh_agent = true\nssh_keys = [»"MD5:aa:bb"]', problems: [['FORMAT', 'auth.ssh_keys[0]', `auth.ssh_keys[0]: invalid key fingerprint "MD5:aa:bb"; expected ${KEY_FILTER}`, 'use the SHA256 fingerprint (ssh-add -l -E sha256)']] },
  { name: 'ssh_keys: a control character', toml: '[auth]\nssh_agent = true\nssh_keys = [»"a\\tb"]', problems: [['FORMAT', 'auth.ssh_keys[0]', `auth.ssh_keys[0]: invalid key filter "a\\tb"; expected ${KEY_FILTER}`]] },
  {
    name: 'ssh_keys without ssh_agent',
    toml: '[auth]\nssh_keys = »["deploy@ci"]',
    problems: [['CONFLICT', 'auth.ssh_keys', 'auth.ssh_keys: has no effect unless ssh_agent = true', 'add ssh_agent = true to [auth], or remove ssh_keys']],
  },

  // --- [health] ---
  { name: 'health: no exec', toml: '[»health]\ninterval = "10s"\n', problems: [['MISSING_KEY', 'health.exec', 'health.exec: required key is missing', `add exec to [health]; it accepts ${HEALTH_EXEC}`]] },
  { name: 'health.exec: a number', toml: '[health]\nexec = »1', problems: [['TYPE', 'health.exec', `health.exec: expected ${HEALTH_EXEC}, got an integer`]] },
  { name: 'health.exec: empty list', toml: '[health]\nexec = »[]', problems: [['FORMAT', 'health.exec', `health.exec: the command is empty; expected ${HEALTH_EXEC}`]] },
  { name: 'health.exec: empty string', toml: '[health]\nexec = »""', problems: [['FORMAT', 'health.exec', 'health.exec: command is empty; expected a shell command such as "apk add curl"']] },
  { name: 'health.exec: not strings', toml: '[health]\nexec = ["curl", »2]', problems: [['TYPE', 'health.exec[1]', 'health.exec[1]: expected a string, got an integer']] },
  { name: 'health.exec: NUL', toml: '[health]\nexec = »["a\\u0000"]', problems: [['FORMAT', 'health.exec', 'health.exec: argument contains a NUL character, which a program argument cannot hold']] },
  { name: 'health.exec: too long', toml: `[health]\nexec = »[${'"a",'.repeat(1025)}]`, problems: [['RANGE', 'health.exec', 'health.exec: has 1025 entries; at most 1024 are accepted']] },
  { name: 'health.interval: too short', toml: `${HEALTH}interval = »"500ms"`, problems: [['RANGE', 'health.interval', 'health.interval: duration "500ms" is out of range; expected between 1s and 24h']] },
  { name: 'health.interval: no unit', toml: `${HEALTH}interval = »"30"`, problems: [['FORMAT', 'health.interval', 'health.interval: duration "30" has no unit', 'write "30s" for seconds or "30ms" for milliseconds']] },
  { name: 'health.interval: a number', toml: `${HEALTH}interval = »30`, problems: [['TYPE', 'health.interval', 'health.interval: expected a duration from 1s to 24h such as "10s", "5m" or "1h30m", got an integer']] },
  { name: 'health.interval: a fraction', toml: `${HEALTH}interval = »"1.5s"`, problems: [['FORMAT', 'health.interval', `health.interval: invalid duration "1.5s"; expected ${DURATION}`, 'fractions are not accepted; use a smaller unit, e.g. "1500ms" for 1.5s']] },
  { name: 'health.interval: units out of order', toml: `${HEALTH}interval = »"5m1h"`, problems: [['FORMAT', 'health.interval', 'health.interval: invalid duration "5m1h": each unit may appear once, largest first (h, m, s, ms)']] },
  { name: 'health.interval: unknown unit', toml: `${HEALTH}interval = »"1d"`, problems: [['FORMAT', 'health.interval', `health.interval: invalid duration "1d"; expected ${DURATION}`]] },
  { name: 'health.interval: empty', toml: `${HEALTH}interval = »""`, problems: [['FORMAT', 'health.interval', `health.interval: empty duration; expected ${DURATION}`]] },
  { name: 'health.interval: too long text', toml: `${HEALTH}interval = »"${'1'.repeat(40)}s"`, problems: [['FORMAT', 'health.interval', `health.interval: duration "${'1'.repeat(40)}s" is too long; expected ${DURATION}`]] },
  { name: 'health.interval: too large a number', toml: `${HEALTH}interval = »"${'9'.repeat(20)}h"`, problems: [['RANGE', 'health.interval', `health.interval: duration "${'9'.repeat(20)}h" is too long to represent`]] },
  {
    name: 'health.timeout: longer than the interval',
    toml: `${HEALTH}interval = "10s"\ntimeout = »"20s"`,
    problems: [['CONFLICT', 'health.timeout', 'health.timeout: 20s is longer than the interval (10s)', 'a check must end before the next one starts: set timeout to at most 10s']],
  },
  {
    name: 'health.interval: shorter than the default timeout',
    toml: `${HEALTH}interval = »"2s"`,
    problems: [['CONFLICT', 'health.interval', 'health.interval: 2s is shorter than the default timeout (5s)', 'a check must end before the next one starts: set timeout to at most 2s']],
  },
  { name: 'health.timeout: too long', toml: `${HEALTH}timeout = »"2h"`, problems: [['RANGE', 'health.timeout', 'health.timeout: duration "2h" is out of range; expected between 1s and 1h']] },
  { name: 'health.retries: zero', toml: `${HEALTH}retries = »0`, problems: [['RANGE', 'health.retries', 'health.retries: expected an integer from 1 to 100, got 0']] },
  { name: 'health.retries: too many', toml: `${HEALTH}retries = »101`, problems: [['RANGE', 'health.retries', 'health.retries: expected an integer from 1 to 100, got 101']] },
  { name: 'health.startup_grace: too long', toml: `${HEALTH}startup_grace = »"1h1s"`, problems: [['RANGE', 'health.startup_grace', 'health.startup_grace: duration "1h1s" is out of range; expected between 0s and 1h']] },

  // --- [restart] ---
  { name: 'restart.policy: unknown', toml: '[restart]\npolicy = »"sometimes"', problems: [['RANGE', 'restart.policy', 'restart.policy: expected one of "never", "on-failure" or "always", got "sometimes"']] },
  { name: 'restart.policy: not a string', toml: '[restart]\npolicy = »true', problems: [['TYPE', 'restart.policy', 'restart.policy: expected one of "never", "on-failure" or "always", got a boolean']] },
  { name: 'restart.max_retries: zero', toml: '[restart]\npolicy = "on-failure"\nmax_retries = »0', problems: [['RANGE', 'restart.max_retries', 'restart.max_retries: expected an integer from 1 to 10000, got 0']] },
  {
    name: 'restart.max_retries with policy never',
    toml: '[restart]\nmax_retries = »3',
    problems: [['CONFLICT', 'restart.max_retries', 'restart.max_retries: has no effect with policy "never"', 'set policy = "on-failure" or "always", or remove max_retries']],
  },
  { name: 'restart.max_backoff: too short', toml: '[restart]\nmax_backoff = »"100ms"', problems: [['RANGE', 'restart.max_backoff', 'restart.max_backoff: duration "100ms" is out of range; expected between 1s and 1h']] },

  // --- [dev] and [pack] ---
  { name: 'dev: not a table', toml: 'dev = »true', problems: [['TYPE', 'dev', 'dev: expected a table, got a boolean']] },
  { name: 'dev.volumes: bad spec', toml: '[dev]\nvolumes = [»"./src"]', problems: [['FORMAT', 'dev.volumes[0]', `dev.volumes[0]: invalid volume "./src": expected ${VOLUME_FORM}`, 'add the path in the machine, e.g. "./data:/data"']] },
  { name: 'dev.env: duplicate', toml: '[dev]\nenv = ["A=1", »"A=2"]', problems: [['DUPLICATE', 'dev.env[1]', 'dev.env[1]: A is set more than once in this list', 'keep one entry; to change a value for local runs, use [dev] env']] },
  { name: 'dev.workdir: relative', toml: '[dev]\nworkdir = »"src"', problems: [['FORMAT', 'dev.workdir', 'dev.workdir: "src" is not an absolute path; expected an absolute path in the machine, e.g. "/app"']] },
  { name: 'dev.ports: out of range', toml: '[dev]\nports = [»"99999:80"]', problems: [['RANGE', 'dev.ports[0]', 'dev.ports[0]: invalid port mapping "99999:80": host port 99999 is out of range; ports are 1 to 65535']] },
  { name: 'dev.init: not a list', toml: '[dev]\ninit = »"make"', problems: [['TYPE', 'dev.init', 'dev.init: expected a list of shell commands, e.g. ["apk add --no-cache curl"], got a string', 'write a list in brackets, e.g. init = ["…"]']] },
  {
    name: 'dev.env: a name that is also a secret',
    toml: '[dev]\nenv = [»"TOKEN=local"]\n[secrets]\nTOKEN = { from_env = "T" }\n',
    problems: [['CONFLICT', 'dev.env[0]', 'dev.env[0]: TOKEN is also declared in [secrets]', 'a name is either an env entry or a secret; remove one of them']],
  },
  { name: 'pack.memory: too small', toml: '[pack]\nmemory = »1', problems: [['RANGE', 'pack.memory', 'pack.memory: expected an integer number of MiB from 64 to 262144, got 1']] },
  { name: 'pack.cpus: quoted', toml: '[pack]\ncpus = »"4"', problems: [['TYPE', 'pack.cpus', 'pack.cpus: expected an integer number of CPUs from 1 to 64, got a string', 'cpus is a whole number without quotes, e.g. cpus = 2']] },
  { name: 'pack.cmd: not a list', toml: '[pack]\ncmd = »"serve"', problems: [['TYPE', 'pack.cmd', `pack.cmd: expected ${ARGV}, got a string`, 'write a list in brackets, e.g. cmd = ["…"]']] },
  { name: 'pack.user: malformed', toml: '[pack]\nuser = »"a:b:c"', problems: [['FORMAT', 'pack.user', 'pack.user: invalid user "a:b:c"; expected a user name or uid, optionally followed by ":group" or ":gid", e.g. "app" or "1000:1000"']] },
  { name: 'pack.storage: too large', toml: '[pack]\nstorage = »9999', problems: [['RANGE', 'pack.storage', 'pack.storage: expected an integer number of GiB from 1 to 2048, got 9999']] },

  // --- [secrets] ---
  { name: 'secrets: not a table', toml: 'secrets = »["A"]', problems: [['TYPE', 'secrets', 'secrets: expected a table of secrets, NAME = { from_env = "VARIABLE" } or NAME = { from_file = "/absolute/path" }, got a list']] },
  {
    name: 'secrets: a value written inline is not repeated',
    toml: '[secrets]\nTOKEN = »"hunter2-very-secret"',
    problems: [['TYPE', 'secrets.TOKEN', `secrets.TOKEN: expected ${SECRET_FORM}, got a string`]],
  },
  { name: 'secrets: no source', toml: '[secrets]\nTOKEN = »{}', problems: [['MISSING_KEY', 'secrets.TOKEN', `secrets.TOKEN: says nowhere to read the secret from; expected ${SECRET_FORM}`]] },
  { name: 'secrets: two sources', toml: '[secrets]\nTOKEN = »{ from_env = "A", from_file = "/a" }', problems: [['CONFLICT', 'secrets.TOKEN', 'secrets.TOKEN: sets both from_env and from_file', 'keep one of them']] },
  { name: 'secrets: bad variable name', toml: '[secrets]\nTOKEN = { from_env = »"GH-TOKEN" }', problems: [['FORMAT', 'secrets.TOKEN.from_env', 'secrets.TOKEN.from_env: "GH-TOKEN" is not an environment variable name; expected a name of letters, digits and "_" that does not start with a digit']] },
  { name: 'secrets: relative file', toml: '[secrets]\nTOKEN = { from_file = »"token.txt" }', problems: [['FORMAT', 'secrets.TOKEN.from_file', 'secrets.TOKEN.from_file: "token.txt" is not an absolute path; expected an absolute path on the host, e.g. "/run/secrets/token"', 'secret files are named by absolute path']] },
  { name: 'secrets: empty file path', toml: '[secrets]\nTOKEN = { from_file = »"" }', problems: [['FORMAT', 'secrets.TOKEN.from_file', 'secrets.TOKEN.from_file: empty path; expected an absolute path on the host, e.g. "/run/secrets/token"']] },
  { name: 'secrets: file not a string', toml: '[secrets]\nTOKEN = { from_file = »1 }', problems: [['TYPE', 'secrets.TOKEN.from_file', 'secrets.TOKEN.from_file: expected an absolute path on the host, e.g. "/run/secrets/token", got an integer']] },
  { name: 'secrets: bad name', toml: '[secrets]\n»"my-token" = { from_env = "A" }', problems: [['FORMAT', 'secrets.my-token', 'secrets.my-token: "my-token" is not a valid secret name; expected a name of letters, digits and "_" that does not start with a digit']] },
  { name: 'secrets: reserved name', toml: '[secrets]\n»constructor = { from_env = "A" }', problems: [['FORMAT', 'secrets.constructor', 'secrets.constructor: "constructor" cannot be used as a name here', 'choose another name']] },
  { name: 'secrets: name too long', toml: `[secrets]\n»${'A'.repeat(257)} = { from_env = "A" }`, problems: [['RANGE', `secrets.${'A'.repeat(257)}`, `secrets.${'A'.repeat(257)}: "${'A'.repeat(64)}…" is too long for a secret name`]] },
  {
    name: 'secrets: too many',
    toml: `»[secrets]\n${Array.from({ length: 257 }, (_, i) => `S${i} = { from_env = "A" }`).join('\n')}`,
    problems: [['RANGE', 'secrets', 'secrets: has 257 entries; at most 256 are accepted']],
  },

  // --- many problems at once ---
  {
    name: 'every problem in a file is reported, in file order',
    toml: [
      'image = »"Alpine"',
      '»cpu = 2',
      'memory = »16',
      'ports = ["8080:80", »"x:80"]',
      '[health]',
      'exec = "true"',
      'interval = »"10"',
      '[restart]',
      '»polcy = "always"',
    ].join('\n'),
    problems: [
      ['FORMAT', 'image', `image: invalid image reference "Alpine": "Alpine" is not a valid repository name component; expected ${IMAGE_FORM}`, 'repository names are lower case'],
      ['UNKNOWN_KEY', 'cpu', 'cpu: unknown key', 'did you mean "cpus"?'],
      ['RANGE', 'memory', 'memory: expected an integer number of MiB from 64 to 262144, got 16'],
      ['FORMAT', 'ports[1]', `ports[1]: invalid port mapping "x:80": "x" is not a host port number; expected ${PORT_FORM}`],
      ['FORMAT', 'health.interval', 'health.interval: duration "10" has no unit', 'write "10s" for seconds or "10ms" for milliseconds'],
      ['UNKNOWN_KEY', 'restart.polcy', 'restart.polcy: unknown key', 'did you mean "policy"?'],
    ],
  },
];
