// Local image sources: `docker save` archives (legacy and OCI-style), OCI image layouts as a directory or
// a tar, read as a stream. Every blob goes into the cache verified; nothing from the archive touches the
// file system except through the cache, so archive paths cannot escape anywhere.
import { createReadStream } from 'node:fs';
import { open, readFile, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { BlobStore } from './cache.js';
import { digestOf, isDigest, parseDigest } from './digest.js';
import { OciError } from './errors.js';
import { MediaTypes, parseImageConfig, parseManifest, type Descriptor, type ImageIndex, type Platform } from './manifest.js';
import { resolveToManifest, type ManifestDocument, type ResolvedManifest } from './resolve.js';
import { readTar, type TarReadLimits } from './tar.js';

export const REF_NAME_ANNOTATION = 'org.opencontainers.image.ref.name';
const SMALL_FILE = 1 << 20;
const MAX_SMALL_TOTAL = 64 << 20;
const MAX_DOC = 4 << 20;

export type LocalSourceKind = 'docker-archive' | 'oci-archive' | 'oci-layout';

export interface LocalImportOptions {
  /** Which image of a multi-image archive or layout: a RepoTag (`app:1`) or a ref.name annotation. */
  name?: string;
  platform: Platform;
  limits?: TarReadLimits;
  /** For messages: the path or a description of the stream. */
  label: string;
}

export interface LocalImport extends ResolvedManifest {
  kind: LocalSourceKind;
  /** Names the archive gives the chosen image (RepoTags, ref.name annotations). */
  names: string[];
}

function archiveInvalid(label: string, why: string): OciError {
  return new OciError('SMOLVM_ERR_OCI_ARCHIVE_INVALID', `${label} is not a usable image archive: ${why}`, {
    image: label,
    hint: 'Give a file made by `docker save`, `podman save` or `skopeo copy … oci-archive:`, or an OCI image layout directory.',
  });
}

function unknownName(label: string, name: string, have: string[]): OciError {
  return new OciError('SMOLVM_ERR_OCI_IMAGE_UNKNOWN', `${label} has no image named ${JSON.stringify(name)}; it has ${have.length ? have.join(', ') : 'only unnamed images'}`, {
    image: label,
    hint: 'Choose one of the names listed.',
  });
}

/** Cleans a path inside an archive lexically; undefined when it climbs out (such entries are ignored). */
function cleanName(name: string): string | undefined {
  const parts: string[] = [];
  for (const c of name.split('/')) {
    if (c === '' || c === '.') continue;
    if (c === '..') {
      if (parts.length === 0) return undefined;
      parts.pop();
    } else parts.push(c);
  }
  return parts.join('/');
}

function nameMatches(candidate: string, wanted: string): boolean {
  if (candidate === wanted) return true;
  const strip = (s: string): string => s.replace(/^docker\.io\//, '').replace(/^library\//, '');
  const withTag = (s: string): string => (/:[^/]+$/.test(s) ? s : `${s}:latest`);
  return withTag(strip(candidate)) === withTag(strip(wanted));
}

async function sniffLayerType(store: BlobStore, digest: string): Promise<string> {
  const fh = await open(store.path(digest), 'r');
  try {
    const b = Buffer.alloc(4);
    await fh.read(b, 0, 4, 0);
    if (b[0] === 0x1f && b[1] === 0x8b) return MediaTypes.ociLayerGzip;
    if (b[0] === 0x28 && b[1] === 0xb5 && b[2] === 0x2f && b[3] === 0xfd) return MediaTypes.ociLayerZstd;
    return MediaTypes.ociLayer;
  } finally {
    await fh.close();
  }
}

/** Picks the descriptor a layout's index.json names, or undefined to treat the index as multi-platform. */
function pickFromIndex(index: ImageIndex, name: string | undefined, label: string): Descriptor | undefined {
  const named = (d: Descriptor): string | undefined => d.annotations?.[REF_NAME_ANNOTATION] ?? d.annotations?.['io.containerd.image.name'];
  const names = index.manifests.map(named).filter((n): n is string => n !== undefined);
  if (name !== undefined) {
    const hit = index.manifests.find((d) => {
      const n = named(d);
      return n !== undefined && nameMatches(n, name);
    });
    if (!hit) throw unknownName(label, name, names);
    return hit;
  }
  if (index.manifests.length === 1) return index.manifests[0];
  if (index.manifests.every((d) => d.platform !== undefined) && new Set(index.manifests.map(named)).size <= 1) return undefined;
  if (new Set(names).size === 1 && names.length === index.manifests.length) return undefined;
  throw archiveInvalid(label, `it holds ${index.manifests.length} images; choose one by name (${names.join(', ') || 'they have no names'})`);
}

async function resolveLayout(
  indexBytes: Buffer,
  readDoc: (desc: Descriptor) => Promise<ManifestDocument>,
  opts: LocalImportOptions,
): Promise<ResolvedManifest & { names: string[] }> {
  const index = parseManifest(indexBytes, MediaTypes.ociIndex);
  if (index.kind !== 'index') throw archiveInvalid(opts.label, 'index.json is not an image index');
  const picked = pickFromIndex(index, opts.name, opts.label);
  const names: string[] = [];
  let first: ManifestDocument;
  if (picked === undefined) {
    first = { bytes: indexBytes, digest: digestOf(indexBytes), mediaType: MediaTypes.ociIndex };
  } else {
    const n = picked.annotations?.[REF_NAME_ANNOTATION] ?? picked.annotations?.['io.containerd.image.name'];
    if (n) names.push(n);
    first = await readDoc(picked);
    if (first.digest !== picked.digest) throw archiveInvalid(opts.label, `blob ${picked.digest} does not match its name`);
  }
  const resolved = await resolveToManifest(first, readDoc, opts.platform, opts.label);
  // The layout's own index.json is not a blob; do not record it as the image's index.
  if (picked === undefined) resolved.documents.shift();
  if (picked === undefined && resolved.indexDigest === first.digest) resolved.indexDigest = undefined;
  return { ...resolved, names };
}

/** Reads an OCI image layout directory; copies the chosen image's blobs into the cache, verified. */
export async function importOciLayout(dir: string, store: BlobStore, opts: LocalImportOptions): Promise<LocalImport> {
  let layout: unknown;
  try {
    layout = JSON.parse(await readFile(join(dir, 'oci-layout'), 'utf8'));
  } catch (e) {
    throw archiveInvalid(opts.label, `${join(dir, 'oci-layout')} is missing or not JSON (${(e as Error).message})`);
  }
  if (typeof (layout as { imageLayoutVersion?: unknown })?.imageLayoutVersion !== 'string') throw archiveInvalid(opts.label, 'oci-layout has no imageLayoutVersion');
  const indexPath = join(dir, 'index.json');
  const st = await stat(indexPath).catch(() => undefined);
  if (!st) throw archiveInvalid(opts.label, 'index.json is missing');
  if (st.size > MAX_DOC) throw archiveInvalid(opts.label, 'index.json is larger than 4 MiB');
  const blobPath = (digest: string): string => {
    const { algorithm, hex } = parseDigest(digest);
    return join(dir, 'blobs', algorithm, hex);
  };
  const importBlob = async (desc: Descriptor): Promise<void> => {
    if (await store.has(desc.digest, desc.size)) return;
    const p = blobPath(desc.digest);
    if (!(await stat(p).catch(() => undefined))) throw archiveInvalid(opts.label, `blob ${desc.digest} is missing from blobs/`);
    await store.write(desc.digest, createReadStream(p), { expectedSize: desc.size });
  };
  const readDoc = async (desc: Descriptor): Promise<ManifestDocument> => {
    if (desc.size > MAX_DOC) throw archiveInvalid(opts.label, `manifest ${desc.digest} is larger than 4 MiB`);
    await importBlob(desc);
    return { bytes: await store.read(desc.digest, MAX_DOC), digest: desc.digest, mediaType: desc.mediaType };
  };
  const resolved = await resolveLayout(await readFile(indexPath), readDoc, opts);
  await importBlob(resolved.manifest.config);
  for (const l of resolved.manifest.layers) await importBlob(l);
  return { ...resolved, kind: 'oci-layout' };
}

type Named = { digest: string } | { bytes: Buffer };

/**
 * Reads a `docker save` archive or an OCI layout tar from a stream (or file), in one pass: blobs go into
 * the cache as they come, small documents are kept in memory, and the image is chosen at the end.
 */
export async function importArchive(source: AsyncIterable<Uint8Array>, store: BlobStore, opts: LocalImportOptions): Promise<LocalImport> {
  const files = new Map<string, Named>();
  const aliases = new Map<string, string>();
  let smallTotal = 0;
  for await (const entry of readTar(source, opts.limits)) {
    const name = cleanName(entry.name);
    if (name === undefined || name === '') continue;
    if (entry.type === 'symlink' || entry.type === 'hardlink') {
      const base = entry.type === 'symlink' && !entry.linkname.startsWith('/') ? name.split('/').slice(0, -1).join('/') : '';
      const target = cleanName(base ? `${base}/${entry.linkname}` : entry.linkname);
      if (target !== undefined) aliases.set(name, target);
      continue;
    }
    if (entry.type !== 'file') continue;
    const m = /^blobs\/(sha256|sha512)\/([a-f0-9]+)$/.exec(name);
    const blobDigest = m ? `${m[1]}:${m[2]}` : undefined;
    if (blobDigest && isDigest(blobDigest)) {
      if (!(await store.has(blobDigest, entry.size))) await store.write(blobDigest, entry.body, { expectedSize: entry.size });
      files.set(name, { digest: blobDigest });
    } else if (entry.size <= SMALL_FILE && smallTotal + entry.size <= MAX_SMALL_TOTAL) {
      const chunks: Buffer[] = [];
      for await (const c of entry.body) chunks.push(c);
      smallTotal += entry.size;
      files.set(name, { bytes: Buffer.concat(chunks) });
    } else {
      files.set(name, { digest: await store.write(undefined, entry.body, { expectedSize: entry.size }) });
    }
  }
  const find = (n: string): Named | undefined => {
    let cur = cleanName(n);
    for (let hops = 0; cur !== undefined && hops < 16; hops++) {
      const f = files.get(cur);
      if (f) return f;
      cur = aliases.get(cur);
    }
    return undefined;
  };
  const bytesOf = async (n: string, what: string): Promise<Buffer> => {
    const f = find(n);
    if (!f) throw archiveInvalid(opts.label, `${what} ${JSON.stringify(n.slice(0, 200))} is missing`);
    return 'bytes' in f ? f.bytes : store.read(f.digest, MAX_DOC);
  };
  const digestOfName = async (n: string, what: string): Promise<string> => {
    const f = find(n);
    if (!f) throw archiveInvalid(opts.label, `${what} ${JSON.stringify(n.slice(0, 200))} is missing`);
    return 'bytes' in f ? store.put(f.bytes) : f.digest;
  };

  const dockerManifest = files.get('manifest.json');
  if (dockerManifest && 'bytes' in dockerManifest) {
    let items: unknown;
    try {
      items = JSON.parse(dockerManifest.bytes.toString('utf8'));
    } catch {
      throw archiveInvalid(opts.label, 'manifest.json is not JSON');
    }
    if (!Array.isArray(items) || items.length === 0 || items.length > 1000) throw archiveInvalid(opts.label, 'manifest.json is not a list of images');
    type Item = { Config: string; RepoTags: string[]; Layers: string[] };
    const list: Item[] = items.map((raw, i) => {
      const it = raw as Record<string, unknown>;
      if (typeof it?.Config !== 'string' || !Array.isArray(it.Layers) || !it.Layers.every((l) => typeof l === 'string') || it.Layers.length > 1000) {
        throw archiveInvalid(opts.label, `manifest.json entry ${i} lacks Config or Layers`);
      }
      const tags = Array.isArray(it.RepoTags) ? it.RepoTags.filter((t): t is string => typeof t === 'string') : [];
      return { Config: it.Config, RepoTags: tags, Layers: it.Layers as string[] };
    });
    let item: Item | undefined;
    if (opts.name !== undefined) {
      item = list.find((it) => it.RepoTags.some((t) => nameMatches(t, opts.name as string)));
      if (!item) throw unknownName(opts.label, opts.name, list.flatMap((it) => it.RepoTags));
    } else if (list.length === 1) {
      item = list[0];
    } else {
      throw archiveInvalid(opts.label, `it holds ${list.length} images; choose one by name (${list.flatMap((it) => it.RepoTags).join(', ') || 'they have no names'})`);
    }
    const chosen = item as Item;
    const configBytes = await bytesOf(chosen.Config, 'config');
    const config = parseImageConfig(configBytes);
    const configDigest = await store.put(configBytes);
    const layers: Descriptor[] = [];
    for (const l of chosen.Layers) {
      const digest = await digestOfName(l, 'layer');
      layers.push({ mediaType: await sniffLayerType(store, digest), digest, size: (await stat(store.path(digest))).size });
    }
    if (config.diffIds.length !== 0 && config.diffIds.length !== layers.length) {
      throw archiveInvalid(opts.label, `the config lists ${config.diffIds.length} layers but manifest.json lists ${layers.length}`);
    }
    // Docker archives have no registry manifest: write the OCI manifest a registry would have served.
    const manifestJson = {
      schemaVersion: 2,
      mediaType: MediaTypes.ociManifest,
      config: { mediaType: MediaTypes.ociConfig, digest: configDigest, size: configBytes.length },
      layers,
    };
    const manifestBytes = Buffer.from(JSON.stringify(manifestJson));
    const manifestDigest = await store.put(manifestBytes);
    const manifest = parseManifest(manifestBytes);
    if (manifest.kind !== 'manifest') throw archiveInvalid(opts.label, 'internal: synthesized manifest is not a manifest');
    return {
      kind: 'docker-archive',
      manifest,
      manifestDigest,
      manifestBytes,
      indexDigest: undefined,
      documents: [{ bytes: manifestBytes, digest: manifestDigest, mediaType: MediaTypes.ociManifest }],
      names: chosen.RepoTags,
    };
  }

  const index = files.get('index.json');
  if (index && 'bytes' in index) {
    if (!files.has('oci-layout')) throw archiveInvalid(opts.label, 'it has index.json but no oci-layout file');
    const readDoc = async (desc: Descriptor): Promise<ManifestDocument> => {
      if (!(await store.has(desc.digest))) throw archiveInvalid(opts.label, `blob ${desc.digest} is missing`);
      return { bytes: await store.read(desc.digest, MAX_DOC), digest: desc.digest, mediaType: desc.mediaType };
    };
    const resolved = await resolveLayout(index.bytes, readDoc, opts);
    for (const d of [resolved.manifest.config, ...resolved.manifest.layers]) {
      if (!(await store.has(d.digest, d.size))) throw archiveInvalid(opts.label, `blob ${d.digest} is missing or has the wrong size`);
    }
    return { ...resolved, kind: 'oci-archive' };
  }
  throw archiveInvalid(opts.label, 'it has neither manifest.json (docker save) nor index.json (OCI layout)');
}
