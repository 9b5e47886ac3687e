// OCI images as machine root disks: resolving what the user named into a read-only ext4 disk (through
// `@smolvm/oci`, built once per image digest and shared), pinning a persistent machine to the digest it
// was created with, and the image store operations behind `smolvm image pull|ls|rm|prune`.
//
// A persistent machine's record keeps its image *pinned*: the source as given, made absolute, then
// `@<digest>` (`docker.io/library/alpine:3.20@sha256:…`, `oci:/abs/layout@sha256:…`,
// `docker-archive:/abs/file.tar@sha256:…`, `rootfs:/abs/dir@sha256:…`, `-@sha256:…` for an archive read
// from a stream). Starting the machine boots that digest again, from the store when it is there.
import type * as OciModule from '@smolvm/oci';
import type {
  EnsureImageDiskOptions,
  ImageConfig,
  ImageRecord,
  ImageSource,
  OciProgressEvent,
  PruneResult,
} from '@smolvm/oci';
import { ErrorCode, SmolvmError } from './errors.js';
import { withStore } from './persistent.js';

// @smolvm/oci (and undici under it) costs more to load than the rest of core together, and most commands
// never touch an image: every exported entry point below loads it on first use.
let o: typeof OciModule;
async function loadOci(): Promise<void> {
  o ??= await import('@smolvm/oci');
}

/** What names an image: a reference, `docker-archive:`/`oci-archive:`/`oci:`/`rootfs:` forms, a path, or a source object. */
export type ImageInput = string | ImageSource;

export type ImageProgressEvent = OciProgressEvent;

/** How to fetch an image: used by `Machine.run/boot`, `Machine.create` and `pullImage`. */
export interface ImagePullOptions {
  /** Platform to pick from a multi-platform image (`linux/arm64`); default: the host's. */
  platform?: string;
  /** Allow plain http to a registry that is not on loopback (loopback registries get http anyway). */
  insecureRegistry?: boolean;
  /** Per-layer download progress, layer application and disk build. */
  onProgress?: (event: ImageProgressEvent) => void;
  signal?: AbortSignal;
  /** Environment smolvm reads (SMOLVM_CACHE_DIR, SMOLVM_REGISTRY_AUTH, ...); defaults to `process.env`. */
  hostEnv?: NodeJS.ProcessEnv;
  /** Where relative paths in a string input resolve from (default `process.cwd()`). */
  cwd?: string;
}

/** An image ready to boot. */
export interface ResolvedImage {
  /** The read-only ext4 root disk (shared by every machine of this image; never written). */
  diskPath: string;
  /** What the runtime applies: `env`, `entrypoint`, `cmd`, `workingDir`, `user`, and more. */
  config: ImageConfig;
  /** Manifest digest (for a root filesystem directory, a digest of its listing). */
  digest: string;
  /** Canonical name when there is one (`docker.io/library/alpine:3.20`). */
  reference: string | null;
  /** The source pinned to `digest`: what a persistent machine's record keeps. */
  pinned: string;
  /** True when this call built the disk. */
  built: boolean;
}

/** True for the result of `resolveImage` (as opposed to something that names an image). */
export function isResolvedImage(image: ImageInput | ResolvedImage): image is ResolvedImage {
  return typeof image === 'object' && typeof (image as ResolvedImage).diskPath === 'string' && typeof (image as ResolvedImage).pinned === 'string';
}

/** A stored image, with the persistent machines that use it. */
export interface ImageInfo extends ImageRecord {
  machines: string[];
}

const DIGEST_SUFFIX = /@(sha256:[a-f0-9]{64})$/;

/** Splits a pinned image string into its source and digest; undefined when `image` is not pinned. */
export function parsePinnedImage(image: string): { source: string; digest: string } | undefined {
  const m = DIGEST_SUFFIX.exec(image);
  if (!m) return undefined;
  return { source: image.slice(0, m.index), digest: m[1] as string };
}

function storeOptions(env: NodeJS.ProcessEnv): { env: NodeJS.ProcessEnv; cacheDir: string } {
  return { env, cacheDir: o.defaultCacheDir(env) };
}

function diskOptions(opts: ImagePullOptions, pull: EnsureImageDiskOptions['pull']): EnsureImageDiskOptions {
  const env = opts.hostEnv ?? process.env;
  return {
    ...storeOptions(env),
    ...(pull ? { pull } : {}),
    ...(opts.platform !== undefined ? { platform: opts.platform } : {}),
    ...(opts.insecureRegistry ? { insecure: true } : {}),
    ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
    ...(opts.signal ? { signal: opts.signal } : {}),
  };
}

/** The prefix that names a local source again in a pinned string. */
async function pinnedSource(source: ImageSource, digest: string, env: NodeJS.ProcessEnv): Promise<string> {
  switch (source.type) {
    case 'registry': {
      const ref = o.parseReference(source.reference);
      return o.formatReference({ ...ref, digest: undefined });
    }
    case 'oci-layout':
      return `oci:${source.path}`;
    case 'rootfs':
      return `rootfs:${source.path}`;
    case 'archive': {
      if (!('path' in source)) return '-';
      const rec = (await o.listImages(storeOptions(env))).find((r) => r.digest === digest);
      return `${rec?.source === 'oci-archive' ? 'oci-archive' : 'docker-archive'}:${source.path}`;
    }
  }
}

function checkArchitecture(image: ResolvedImage, shown: string): void {
  const want = o.hostPlatform().architecture;
  const got = image.config.architecture;
  if (got && got !== want) {
    throw new SmolvmError(ErrorCode.INVALID_OPTION, `image ${shown} is built for ${image.config.os || 'linux'}/${got}; this host runs ${want} guests`, {
      hint: `Use an image for ${want} (for a multi-platform image, drop --platform or pass --platform linux/${want}).`,
    });
  }
}

/** True when the store holds `reference` for another platform than the one wanted (the store keeps one per name). */
async function storedForOtherPlatform(reference: string, platform: string | undefined, env: NodeJS.ProcessEnv): Promise<boolean> {
  const want = o.parsePlatform(platform ?? o.hostPlatform());
  const hits = await o.findImages(reference, storeOptions(env)).catch(() => [] as ImageRecord[]);
  return hits.some((r) => {
    const got = o.parsePlatform(r.platform);
    return got.os !== want.os || got.architecture !== want.architecture || (want.variant !== undefined && got.variant !== want.variant);
  });
}

async function fromSource(source: ImageSource, opts: ImagePullOptions, pull: EnsureImageDiskOptions['pull']): Promise<ResolvedImage> {
  const env = opts.hostEnv ?? process.env;
  if (source.type === 'registry' && pull === 'missing' && (await storedForOtherPlatform(source.reference, opts.platform, env))) pull = 'always';
  const disk = await o.ensureImageDisk(source, diskOptions(opts, pull));
  const base = await pinnedSource(source, disk.digest, env);
  return { ...disk, pinned: `${base}@${disk.digest}` };
}

/** Pins of local sources start with one of these; any other pinned string is a registry reference. */
const LOCAL_PIN = /^(?:oci|oci-archive|docker-archive|rootfs):|^-$/;

/** A pinned local image: from the store by digest when it is there, else from its source, which must still have that digest. */
async function fromPinnedLocal(pin: { source: string; digest: string }, opts: ImagePullOptions): Promise<ResolvedImage> {
  const pinned = `${pin.source}@${pin.digest}`;
  if (pin.source.startsWith('rootfs:')) {
    // A root filesystem directory is read again at every start: its disk is rebuilt when the tree changed.
    const disk = await o.ensureImageDisk(await o.resolveImageSource(pin.source), diskOptions(opts, undefined));
    return { ...disk, pinned: `${pin.source}@${disk.digest}` };
  }
  try {
    // Only its digest names a local import in the store. The store looks records up by digest when the
    // name does not match, and `pull: 'never'` guarantees this placeholder name is never fetched.
    const disk = await o.ensureImageDisk({ type: 'registry', reference: `localhost/smolvm-pinned@${pin.digest}` }, diskOptions(opts, 'never'));
    return { ...disk, pinned };
  } catch (e) {
    if (!o.isOciError(e, 'SMOLVM_ERR_OCI_IMAGE_UNKNOWN')) throw e;
  }
  if (pin.source === '-') {
    throw new SmolvmError(ErrorCode.IMAGE_NOT_AVAILABLE, `image ${pin.digest} (imported from a stream) is no longer in the image store`, {
      hint: 'Import it again (smolvm image pull - < image.tar), or give the machine another image.',
    });
  }
  const disk = await o.ensureImageDisk(await o.resolveImageSource(pin.source), diskOptions(opts, undefined));
  if (disk.digest !== pin.digest) {
    throw new SmolvmError(ErrorCode.IMAGE_NOT_AVAILABLE, `image ${pin.source} now has digest ${disk.digest}, not ${pin.digest} as when the machine was created, and the store no longer has the old one`, {
      hint: 'Recreate the machine from the new image, or restore the old archive or layout.',
    });
  }
  return { ...disk, pinned };
}

/**
 * Makes `image` bootable: pulls or imports it when the store lacks it, builds its disk once per digest,
 * and returns the disk with the image config. A pinned string (see the top of this file) boots exactly
 * its digest (a registry one is fetched by digest if the store lacks it). Refuses images for another CPU
 * architecture.
 */
export async function resolveImage(image: ImageInput, opts: ImagePullOptions = {}): Promise<ResolvedImage> {
  await loadOci();
  const pin = typeof image === 'string' ? parsePinnedImage(image) : undefined;
  const resolved =
    pin && LOCAL_PIN.test(pin.source)
      ? await fromPinnedLocal(pin, opts)
      : await fromSource(await o.resolveImageSource(image, opts.cwd ?? process.cwd()), opts, 'missing');
  checkArchitecture(resolved, typeof image === 'string' ? image : (resolved.reference ?? resolved.digest));
  return resolved;
}

/**
 * The config of the image a persistent machine records (pinned or not), from the store only: the
 * record with that digest, else the manifest and config blobs. Null for the default image, for a root
 * filesystem directory (no config), or when the store has nothing for it.
 */
export async function storedImageConfig(image: string | null, env: NodeJS.ProcessEnv): Promise<ImageConfig | null> {
  await loadOci();
  if (!image) return null;
  const pin = parsePinnedImage(image);
  if (pin?.source.startsWith('rootfs:')) return null;
  const opts = storeOptions(env);
  if (!pin) {
    try {
      return (await o.findImages(image, opts))[0]?.config ?? null;
    } catch {
      return null;
    }
  }
  const rec = (await o.listImages(opts)).find((r) => r.digest === pin.digest);
  if (rec) return rec.config;
  try {
    const blobs = new o.BlobStore(opts.cacheDir);
    const m = o.parseManifest(await blobs.read(pin.digest));
    if (m.kind !== 'manifest') return null;
    return o.parseImageConfig(await blobs.read(m.config.digest));
  } catch {
    return null;
  }
}

/** Digests (manifest, config and layers) of the images persistent machines use, from their records. */
export async function imagesInUse(env: NodeJS.ProcessEnv = process.env): Promise<Map<string, string[]>> {
  await loadOci();
  const machines = withStore(env, (s) => s.listMachines());
  const opts = storeOptions(env);
  const blobs = new o.BlobStore(opts.cacheDir);
  const used = new Map<string, string[]>();
  const add = (digest: string, machine: string): void => {
    const list = used.get(digest) ?? [];
    if (!list.includes(machine)) list.push(machine);
    used.set(digest, list);
  };
  for (const m of machines) {
    if (!m.image) continue;
    const pin = parsePinnedImage(m.image);
    const digests = new Set<string>();
    if (pin) {
      digests.add(pin.digest);
      try {
        const doc = o.parseManifest(await blobs.read(pin.digest));
        if (doc.kind === 'manifest') {
          digests.add(doc.config.digest);
          for (const l of doc.layers) digests.add(l.digest);
        }
      } catch {
        /* not in the store (or a root filesystem's listing digest): the digest alone protects the disk */
      }
    } else {
      for (const r of await o.findImages(m.image, opts).catch(() => [] as ImageRecord[])) {
        digests.add(r.digest);
        digests.add(r.configDigest);
        for (const l of r.layers) digests.add(l.digest);
      }
    }
    for (const d of digests) add(d, m.name);
  }
  return used;
}

/**
 * The command a run executes, as `docker run` computes it: the Entrypoint (`entrypoint` when given, else
 * the image's), then the arguments (`cmd` when given, else the image's Cmd, unless `entrypoint` was given,
 * which resets it). Empty when none of them names anything.
 */
export function imageCommand(config: Pick<ImageConfig, 'entrypoint' | 'cmd'> | null | undefined, cmd?: readonly string[], entrypoint?: readonly string[]): string[] {
  const ep = entrypoint ?? config?.entrypoint ?? [];
  const args = cmd ?? (entrypoint !== undefined ? [] : (config?.cmd ?? []));
  return [...ep, ...args];
}

export interface ImageStoreOptions {
  hostEnv?: NodeJS.ProcessEnv;
}

/**
 * Pulls (or imports) an image and builds its root disk, so that machines of it boot without waiting.
 * Unlike booting, a registry image is always checked for a newer manifest.
 */
export async function pullImage(image: ImageInput, opts: ImagePullOptions = {}): Promise<ResolvedImage> {
  await loadOci();
  const source = await o.resolveImageSource(image, opts.cwd ?? process.cwd());
  const resolved = await fromSource(source, opts, source.type === 'registry' ? 'always' : undefined);
  return resolved;
}

/** The images in the store, newest first, with the persistent machines that use each. */
export async function listImages(opts: ImageStoreOptions = {}): Promise<ImageInfo[]> {
  await loadOci();
  const env = opts.hostEnv ?? process.env;
  const used = await imagesInUse(env);
  return (await o.listImages(storeOptions(env))).map((r) => ({ ...r, machines: used.get(r.digest) ?? [] }));
}

/**
 * Removes the image records `ref` names (a reference or a digest prefix). Refuses images a persistent
 * machine uses unless `force`; their disks and blobs stay as long as a machine records them.
 */
export async function removeImage(ref: string, opts: ImageStoreOptions & { force?: boolean } = {}): Promise<ImageRecord[]> {
  await loadOci();
  const env = opts.hostEnv ?? process.env;
  const store = storeOptions(env);
  if (!opts.force) {
    const used = await imagesInUse(env);
    const hits = await o.findImages(ref, store);
    const users = [...new Set(hits.flatMap((r) => used.get(r.digest) ?? []))];
    if (users.length > 0) {
      throw new SmolvmError(ErrorCode.IMAGE_IN_USE, `image ${ref} is used by machine${users.length > 1 ? 's' : ''} ${users.join(', ')}`, {
        hint: `Remove the machine${users.length > 1 ? 's' : ''} first, or force it (-f): the machines keep their disk, and a registry image is fetched again by digest if its data was pruned.`,
      });
    }
  }
  return o.removeImage(ref, store);
}

export interface PruneImagesOptions extends ImageStoreOptions {
  /** Also remove images no persistent machine uses (default: only data no image record needs). */
  all?: boolean;
  /** Keep files younger than this (default 10 minutes), protecting pulls in progress. */
  graceMs?: number;
}

/** Frees the image cache: never what a persistent machine uses; with `all`, every other image too. */
export async function pruneImages(opts: PruneImagesOptions = {}): Promise<PruneResult> {
  await loadOci();
  const env = opts.hostEnv ?? process.env;
  const used = await imagesInUse(env);
  return o.pruneImages(new Set(used.keys()), {
    ...storeOptions(env),
    ...(opts.all ? { all: true } : {}),
    ...(opts.graceMs !== undefined ? { graceMs: opts.graceMs } : {}),
  });
}

/** Turns what the user named (`alpine:3.20`, `./image.tar`, `oci:dir`, ...) into an image source. */
export async function resolveImageSource(input: string | ImageSource, cwd?: string): Promise<ImageSource> {
  await loadOci();
  return o.resolveImageSource(input, cwd);
}
