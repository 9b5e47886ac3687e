export { OciError, isSmolvmError, isOciError } from './errors.js';
export type { OciErrorCode, OciErrorOptions } from './errors.js';
export { parseReference, formatReference, isLoopbackHost } from './reference.js';
export type { ImageReference } from './reference.js';
export { isDigest, digestOf } from './digest.js';
export {
  MediaTypes,
  parseManifest,
  parseImageConfig,
  hostPlatform,
  parsePlatform,
  formatPlatform,
  selectPlatform,
} from './manifest.js';
export type { Descriptor, Platform, ImageManifest, ImageIndex, ImageConfig } from './manifest.js';
export { resolveCredentials, parseChallenges } from './auth.js';
export type { RegistryCredentials, CredentialsOption, CredentialSources, ResolvedCredentials, AuthChallenge } from './auth.js';
export { RegistryClient } from './registry.js';
export type { RegistryClientOptions, FetchedManifest, FetchBlobOptions } from './registry.js';
export { BlobStore, defaultCacheDir } from './cache.js';
export { readTar } from './tar.js';
export type { ByteSource, TarEntry, TarEntryType, TarEntryWithBody, TarReadLimits } from './tar.js';
export { StagingTree, cleanEntryPath } from './staging.js';
export type { InodeMeta, InodeType, ApplyLayerStats } from './staging.js';
export { buildImageDisk, applyLayers, decompressLayer } from './disk.js';
export type { BuildImageDiskOptions, LayerInput, ImageDiskStats, BuildProgressEvent } from './disk.js';
export { resolveImageSource } from './source.js';
export type { ImageSource } from './source.js';
export { pullImage, listImages, findImages, removeImage, pruneImages, ensureImageDisk } from './store.js';
export type {
  ImageRecord,
  ImageStoreOptions,
  ImageSourceKind,
  PullOptions,
  EnsureImageDiskOptions,
  ImageDisk,
  PruneOptions,
  PruneResult,
  OciProgressEvent,
  BlobProgressEvent,
  DiskProgressEvent,
  ImportProgressEvent,
} from './store.js';
