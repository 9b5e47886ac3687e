// @smolvm/krun: a lazily loaded koffi binding of libkrun's C API, and the runner process that owns a
// VM. Importing this module opens no native library and does not load koffi; loadKrun() does.
export {
  KRUN_COMPAT_NET_FEATURES,
  KRUN_DISK_FORMATS,
  KRUN_FEATURES,
  KRUN_FS_ROOT_TAG,
  KRUN_KERNEL_FORMATS,
  KRUN_LOG_LEVELS,
  KRUN_LOG_OPTION_NO_ENV,
  KRUN_LOG_STYLES,
  KRUN_LOG_TARGET_DEFAULT,
  KRUN_MAX_DISPLAYS,
  KRUN_MAX_EXEC_ARGS,
  KRUN_MAX_EXEC_ENV,
  KRUN_NET_FEATURES,
  KRUN_NET_FLAG_DHCP_CLIENT,
  KRUN_NET_FLAG_VFKIT,
  KRUN_SYNC_MODES,
  KRUN_TSI_HIJACK_INET,
  KRUN_TSI_HIJACK_UNIX,
  KRUN_VIRTIO_DEVICES,
} from './constants.js';
export type {
  KrunDiskFormat,
  KrunFeatureName,
  KrunKernelFormat,
  KrunLogLevel,
  KrunLogLevelName,
  KrunLogStyle,
  KrunSyncMode,
  KrunVirtioDevice,
} from './constants.js';
export { errnoName, isKrunError, isSmolvmError, KRUN_ERROR_CODES, KrunError } from './errors.js';
export type { KrunErrorCode, KrunErrorJson, KrunErrorOptions, KrunLookupAttempt } from './errors.js';
export { Krun } from './library.js';
export type {
  KrunFeatures,
  KrunInitLogOptions,
  KrunMacAddress,
  KrunNetEndpoint,
  KrunTsiFeatures,
  KrunVhostUserOptions,
} from './library.js';
export { defaultKrunfwCandidates, defaultKrunfwNames, findKrunfw, krunfwNamesIn } from './krunfw.js';
export type { FindKrunfwResult, KrunfwCandidateOptions, KrunfwLibrary } from './krunfw.js';
export { HYPERVISOR_ENTITLEMENT, SMOLVM_KRUN_NODE_ENV, hasHypervisorEntitlement, hypervisorNode } from './hypervisor-node.js';
export type { HypervisorNodeOptions } from './hypervisor-node.js';
export { krunLoaderState, loadKrun } from './loader.js';
export type { KrunLoaderState, LoadKrunOptions } from './loader.js';
export { defaultLibkrunCandidates, libkrunInstallHint, SMOLVM_LIBKRUN_ENV } from './lookup.js';
export type { KrunCandidateOptions } from './lookup.js';
export { runVm, validateKrunVmSpec } from './runner.js';
export type {
  KrunDiskSpec,
  KrunExecSpec,
  KrunKernelSpec,
  KrunRootDiskRemountSpec,
  KrunVirtiofsSpec,
  KrunVmSpec,
  KrunVsockPortSpec,
} from './runner.js';
export {
  describeExitStatus,
  formatRunnerError,
  KRUN_EXIT_INIT_CANNOT_EXECUTE,
  KRUN_EXIT_INIT_NOT_FOUND,
  KRUN_EXIT_INIT_SETUP_FAILED,
  parseRunnerError,
  RUNNER_EXIT_SETUP_FAILED,
  runnerPath,
} from './runner-protocol.js';
export type { RunnerErrorLine } from './runner-protocol.js';
export { KRUN_FUNCTION_NAMES, KRUN_SYMBOLS } from './symbols.js';
export type { KrunFunctionName, KrunSymbol, KrunSymbolAvailability } from './symbols.js';
