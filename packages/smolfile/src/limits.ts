// Bounds on every value and list a Smolfile can hold. Kept in one place so the schema, the parsers, the docs and
// the CLI agree. The bounds are generous for real use and small enough that a hostile file cannot make the
// parser or the machine setup do unbounded work.

/** Bounds enforced while parsing and validating a Smolfile. */
export const SMOLFILE_LIMITS = {
  /** Largest Smolfile read or parsed, in bytes. */
  maxFileBytes: 1024 * 1024,
  /** Deepest nesting of arrays and inline tables accepted by the TOML parser. */
  maxTomlDepth: 32,
  cpus: { min: 1, max: 64 },
  memoryMiB: { min: 64, max: 262_144 },
  storageGiB: { min: 1, max: 2048 },
  /** Entries in `entrypoint` or `cmd`. */
  maxArgs: 1024,
  /** Bytes in one argument or one env entry (Linux refuses longer ones in exec). */
  maxArgBytes: 131_072,
  maxEnv: 1024,
  maxEnvNameLength: 256,
  maxPorts: 128,
  maxVolumes: 64,
  maxInit: 128,
  maxInitCommandBytes: 65_536,
  maxPathLength: 4096,
  maxAllowHosts: 1024,
  maxAllowCidrs: 1024,
  maxSshKeys: 64,
  maxSecrets: 256,
  maxImageReferenceLength: 512,
  /** Bytes read from one secret file. */
  maxSecretBytes: 65_536,
} as const;
