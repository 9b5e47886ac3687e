// Error codes of the state store. They live beside the store (not in ../errors.ts) so the store can be
// reviewed and moved as one piece; every one is thrown as a `SmolvmError`, so `isSmolvmError` covers them.
export const StateErrorCode = {
  /** The database could not be opened, read or written (native module missing, corrupt file, disk full). */
  STATE_DB: 'SMOLVM_ERR_STATE_DB',
  /** The database was written by a newer smolvm whose schema this version does not know. */
  STATE_SCHEMA_TOO_NEW: 'SMOLVM_ERR_STATE_SCHEMA_TOO_NEW',
  /** The store was used after `close()`. */
  STATE_CLOSED: 'SMOLVM_ERR_STATE_CLOSED',
  INVALID_MACHINE_NAME: 'SMOLVM_ERR_INVALID_MACHINE_NAME',
  MACHINE_EXISTS: 'SMOLVM_ERR_MACHINE_EXISTS',
  MACHINE_NOT_FOUND: 'SMOLVM_ERR_MACHINE_NOT_FOUND',
  /** The change needs the machine stopped (or `force`), and its supervisor is alive. */
  MACHINE_RUNNING: 'SMOLVM_ERR_MACHINE_RUNNING',
  /** `setState` asked for a transition the lifecycle does not allow (e.g. `stopped -> running`). */
  INVALID_STATE_TRANSITION: 'SMOLVM_ERR_INVALID_STATE_TRANSITION',
  /** Another process held the machine's lock for longer than the caller was willing to wait. */
  MACHINE_LOCKED: 'SMOLVM_ERR_MACHINE_LOCKED',
} as const;
