export { Machine } from './machine.js';
export type {
  MachineOptions,
  RunOptions,
  RunResult,
  ExecOptions,
  ExecResult,
  SpawnOptions,
  OutputHandler,
  CreateOptions,
  MachineInfo,
  MachineStats,
} from './machine.js';
export { MACHINE_NAME_RULE, checkMachineName, smolvmHome } from './state/index.js';
export type { MachineRecord, MachineState, MachineConfigInput, MachineConfigPatch, RestartPolicy, MachineHealthCheck } from './state/index.js';
export type { SupervisorStats, SupervisorStatus } from './supervisor/control.js';
export { GuestProcess } from './process.js';
export type { ProcessExit } from './process.js';
export { MachineFiles } from './files.js';
export type { FsEntry, WriteFileOptions } from './files.js';
export { doctor } from './doctor.js';
export type { DoctorReport, DoctorCheck } from './doctor.js';
export { SmolvmError, isSmolvmError, ErrorCode } from './errors.js';
export { chooseAccelerator, findQemu } from './host.js';
export type { Accelerator, AcceleratorChoice, QemuInfo } from './host.js';
export { selectEngine } from './select-engine.js';
export { QemuEngine, qemuArgs } from './qemu-engine.js';
export type { Engine, VmSpec, RunningVm, VmExit, BootOptions } from './engine.js';
export { parseDuration, formatDuration } from '@smolvm/smolfile/duration';
export { chooseEngine } from './select-engine.js';
export type { EngineChoice, SelectEngineOptions } from './select-engine.js';
export type { DoctorOptions } from './doctor.js';
export { KrunEngine, KrunEngineError, krunExitError } from './krun-engine.js';
export type { KrunEngineOptions } from './krun-engine.js';
export { describeKrunProbe, krunHypervisor, probeKrun } from './krun-host.js';
export type { KrunHostOptions, KrunHypervisor, KrunLibraryInfo, KrunProbe } from './krun-host.js';
export { KRUN_AGENT_VSOCK_PORT, KRUN_ENGINE_ERROR_CODES, krunKernelCmdline, krunKernelFormat, krunVmSpec } from './krun-spec.js';
export type { KrunVmSpecOptions } from './krun-spec.js';
export { normalizeEnv } from './options.js';
export { MAX_VOLUMES, normalizeVolumes, volumeTag } from './volumes.js';
export type { VolumeInput, VolumeMount } from './volumes.js';
export { DEFAULT_PORT_ADDRESS, MAX_PORTS, formatPort, normalizePorts } from './ports.js';
export type { PortInput, PortMapping } from './ports.js';
export { PortForwarder, MAX_FORWARDED_CONNECTIONS } from './port-forwarder.js';
export type { PortForwarderOptions } from './port-forwarder.js';
export {
  SMOLFILE_NAME,
  UnsupportedSettingError,
  checkSmolfileFile,
  findSmolfile,
  formatSmolfileProblem,
  loadMachineConfig,
  notAppliedSettings,
  runInitCommands,
  smolfileCreateOptions,
  smolfileRunOptions,
} from './smolfile.js';
export type {
  LoadMachineConfigOptions,
  LoadedMachineConfig,
  NotAppliedSetting,
  SmolfileCreateOptionsOptions,
  SmolfileFileCheck,
  SmolfileInit,
  SmolfileMachineConfig,
  SmolfileOverrides,
  SmolfileRunOptions,
  SmolfileRunOptionsOptions,
  SmolfileSource,
  SmolfileTarget,
} from './smolfile.js';
export type { SmolfileProblem } from '@smolvm/smolfile';
export { pullImage, listImages, removeImage, pruneImages, resolveImage, resolveImageSource, parsePinnedImage, imageCommand } from './images.js';
export type { ImageInput, ImagePullOptions, ImageProgressEvent, ResolvedImage, ImageInfo, ImageStoreOptions, PruneImagesOptions } from './images.js';
export type { ImageSource, ImageConfig, ImageRecord, PruneResult } from '@smolvm/oci';
