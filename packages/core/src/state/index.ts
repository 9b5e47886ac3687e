// The state layer of persistent machines: the SQLite store, machine records, locks and process identity.
export { openStateStore, SUPERVISOR_DIED } from './store.js';
export type { StateStore, StateStoreOptions, StateChange, RemoveMachineOptions, MachineLockOptions, MachineLock } from './store.js';
export {
  ACTIVE_STATES,
  MACHINE_CONFIG_DEFAULTS,
  MACHINE_STATES,
  STATE_TRANSITIONS,
  resolveMachineConfig,
} from './machine-record.js';
export type {
  MachineConfig,
  MachineConfigInput,
  MachineConfigPatch,
  MachineHealthCheck,
  MachineHealthCheckInput,
  MachineRecord,
  MachineSpec,
  MachineState,
  RestartPolicy,
} from './machine-record.js';
export { smolvmHome, checkMachineName, isValidMachineName, MACHINE_NAME_PATTERN, MACHINE_NAME_RULE } from './paths.js';
export { processStartTime, isProcessAlive } from './process-identity.js';
export { STATE_SCHEMA_VERSION } from './schema.js';
export { StateErrorCode } from './errors.js';
