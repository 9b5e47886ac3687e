// "Did you mean" for unknown keys: an edit-distance match among the keys a table accepts, plus names people
// bring from other tools (Docker, Compose, Vagrant) that edit distance would not find.

const ALIASES: Readonly<Record<string, string>> = {
  mem: 'memory',
  ram: 'memory',
  memory_mib: 'memory',
  vcpus: 'cpus',
  cpu_count: 'cpus',
  disk: 'storage',
  disk_size: 'storage',
  environment: 'env',
  cwd: 'workdir',
  working_dir: 'workdir',
  working_directory: 'workdir',
  command: 'cmd',
  args: 'cmd',
  mounts: 'volumes',
  expose: 'ports',
  publish: 'ports',
  network_mode: 'net',
  networking: 'net',
  healthcheck: 'health',
  restart_policy: 'restart',
  allowed_hosts: 'allow_hosts',
  hosts: 'allow_hosts',
  allowed_cidrs: 'allow_cidrs',
  cidrs: 'allow_cidrs',
  agent: 'ssh_agent',
  forward_agent: 'ssh_agent',
  keys: 'ssh_keys',
  cmd_shell: 'exec',
  test: 'exec',
  command_line: 'exec',
  start_period: 'startup_grace',
  max_attempts: 'max_retries',
  env_file: 'env',
};

const MAX_COMPARED_LENGTH = 64;

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  const rows: number[][] = [];
  for (let i = 0; i <= x.length; i++) {
    const row: number[] = [i];
    for (let j = 1; j <= y.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const above = rows[i - 1] ?? [];
      const cost = x[i - 1] === y[j - 1] ? 0 : 1;
      let best = Math.min((above[j] ?? 0) + 1, (row[j - 1] ?? 0) + 1, (above[j - 1] ?? 0) + cost);
      if (i > 1 && j > 1 && x[i - 1] === y[j - 2] && x[i - 2] === y[j - 1]) {
        best = Math.min(best, (rows[i - 2]?.[j - 2] ?? 0) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return rows[x.length]?.[y.length] ?? Math.max(x.length, y.length);
}

/** The accepted key closest to `key`, when one is close enough to be a likely typo. */
export function suggestKey(key: string, accepted: readonly string[]): string | undefined {
  const lower = key.toLowerCase().replace(/-/g, '_');
  const alias = ALIASES[lower];
  if (alias !== undefined && accepted.includes(alias)) return alias;
  if (accepted.includes(lower)) return lower;
  if (key.length > MAX_COMPARED_LENGTH) return undefined;
  const limit = key.length <= 4 ? 1 : key.length <= 8 ? 2 : 3;
  let best: string | undefined;
  let bestDistance = limit + 1;
  for (const candidate of accepted) {
    const distance = editDistance(lower, candidate);
    if (distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  if (best !== undefined) return best;
  // A key that starts with an accepted one ("environment_vars", "storage_gib"): the longest such key.
  const prefixed = accepted.filter((candidate) => candidate.length >= 3 && lower.startsWith(candidate));
  return prefixed.sort((a, b) => b.length - a.length)[0];
}
