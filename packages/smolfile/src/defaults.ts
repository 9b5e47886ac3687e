// Values a machine gets for what neither the Smolfile nor the CLI says. Shown in the reference docs and the
// JSON Schema, applied by resolveMachineConfig.

export const MACHINE_DEFAULTS = {
  cpus: 1,
  memoryMiB: 512,
  storageGiB: 10,
  net: false,
  health: { intervalMs: 30_000, timeoutMs: 5_000, retries: 3, startupGraceMs: 0 },
  restart: { policy: 'never', maxBackoffMs: 60_000 },
} as const;
