// Manifests, indexes and image configs: OCI and Docker schema 2. Everything here is untrusted input, so
// each parser checks shape and bounds and throws only coded errors.
import { arch as hostArch } from 'node:process';
import { isDigest } from './digest.js';
import { OciError } from './errors.js';

export const MediaTypes = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  ociLayerZstd: 'application/vnd.oci.image.layer.v1.tar+zstd',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayer: 'application/vnd.docker.image.rootfs.diff.tar',
  dockerLayerGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  dockerForeignLayerGzip: 'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
  dockerSchema1: 'application/vnd.docker.distribution.manifest.v1+json',
  dockerSchema1Signed: 'application/vnd.docker.distribution.manifest.v1+prettyjws',
} as const;

/** The Accept header for manifest requests: every manifest or index kind this package reads. */
export const MANIFEST_ACCEPT = [
  MediaTypes.ociIndex,
  MediaTypes.ociManifest,
  MediaTypes.dockerManifestList,
  MediaTypes.dockerManifest,
].join(', ');

const LAYER_TYPES = new Set<string>([
  MediaTypes.ociLayer,
  MediaTypes.ociLayerGzip,
  MediaTypes.ociLayerZstd,
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+zstd',
  MediaTypes.dockerLayer,
  MediaTypes.dockerLayerGzip,
  MediaTypes.dockerForeignLayerGzip,
]);
const CONFIG_TYPES = new Set<string>([MediaTypes.ociConfig, MediaTypes.dockerConfig]);
const MAX_LAYERS = 1000;
const MAX_INDEX_ENTRIES = 1000;

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  platform?: Platform;
  annotations?: Record<string, string>;
}

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

export interface ImageManifest {
  kind: 'manifest';
  mediaType: string;
  config: Descriptor;
  layers: Descriptor[];
}

export interface ImageIndex {
  kind: 'index';
  mediaType: string;
  manifests: Descriptor[];
}

/** The parts of an image's config that decide how its workload runs, plus its layer identities. */
export interface ImageConfig {
  /** `KEY=value` strings, in the image's order. */
  env: string[];
  entrypoint: string[] | null;
  cmd: string[] | null;
  /** Empty string when the image does not set one (the runtime then uses `/`). */
  workingDir: string;
  /** Empty string when the image does not set one (the runtime then uses root). */
  user: string;
  labels: Record<string, string>;
  exposedPorts: string[];
  stopSignal: string | undefined;
  os: string;
  architecture: string;
  variant: string | undefined;
  /** sha256 of each uncompressed layer, in order (`rootfs.diff_ids`). */
  diffIds: string[];
}

function bad(message: string, hint?: string): OciError {
  return new OciError('SMOLVM_ERR_OCI_MANIFEST_INVALID', message, {
    hint: hint ?? 'The registry or archive served a document that is not a valid image manifest; check the image name, or report it to whoever publishes the image.',
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function parseJsonObject(bytes: Uint8Array, what: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes));
  } catch (e) {
    throw bad(`the ${what} is not valid JSON: ${(e as Error).message.slice(0, 200)}`);
  }
  if (!isRecord(value)) throw bad(`the ${what} is not a JSON object`);
  return value;
}

function stringMap(v: unknown, what: string): Record<string, string> | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v)) throw bad(`${what} is not an object of strings`);
  const out: Record<string, string> = {};
  for (const [k, val] of Object.entries(v)) {
    if (typeof val !== 'string') throw bad(`${what}.${k.slice(0, 80)} is not a string`);
    out[k] = val;
  }
  return out;
}

function descriptorPlatform(v: unknown, what: string): Platform | undefined {
  if (v === undefined || v === null) return undefined;
  if (!isRecord(v) || typeof v.os !== 'string' || typeof v.architecture !== 'string') {
    throw bad(`${what}.platform needs string "os" and "architecture"`);
  }
  const p: Platform = { os: v.os, architecture: v.architecture };
  if (typeof v.variant === 'string' && v.variant !== '') p.variant = v.variant;
  return p;
}

export function parseDescriptor(v: unknown, what: string): Descriptor {
  if (!isRecord(v)) throw bad(`${what} is not an object`);
  if (typeof v.mediaType !== 'string' || v.mediaType.length > 255) throw bad(`${what} has no valid mediaType`);
  if (!isDigest(v.digest)) throw bad(`${what} has an invalid digest ${JSON.stringify(String(v.digest).slice(0, 150))}`);
  if (typeof v.size !== 'number' || !Number.isSafeInteger(v.size) || v.size < 0) throw bad(`${what} has an invalid size`);
  const d: Descriptor = { mediaType: v.mediaType, digest: v.digest, size: v.size };
  const platform = descriptorPlatform(v.platform, what);
  if (platform) d.platform = platform;
  const annotations = stringMap(v.annotations, `${what}.annotations`);
  if (annotations) d.annotations = annotations;
  return d;
}

/**
 * Parses a manifest or index. `contentType` is the registry's Content-Type header (or the descriptor's
 * media type) and may be empty; the document's own `mediaType` field is used when present.
 */
export function parseManifest(bytes: Uint8Array, contentType = ''): ImageManifest | ImageIndex {
  const doc = parseJsonObject(bytes, 'manifest');
  const declared = typeof doc.mediaType === 'string' ? doc.mediaType : '';
  const header = contentType.split(';')[0]?.trim() ?? '';
  let mediaType = declared || header;
  if (mediaType === MediaTypes.dockerSchema1 || mediaType === MediaTypes.dockerSchema1Signed || doc.schemaVersion === 1) {
    throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', 'this image uses the Docker schema 1 manifest format, which is deprecated and not supported', {
      hint: 'Push the image again with a current tool (docker, buildah, skopeo) so that it has a schema 2 or OCI manifest.',
    });
  }
  if (doc.schemaVersion !== 2) throw bad('the manifest has no schemaVersion 2');
  if (!mediaType) mediaType = Array.isArray(doc.manifests) ? MediaTypes.ociIndex : MediaTypes.ociManifest;
  if (declared && header && header !== declared && header !== 'application/json' && header !== 'application/octet-stream') {
    throw bad(`the registry says the manifest is ${header.slice(0, 100)} but the document says ${declared.slice(0, 100)}`);
  }
  if (mediaType === MediaTypes.ociIndex || mediaType === MediaTypes.dockerManifestList) {
    if (!Array.isArray(doc.manifests)) throw bad('the image index has no "manifests" list');
    if (doc.manifests.length > MAX_INDEX_ENTRIES) throw bad(`the image index lists more than ${MAX_INDEX_ENTRIES} manifests`);
    return { kind: 'index', mediaType, manifests: doc.manifests.map((m, i) => parseDescriptor(m, `manifests[${i}]`)) };
  }
  if (mediaType === MediaTypes.ociManifest || mediaType === MediaTypes.dockerManifest) {
    const config = parseDescriptor(doc.config, 'config');
    if (!Array.isArray(doc.layers)) throw bad('the manifest has no "layers" list');
    if (doc.layers.length > MAX_LAYERS) throw bad(`the manifest lists more than ${MAX_LAYERS} layers`);
    const layers = doc.layers.map((l, i) => parseDescriptor(l, `layers[${i}]`));
    if (!CONFIG_TYPES.has(config.mediaType)) {
      throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', `this is not a container image: its config has media type ${config.mediaType.slice(0, 120)}`, {
        hint: 'smolvm runs container images; OCI artifacts such as Helm charts or signatures cannot become a root filesystem.',
      });
    }
    for (const l of layers) {
      if (!LAYER_TYPES.has(l.mediaType)) {
        throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', `layer ${l.digest} has media type ${l.mediaType.slice(0, 120)}, which is not a filesystem layer`, {
          hint: 'Only tar, tar+gzip and tar+zstd layers can be applied to a root filesystem.',
        });
      }
    }
    return { kind: 'manifest', mediaType, config, layers };
  }
  throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', `unsupported manifest media type ${mediaType.slice(0, 120)}`, {
    hint: 'smolvm reads OCI image manifests and indexes and Docker schema 2 manifests and manifest lists.',
  });
}

function stringList(v: unknown, what: string): string[] | null {
  if (v === undefined || v === null) return null;
  if (!Array.isArray(v) || !v.every((s) => typeof s === 'string')) throw bad(`config.${what} is not a list of strings`);
  return v as string[];
}

/** Parses an image config blob into the fields smolvm uses. */
export function parseImageConfig(bytes: Uint8Array): ImageConfig {
  const doc = parseJsonObject(bytes, 'image config');
  const c = doc.config === undefined || doc.config === null ? {} : doc.config;
  if (!isRecord(c)) throw bad('the image config\'s "config" member is not an object');
  const rootfs = doc.rootfs;
  let diffIds: string[] = [];
  if (rootfs !== undefined && rootfs !== null) {
    if (!isRecord(rootfs) || !Array.isArray(rootfs.diff_ids)) throw bad('the image config\'s rootfs has no diff_ids list');
    if (rootfs.diff_ids.length > MAX_LAYERS) throw bad('the image config lists too many diff_ids');
    diffIds = rootfs.diff_ids.map((d, i) => {
      if (!isDigest(d)) throw bad(`rootfs.diff_ids[${i}] is not a digest`);
      return d;
    });
  }
  const str = (v: unknown, what: string): string => {
    if (v === undefined || v === null) return '';
    if (typeof v !== 'string') throw bad(`config.${what} is not a string`);
    return v;
  };
  const exposed = c.ExposedPorts;
  if (exposed !== undefined && exposed !== null && !isRecord(exposed)) throw bad('config.ExposedPorts is not an object');
  return {
    env: stringList(c.Env, 'Env') ?? [],
    entrypoint: stringList(c.Entrypoint, 'Entrypoint'),
    cmd: stringList(c.Cmd, 'Cmd'),
    workingDir: str(c.WorkingDir, 'WorkingDir'),
    user: str(c.User, 'User'),
    labels: stringMap(c.Labels, 'config.Labels') ?? {},
    exposedPorts: exposed ? Object.keys(exposed) : [],
    stopSignal: c.StopSignal === undefined || c.StopSignal === null ? undefined : str(c.StopSignal, 'StopSignal'),
    os: str(doc.os, 'os'),
    architecture: str(doc.architecture, 'architecture'),
    variant: typeof doc.variant === 'string' && doc.variant !== '' ? doc.variant : undefined,
    diffIds,
  };
}

/** An image config for a root filesystem that came without one (an unpacked directory). */
export function emptyImageConfig(): ImageConfig {
  const p = hostPlatform();
  return {
    env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'],
    entrypoint: null,
    cmd: null,
    workingDir: '',
    user: '',
    labels: {},
    exposedPorts: [],
    stopSignal: undefined,
    os: p.os,
    architecture: p.architecture,
    variant: p.variant,
    diffIds: [],
  };
}

const NODE_TO_OCI_ARCH: Record<string, Platform> = {
  x64: { os: 'linux', architecture: 'amd64' },
  arm64: { os: 'linux', architecture: 'arm64', variant: 'v8' },
  arm: { os: 'linux', architecture: 'arm', variant: 'v7' },
  ia32: { os: 'linux', architecture: '386' },
  ppc64: { os: 'linux', architecture: 'ppc64le' },
  s390x: { os: 'linux', architecture: 's390x' },
  riscv64: { os: 'linux', architecture: 'riscv64' },
  loong64: { os: 'linux', architecture: 'loong64' },
  mips64el: { os: 'linux', architecture: 'mips64le' },
};

/** The platform a guest on this host runs: always linux, with the host's CPU architecture. */
export function hostPlatform(): Platform {
  const p = NODE_TO_OCI_ARCH[hostArch];
  return p ? { ...p } : { os: 'linux', architecture: hostArch };
}

/** Parses `linux/arm64`, `linux/arm/v7`, `arm64` (os defaults to linux). */
export function parsePlatform(input: string | Platform): Platform {
  if (typeof input !== 'string') return { ...input };
  const parts = input.split('/');
  if (parts.length === 1 && parts[0]) return { os: 'linux', architecture: parts[0] };
  if ((parts.length === 2 || parts.length === 3) && parts.every((p) => p.length > 0)) {
    const p: Platform = { os: parts[0] as string, architecture: parts[1] as string };
    if (parts[2]) p.variant = parts[2];
    return p;
  }
  throw new OciError('SMOLVM_ERR_OCI_INVALID_REFERENCE', `invalid platform ${JSON.stringify(input.slice(0, 100))}`, {
    hint: 'Write a platform as os/architecture[/variant], for example linux/amd64 or linux/arm/v7.',
  });
}

export function formatPlatform(p: Platform): string {
  return p.variant ? `${p.os}/${p.architecture}/${p.variant}` : `${p.os}/${p.architecture}`;
}

/**
 * Picks the manifest for `want` from an index. An exact variant wins; a descriptor without a variant
 * matches too (arm64 images rarely say v8); attestation entries (`unknown/unknown`) never match.
 */
export function selectPlatform(index: ImageIndex, want: Platform): Descriptor | undefined {
  let fallback: Descriptor | undefined;
  for (const m of index.manifests) {
    const p = m.platform;
    if (!p || p.os !== want.os || p.architecture !== want.architecture) continue;
    if (m.mediaType !== MediaTypes.ociManifest && m.mediaType !== MediaTypes.dockerManifest && m.mediaType !== MediaTypes.ociIndex && m.mediaType !== MediaTypes.dockerManifestList) continue;
    if (want.variant === undefined || p.variant === want.variant) return m;
    if (p.variant === undefined && fallback === undefined) fallback = m;
  }
  return fallback;
}

export function isLayerMediaType(mediaType: string): boolean {
  return LAYER_TYPES.has(mediaType);
}
