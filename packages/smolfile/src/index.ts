// Public surface of @smolvm/smolfile: the Smolfile schema, parser, validator and merge rules.
export {
  isSmolvmError,
  SmolfileError,
  type SmolfileErrorCode,
  type SmolfileErrorOptions,
  type SmolfileProblem,
  type SmolfileProblemCode,
  type SmolvmErrorLike,
} from './errors.js';
export {
  checkSmolfile,
  loadSmolfile,
  parseSmolfile,
  type LoadSmolfileOptions,
  type ParseSmolfileOptions,
  type SmolfileCheckResult,
} from './parse.js';
export {
  type AuthConfig,
  type HealthCheck,
  type NetworkPolicy,
  type RestartConfig,
  type RestartPolicyName,
  type SecretSource,
  type Smolfile,
  type SmolfileDevOverrides,
  type SmolfileInput,
  type SmolfilePackOverrides,
} from './schema.js';
export {
  resolveMachineConfig,
  type CliOverrides,
  type MachineConfig,
  type ResolveMachineConfigOptions,
} from './merge.js';
export { resolveSecrets, type ResolveSecretsOptions } from './secrets.js';
export { formatDuration, parseDuration } from './duration.js';
export { formatPortSpec, parsePortSpec, type PortSpec } from './ports.js';
export { formatVolumeSpec, parseVolumeSpec, type VolumeSpec, type VolumeSpecOptions } from './volumes.js';
export { parseCidr, parseIpAddress, type Cidr, type IpAddress } from './ip.js';
export { parseHostPattern, type HostPattern } from './host-pattern.js';
export { parseEnvEntry, type EnvEntry } from './env.js';
export { smolfileJsonSchema } from './json-schema.js';
export { renderSmolfileKeyTable, smolfileKeyReference, type SmolfileKeyReference } from './reference.js';
export { SMOLFILE_LIMITS } from './limits.js';
export { MACHINE_DEFAULTS } from './defaults.js';
export { localImageSource } from './values.js';
