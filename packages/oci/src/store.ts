// The image store behind `smolvm image pull|ls|rm|prune` and the root disks machines boot from. Image
// records are JSON files under <cache>/images, written atomically (temp + fsync + rename); blobs live in
// the verified blob cache; a disk is built once per image digest, under a lock, and shared read-only.
import { createHash, randomBytes } from 'node:crypto';
import { chmod, lstat, open, readdir, readFile, readlink, rename, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { importArchive, importOciLayout, type LocalImport } from './archive.js';
import { BlobStore, defaultCacheDir, fsyncDir } from './cache.js';
import { shortDigest } from './digest.js';
import { buildImageDisk, type BuildProgressEvent } from './disk.js';
import { OciError } from './errors.js';
import { writeExt4Image } from './ext4.js';
import { acquireLock, isLockHeld } from './lock.js';
import { emptyImageConfig, formatPlatform, hostPlatform, parseImageConfig, parsePlatform, type Descriptor, type ImageConfig, type Platform } from './manifest.js';
import { formatReference, parseReference } from './reference.js';
import { RegistryClient, type RegistryClientOptions } from './registry.js';
import { resolveToManifest, type ResolvedManifest } from './resolve.js';
import { resolveImageSource, type ImageSource } from './source.js';
import type { TarReadLimits } from './tar.js';

/** Bumped when the disk builder changes what it writes, so old disks are rebuilt rather than reused. */
const DISK_FORMAT = 'v1';

export interface ImageStoreOptions {
  /** The OCI cache root (default `${SMOLVM_CACHE_DIR:-~/.cache/smolvm}/oci`). */
  cacheDir?: string;
  env?: NodeJS.ProcessEnv;
}

export type ImageSourceKind = 'registry' | 'docker-archive' | 'oci-archive' | 'oci-layout';

/** One pulled or imported image, as stored in `<cache>/images/*.json`. */
export interface ImageRecord {
  /** Canonical name (`docker.io/library/alpine:3.20`), or null for an unnamed import. */
  reference: string | null;
  /** Manifest digest: the image's identity, and the key of its disk. */
  digest: string;
  /** The index the manifest was picked from, if any. */
  indexDigest: string | null;
  configDigest: string;
  /** `linux/amd64` and so on, from the config. */
  platform: string;
  source: ImageSourceKind;
  layers: Descriptor[];
  /** Sum of the layer blobs as stored (compressed). */
  sizeBytes: number;
  config: ImageConfig;
  /** ISO 8601 time of the pull or import. */
  pulledAt: string;
}

export interface BlobProgressEvent {
  type: 'blob';
  kind: 'config' | 'layer';
  digest: string;
  /** Layer position (0-based); -1 for the config. */
  index: number;
  bytes: number;
  totalBytes: number;
  state: 'cached' | 'downloading' | 'done';
}

export interface DiskProgressEvent {
  type: 'disk';
  state: 'building' | 'ready';
  path: string;
}

/** A local archive or OCI layout being read and hashed into the store (skipped when unchanged since its import). */
export interface ImportProgressEvent {
  type: 'import';
  state: 'reading' | 'done';
  path: string;
}

export type OciProgressEvent = BlobProgressEvent | BuildProgressEvent | DiskProgressEvent | ImportProgressEvent;

export interface PullOptions extends ImageStoreOptions, Omit<RegistryClientOptions, 'env'> {
  /** Platform to pick from an index (`linux/arm64`); default: linux on the host's CPU. */
  platform?: string | Platform;
  /** For archives and layouts with several images: which one (a RepoTag or ref.name). Also names the record. */
  name?: string;
  /** Layers downloaded at once (default 3). */
  concurrency?: number;
  /** Largest image config accepted (default 4 MiB). */
  maxConfigBytes?: number;
  /** Bounds for tar streams read from archives and layers. */
  limits?: TarReadLimits;
  onProgress?: (event: OciProgressEvent) => void;
  /** Reuse a client (its options then win over the registry options here). */
  client?: RegistryClient;
}

export interface EnsureImageDiskOptions extends PullOptions {
  /** `missing` (default): use the stored image when there is one; `always`: pull first; `never`: fail if absent. */
  pull?: 'missing' | 'always' | 'never';
  /** File system size; computed from the content when absent. */
  sizeMiB?: number;
}

export interface ImageDisk {
  /** The read-only ext4 file (share it; never write to it). */
  diskPath: string;
  config: ImageConfig;
  /** Manifest digest (or, for a root filesystem directory, a digest of its listing). */
  digest: string;
  reference: string | null;
  /** True when this call built the disk (false when it already existed or another caller built it). */
  built: boolean;
}

export interface PruneOptions extends ImageStoreOptions {
  /** Also remove image records whose digest is not in `inUse` (default: keep every record). */
  all?: boolean;
  /** Files younger than this are kept, protecting pulls in progress (default 10 minutes). */
  graceMs?: number;
}

export interface PruneResult {
  removedImages: ImageRecord[];
  removedBlobs: number;
  removedDisks: number;
  freedBytes: number;
}

function storeFor(opts: ImageStoreOptions): BlobStore {
  return new BlobStore(opts.cacheDir ?? defaultCacheDir(opts.env ?? process.env));
}

async function writeJsonAtomic(path: string, dir: string, value: unknown): Promise<void> {
  const tmp = join(dir, `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`);
  const fh = await open(tmp, 'wx', 0o644);
  try {
    await fh.writeFile(`${JSON.stringify(value, null, 2)}\n`);
    await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
  await fsyncDir(dir);
}

function recordFile(store: BlobStore, rec: { reference: string | null; digest: string }): string {
  const key = createHash('sha256').update(rec.reference ?? rec.digest).digest('hex');
  return join(store.root, 'images', `${key}.json`);
}

function diskFile(store: BlobStore, digest: string): string {
  return join(store.root, 'disks', `${digest.replace(':', '-')}.${DISK_FORMAT}.ext4`);
}

function isRecord(v: unknown): v is ImageRecord {
  const r = v as ImageRecord;
  return typeof r === 'object' && r !== null && typeof r.digest === 'string' && typeof r.configDigest === 'string' && Array.isArray(r.layers) && typeof r.config === 'object';
}

/** Canonical name for a local import's name, or null when it is only a tag. */
function localName(name: string | undefined): string | null {
  if (name === undefined || !/[/:]/.test(name)) return null;
  try {
    return formatReference(parseReference(name));
  } catch {
    return null;
  }
}

async function mapLimit<T>(items: T[], limit: number, fn: (item: T, index: number) => Promise<void>): Promise<void> {
  let next = 0;
  let failure: { e: unknown } | undefined;
  const worker = async (): Promise<void> => {
    while (next < items.length && !failure) {
      const i = next++;
      try {
        await fn(items[i] as T, i);
      } catch (e) {
        failure ??= { e };
      }
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(limit, items.length)) }, worker));
  if (failure) throw failure.e;
}

async function pullFromRegistry(reference: string, store: BlobStore, opts: PullOptions, platform: Platform): Promise<{ resolved: ResolvedManifest; record: Omit<ImageRecord, 'config' | 'platform' | 'pulledAt'>; configBytes: Buffer }> {
  const ref = parseReference(reference);
  const image = formatReference(ref);
  const client = opts.client ?? new RegistryClient({ ...opts, env: opts.env ?? process.env });
  try {
    const first = await client.fetchManifest(ref, ref.digest ?? (ref.tag as string));
    const resolved = await resolveToManifest(first, async (desc) => {
      const m = await client.fetchManifest(ref, desc.digest);
      return { ...m, mediaType: m.mediaType || desc.mediaType };
    }, platform, image);
    for (const d of resolved.documents) await store.put(d.bytes, d.digest);
    const { manifest } = resolved;
    const maxConfig = opts.maxConfigBytes ?? 4 << 20;
    opts.onProgress?.({ type: 'blob', kind: 'config', digest: manifest.config.digest, index: -1, bytes: 0, totalBytes: manifest.config.size, state: 'downloading' });
    const configBytes = await client.fetchSmallBlob(ref, manifest.config, store, maxConfig);
    opts.onProgress?.({ type: 'blob', kind: 'config', digest: manifest.config.digest, index: -1, bytes: manifest.config.size, totalBytes: manifest.config.size, state: 'done' });
    const inflight = new Map<string, Promise<'cached' | 'downloaded'>>();
    await mapLimit(manifest.layers, opts.concurrency ?? 3, async (layer, index) => {
      const base = { type: 'blob', kind: 'layer', digest: layer.digest, index, totalBytes: layer.size } as const;
      if (await store.has(layer.digest, layer.size)) {
        opts.onProgress?.({ ...base, bytes: layer.size, state: 'cached' });
        return;
      }
      opts.onProgress?.({ ...base, bytes: 0, state: 'downloading' });
      let p = inflight.get(layer.digest);
      if (!p) {
        p = client.fetchBlob(ref, layer, store, { onBytes: (bytes) => opts.onProgress?.({ ...base, bytes, state: 'downloading' }) });
        inflight.set(layer.digest, p);
      }
      const how = await p;
      opts.onProgress?.({ ...base, bytes: layer.size, state: how === 'cached' ? 'cached' : 'done' });
    });
    return {
      resolved,
      configBytes,
      record: {
        reference: image,
        digest: resolved.manifestDigest,
        indexDigest: resolved.indexDigest ?? null,
        configDigest: manifest.config.digest,
        source: 'registry',
        layers: manifest.layers,
        sizeBytes: manifest.layers.reduce((n, l) => n + l.size, 0),
      },
    };
  } finally {
    if (!opts.client) await client.close();
  }
}

async function importLocal(source: ImageSource, store: BlobStore, opts: PullOptions, platform: Platform): Promise<LocalImport> {
  const { createReadStream } = await import('node:fs');
  const common = { platform, ...(opts.name === undefined ? {} : { name: opts.name }), ...(opts.limits === undefined ? {} : { limits: opts.limits }) };
  if (source.type === 'oci-layout') return importOciLayout(source.path, store, { ...common, label: source.path });
  if (source.type === 'archive') {
    if ('stream' in source) return importArchive(source.stream, store, { ...common, label: source.label ?? 'the image archive stream' });
    const st = await stat(source.path).catch(() => undefined);
    if (!st?.isFile()) {
      throw new OciError('SMOLVM_ERR_OCI_NOT_FOUND', `image archive ${source.path} does not exist or is not a file`, { image: source.path, hint: 'Check the path.' });
    }
    return importArchive(createReadStream(source.path, { highWaterMark: 1 << 20 }), store, { ...common, label: source.path });
  }
  throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', `a ${source.type} source cannot be pulled`, { hint: 'Use ensureImageDisk for root filesystem directories.' });
}

/**
 * Pulls an image from a registry, or imports it from an archive or OCI layout, into the store; returns
 * the record. Blobs already cached are not fetched again; interrupted downloads resume.
 */
export async function pullImage(input: string | ImageSource, opts: PullOptions = {}): Promise<ImageRecord> {
  const store = storeFor(opts);
  await store.ensureLayout();
  const source = await resolveImageSource(input);
  const platform = opts.platform === undefined ? hostPlatform() : parsePlatform(opts.platform);
  let base: Omit<ImageRecord, 'config' | 'platform' | 'pulledAt'>;
  let configBytes: Buffer;
  let localKey: string | undefined;
  if (source.type === 'registry') {
    const r = await pullFromRegistry(source.reference, store, opts, platform);
    base = r.record;
    configBytes = r.configBytes;
  } else {
    localKey = await localSourceKey(source, opts);
    const label = 'path' in source ? source.path : (source.label ?? 'the image archive stream');
    opts.onProgress?.({ type: 'import', state: 'reading', path: label });
    const imported = await importLocal(source, store, opts, platform);
    opts.onProgress?.({ type: 'import', state: 'done', path: label });
    for (const d of imported.documents) await store.put(d.bytes, d.digest);
    const m = imported.manifest;
    configBytes = await store.read(m.config.digest, opts.maxConfigBytes ?? 4 << 20);
    base = {
      reference: localName(opts.name) ?? localName(imported.names[0]),
      digest: imported.manifestDigest,
      indexDigest: imported.indexDigest ?? null,
      configDigest: m.config.digest,
      source: imported.kind,
      layers: m.layers,
      sizeBytes: m.layers.reduce((n, l) => n + l.size, 0),
    };
  }
  const config = parseImageConfig(configBytes);
  if (config.diffIds.length !== base.layers.length) {
    throw new OciError('SMOLVM_ERR_OCI_MANIFEST_INVALID', `image ${base.reference ?? base.digest} lists ${base.layers.length} layers but its config has ${config.diffIds.length} diff_ids`, {
      image: base.reference ?? base.digest,
      hint: 'The image is malformed; rebuild it or report it to whoever publishes it.',
    });
  }
  const record: ImageRecord = {
    ...base,
    platform: formatPlatform({ os: config.os || platform.os, architecture: config.architecture || platform.architecture, ...(config.variant ? { variant: config.variant } : {}) }),
    config,
    pulledAt: new Date().toISOString(),
  };
  await writeJsonAtomic(recordFile(store, record), join(store.root, 'images'), record);
  // Remember which local file gave this image (see findUsable); the key was taken before reading it, so a
  // file changed during the import is read again next time.
  if (localKey) await writeJsonAtomic(localKeyFile(store, localKey), join(store.root, 'local'), { digest: record.digest });
  return record;
}

/** Every image in the store, newest first. Unreadable record files are skipped. */
export async function listImages(opts: ImageStoreOptions = {}): Promise<ImageRecord[]> {
  const store = storeFor(opts);
  const dir = join(store.root, 'images');
  const names = await readdir(dir).catch(() => [] as string[]);
  const out: ImageRecord[] = [];
  for (const n of names) {
    if (!n.endsWith('.json') || n.startsWith('.')) continue;
    try {
      const v: unknown = JSON.parse(await readFile(join(dir, n), 'utf8'));
      if (isRecord(v)) out.push(v);
    } catch {
      /* a damaged record is as good as absent; prune cleans it */
    }
  }
  return out.sort((a, b) => b.pulledAt.localeCompare(a.pulledAt));
}

/** The records `ref` names: a reference (`alpine:3.20`), a full digest, or a digest prefix of 12+ hex digits. */
export async function findImages(ref: string, opts: ImageStoreOptions = {}): Promise<ImageRecord[]> {
  const all = await listImages(opts);
  let canonical: string | undefined;
  try {
    canonical = formatReference(parseReference(ref));
  } catch {
    canonical = undefined;
  }
  const byName = all.filter((r) => r.reference !== null && (r.reference === ref || r.reference === canonical));
  if (byName.length > 0) return byName;
  const m = /^(?:sha256:)?([a-f0-9]{12,64})$/.exec(ref);
  if (!m) return [];
  const hex = m[1] as string;
  const hits = all.filter((r) => r.digest.slice(7).startsWith(hex) || r.configDigest.slice(7).startsWith(hex));
  const digests = new Set(hits.map((r) => r.digest));
  if (digests.size > 1) {
    throw new OciError('SMOLVM_ERR_OCI_IMAGE_UNKNOWN', `${ref} matches ${digests.size} different images`, { image: ref, hint: 'Give more digits of the digest.' });
  }
  return hits;
}

/** Removes the records `ref` names (blobs and disks go at the next prune). Returns what was removed. */
export async function removeImage(ref: string, opts: ImageStoreOptions = {}): Promise<ImageRecord[]> {
  const store = storeFor(opts);
  const hits = await findImages(ref, opts);
  if (hits.length === 0) {
    throw new OciError('SMOLVM_ERR_OCI_IMAGE_UNKNOWN', `no image ${ref} in the store ${store.root}`, { image: ref, hint: 'List the stored images with `smolvm image ls`.' });
  }
  for (const r of hits) await rm(recordFile(store, r), { force: true });
  await fsyncDir(join(store.root, 'images'));
  return hits;
}

async function sizeOf(p: string): Promise<number> {
  const st = await lstat(p).catch(() => undefined);
  if (!st) return 0;
  if (!st.isDirectory()) return st.size;
  let n = 0;
  for (const e of await readdir(p)) n += await sizeOf(join(p, e));
  return n;
}

/**
 * Removes what no image record (and nothing in `inUse`) needs: blobs, disks, interrupted downloads and
 * temporary files older than the grace period. With `all`, image records whose digest (or config digest)
 * is not in `inUse` go first.
 */
export async function pruneImages(inUse: ReadonlySet<string> = new Set(), opts: PruneOptions = {}): Promise<PruneResult> {
  const store = storeFor(opts);
  const grace = opts.graceMs ?? 10 * 60_000;
  const now = Date.now();
  const result: PruneResult = { removedImages: [], removedBlobs: 0, removedDisks: 0, freedBytes: 0 };
  let records = await listImages(opts);
  if (opts.all) {
    const keep: ImageRecord[] = [];
    for (const r of records) {
      if (inUse.has(r.digest) || inUse.has(r.configDigest)) keep.push(r);
      else {
        await rm(recordFile(store, r), { force: true });
        result.removedImages.push(r);
      }
    }
    records = keep;
  }
  const needed = new Set<string>(inUse);
  for (const r of records) {
    needed.add(r.digest);
    needed.add(r.configDigest);
    if (r.indexDigest) needed.add(r.indexDigest);
    for (const l of r.layers) needed.add(l.digest);
  }
  const old = async (p: string): Promise<boolean> => {
    const st = await lstat(p).catch(() => undefined);
    return st !== undefined && now - st.mtimeMs > grace;
  };
  const remove = async (p: string): Promise<void> => {
    result.freedBytes += await sizeOf(p);
    await rm(p, { recursive: true, force: true });
  };
  // Notes of imported local files whose image is gone.
  const digests = new Set(records.map((r) => r.digest));
  for (const name of await readdir(join(store.root, 'local')).catch(() => [] as string[])) {
    const p = join(store.root, 'local', name);
    const digest = await readFile(p, 'utf8').then((t) => (JSON.parse(t) as { digest?: unknown }).digest, () => undefined);
    if (typeof digest !== 'string' || !digests.has(digest)) await rm(p, { force: true });
  }
  for (const alg of await readdir(join(store.root, 'blobs')).catch(() => [] as string[])) {
    for (const hex of await readdir(join(store.root, 'blobs', alg)).catch(() => [] as string[])) {
      const p = join(store.root, 'blobs', alg, hex);
      if (needed.has(`${alg}:${hex}`) || !(await old(p))) continue;
      await remove(p);
      result.removedBlobs++;
    }
  }
  for (const name of await readdir(join(store.root, 'disks')).catch(() => [] as string[])) {
    const p = join(store.root, 'disks', name);
    if (name.endsWith('.lock')) {
      if (!(await isLockHeld(p)) && (await old(p))) await rm(p, { force: true });
      continue;
    }
    const m = /^(sha256|sha512|rootfs)-([a-f0-9]+)\.(v\d+)\.ext4$/.exec(name);
    if (!m) {
      // A build's temporary file: only an old one is a leftover.
      if (await old(p)) await remove(p);
      continue;
    }
    const digest = `${m[1] === 'rootfs' ? 'sha256' : m[1]}:${m[2]}`;
    if (inUse.has(digest)) continue;
    if (m[1] !== 'rootfs' && m[3] === DISK_FORMAT && needed.has(digest)) continue;
    await remove(p);
    result.removedDisks++;
  }
  for (const name of await readdir(join(store.root, 'partial')).catch(() => [] as string[])) {
    const p = join(store.root, 'partial', name);
    if (name.endsWith('.lock') || name.endsWith('.break')) continue;
    if ((await isLockHeld(`${p}.lock`)) || !(await old(p))) continue;
    await remove(p);
    await rm(`${p}.lock`, { force: true });
  }
  // A long build keeps its staging tree under tmp/ with an old top-level mtime: while any download or
  // build holds a lock, tmp/ is left alone.
  let busy = false;
  for (const sub of ['disks', 'partial']) {
    for (const name of await readdir(join(store.root, sub)).catch(() => [] as string[])) {
      if (name.endsWith('.lock') && (await isLockHeld(join(store.root, sub, name)))) busy = true;
    }
  }
  for (const name of busy ? [] : await readdir(store.tmpDir()).catch(() => [] as string[])) {
    const p = join(store.tmpDir(), name);
    if (await old(p)) await remove(p);
  }
  return result;
}

/**
 * What identifies a local image file as it was imported (an archive file, or an OCI layout's index.json,
 * which changes whenever the layout gains or loses an image): its path, device and inode, size,
 * modification and change times, with the platform and name asked for. Undefined for other sources.
 */
async function localSourceKey(source: ImageSource, opts: PullOptions): Promise<string | undefined> {
  let file: string;
  if (source.type === 'archive' && 'path' in source) file = source.path;
  else if (source.type === 'oci-layout') file = join(source.path, 'index.json');
  else return undefined;
  const st = await stat(file).catch(() => undefined);
  if (!st?.isFile()) return undefined;
  const platform = formatPlatform(opts.platform === undefined ? hostPlatform() : parsePlatform(opts.platform));
  const id = [source.type, file, st.dev, st.ino, st.size, st.mtimeMs, st.ctimeMs, platform, opts.name ?? null];
  return createHash('sha256').update(JSON.stringify(id)).digest('hex');
}

const localKeyFile = (store: BlobStore, key: string): string => join(store.root, 'local', `${key}.json`);

async function findUsable(source: ImageSource, store: BlobStore, opts: PullOptions): Promise<ImageRecord | undefined> {
  if (source.type !== 'registry') {
    // A local archive or layout that has not changed since it was imported is not read and hashed again.
    const key = await localSourceKey(source, opts);
    if (!key) return undefined;
    let digest: unknown;
    try {
      digest = (JSON.parse(await readFile(localKeyFile(store, key), 'utf8')) as { digest?: unknown }).digest;
    } catch {
      return undefined;
    }
    if (typeof digest !== 'string') return undefined;
    const hit = (await listImages(opts)).find((r) => r.digest === digest && (opts.name === undefined || r.reference === localName(opts.name)));
    if (!hit) return undefined;
    for (const d of [hit.configDigest, ...hit.layers.map((l) => l.digest)]) if (!(await store.has(d))) return undefined;
    return hit;
  }
  const ref = parseReference(source.reference);
  const canonical = formatReference(ref);
  const all = await listImages(opts);
  const hit = all.find((r) => r.reference === canonical) ?? (ref.digest ? all.find((r) => r.digest === ref.digest) : undefined);
  if (!hit) return undefined;
  for (const d of [hit.configDigest, ...hit.layers.map((l) => l.digest)]) if (!(await store.has(d))) return undefined;
  return hit;
}

/** A digest of a directory's listing (names, types, modes, owners, sizes, mtimes, link targets). */
async function fingerprintTree(root: string, mapKey: string): Promise<string> {
  const h = createHash('sha256').update(`${DISK_FORMAT}\0${mapKey}\0`);
  const walk = async (rel: string): Promise<void> => {
    const names = (await readdir(rel === '' ? root : join(root, rel))).sort();
    for (const n of names) {
      const r = rel === '' ? n : `${rel}/${n}`;
      const st = await lstat(join(root, r));
      const link = st.isSymbolicLink() ? await readlink(join(root, r)) : '';
      h.update(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0${st.size}\0${st.mtimeMs}\0${st.rdev}\0${link}\n`);
      if (st.isDirectory()) await walk(r);
    }
  };
  const st = await stat(root);
  h.update(`\0${st.mode}\0${st.uid}\0${st.gid}\n`);
  await walk('');
  return `sha256:${h.digest('hex')}`;
}

async function ensureRootfsDisk(path: string, store: BlobStore, opts: EnsureImageDiskOptions): Promise<ImageDisk> {
  const st = await stat(path).catch(() => undefined);
  if (!st?.isDirectory()) throw new OciError('SMOLVM_ERR_OCI_NOT_FOUND', `root filesystem directory ${path} does not exist`, { image: path, hint: 'Check the path.' });
  const uid = process.getuid?.() ?? 0;
  const gid = process.getgid?.() ?? 0;
  // As root the tree's owners are the image's; as another user, files that user owns become root's.
  const mapOwner = uid === 0 ? (u: number, g: number) => ({ uid: u, gid: g }) : (u: number, g: number) => ({ uid: u === uid ? 0 : u, gid: g === gid ? 0 : g });
  const digest = await fingerprintTree(path, uid === 0 ? 'root' : `map:${uid}:${gid}`);
  const diskPath = join(store.root, 'disks', `rootfs-${digest.slice(7)}.${DISK_FORMAT}.ext4`);
  const config = emptyImageConfig();
  const result = { diskPath, config, digest, reference: null };
  if (await stat(diskPath).catch(() => undefined)) return { ...result, built: false };
  const lock = await acquireLock(`${diskPath}.lock`, opts.signal ? { signal: opts.signal } : {});
  try {
    if (await stat(diskPath).catch(() => undefined)) return { ...result, built: false };
    opts.onProgress?.({ type: 'disk', state: 'building', path: diskPath });
    const tmp = `${diskPath}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      const owner = mapOwner(st.uid, st.gid);
      await writeExt4Image({
        stagingDir: path,
        meta: new Map([['', { type: 'dir', mode: st.mode & 0o7777, ...owner, mtime: Math.floor(st.mtimeMs / 1000) }]]),
        output: tmp,
        scratchDir: join(store.tmpDir(), `scratch-${randomBytes(4).toString('hex')}`),
        mapOwner,
        setTimes: false,
        seed: digest,
        ...(opts.sizeMiB === undefined ? {} : { sizeMiB: opts.sizeMiB }),
        ...(opts.env === undefined ? {} : { env: opts.env }),
      });
      await chmod(tmp, 0o444);
      await rename(tmp, diskPath);
    } finally {
      await rm(tmp, { force: true });
    }
    opts.onProgress?.({ type: 'disk', state: 'ready', path: diskPath });
    return { ...result, built: true };
  } finally {
    await lock.release();
  }
}

/**
 * The read-only root disk for an image: pulled (or imported) if needed, built once per image digest,
 * shared by every caller. Two concurrent calls for one image build it once (a lock file); the disk
 * appears atomically.
 */
export async function ensureImageDisk(input: string | ImageSource, opts: EnsureImageDiskOptions = {}): Promise<ImageDisk> {
  const store = storeFor(opts);
  await store.ensureLayout();
  const source = await resolveImageSource(input);
  if (source.type === 'rootfs') return ensureRootfsDisk(source.path, store, opts);
  const policy = opts.pull ?? 'missing';
  let record = policy === 'always' ? undefined : await findUsable(source, store, opts);
  if (!record) {
    if (policy === 'never' && source.type === 'registry') {
      throw new OciError('SMOLVM_ERR_OCI_IMAGE_UNKNOWN', `image ${source.reference} is not in the local store`, {
        image: source.reference,
        hint: `Pull it first (smolvm image pull ${source.reference}).`,
      });
    }
    record = await pullImage(source, opts);
  }
  const diskPath = diskFile(store, record.digest);
  const result = { diskPath, config: record.config, digest: record.digest, reference: record.reference };
  if (await stat(diskPath).catch(() => undefined)) return { ...result, built: false };
  const lock = await acquireLock(`${diskPath}.lock`, opts.signal ? { signal: opts.signal } : {});
  try {
    if (await stat(diskPath).catch(() => undefined)) return { ...result, built: false };
    opts.onProgress?.({ type: 'disk', state: 'building', path: diskPath });
    const rec = record;
    await buildImageDisk({
      layers: rec.layers.map((l, i) => ({ path: store.path(l.digest), digest: l.digest, ...(rec.config.diffIds[i] ? { diffId: rec.config.diffIds[i] } : {}) })),
      output: diskPath,
      workDir: store.tmpDir(),
      seed: rec.digest,
      label: `smolvm-${shortDigest(rec.digest).slice(7, 13)}`,
      ...(opts.sizeMiB === undefined ? {} : { sizeMiB: opts.sizeMiB }),
      ...(opts.limits === undefined ? {} : { limits: opts.limits }),
      ...(opts.onProgress ? { onProgress: opts.onProgress } : {}),
      ...(opts.env === undefined ? {} : { env: opts.env }),
      ...(opts.signal === undefined ? {} : { signal: opts.signal }),
    });
    opts.onProgress?.({ type: 'disk', state: 'ready', path: diskPath });
    return { ...result, built: true };
  } finally {
    await lock.release();
  }
}

