// buildImageDisk: layers in, one read-only ext4 root disk out. Layers are decompressed by their magic
// bytes (gzip, zstd where Node has it, plain tar), checked against their diff_id, applied in order to a
// private staging tree, and the disk is written to a temporary name and renamed into place.
import { createReadStream, mkdtempSync, rmSync, renameSync, mkdirSync, chmodSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import { Readable, type Transform, pipeline } from 'node:stream';
import * as zlib from 'node:zlib';
import { newHash, parseDigest } from './digest.js';
import { OciError } from './errors.js';
import { writeExt4Image } from './ext4.js';
import { StagingTree } from './staging.js';
import type { ByteSource, TarReadLimits } from './tar.js';

export interface LayerInput {
  /** A file holding the layer (tar, tar+gzip or tar+zstd). */
  path?: string;
  /** Or a function that opens the layer's bytes. */
  open?: () => ByteSource;
  /** Digest of the uncompressed tar (`rootfs.diff_ids[i]`); checked when given. */
  diffId?: string;
  /** The blob digest, for messages. */
  digest?: string;
}

export interface BuildProgressEvent {
  type: 'apply';
  /** 0-based index of the layer being applied. */
  layer: number;
  layers: number;
  digest: string | undefined;
}

export interface BuildImageDiskOptions {
  /** Layers, lowest first. */
  layers: LayerInput[];
  /** Path of the ext4 file to write. It appears atomically, complete or not at all. */
  output: string;
  /** Size of the file system; by default content × 1.3 plus slack, rounded. */
  sizeMiB?: number;
  /** Folder for the staging tree (default: the output's folder). Needs room for the unpacked image. */
  workDir?: string;
  label?: string;
  /** Seeds the file system UUID (defaults to the output path). */
  seed?: string;
  /** Bounds for each layer's tar stream. */
  limits?: TarReadLimits;
  onProgress?: (event: BuildProgressEvent) => void;
  env?: NodeJS.ProcessEnv;
  signal?: AbortSignal;
}

export interface ImageDiskStats {
  output: string;
  sizeMiB: number;
  inodes: number;
  contentBytes: number;
}

const zstdDecompress = (zlib as unknown as { createZstdDecompress?: () => Transform }).createZstdDecompress;

function corrupt(what: string, cause: unknown): OciError {
  return new OciError('SMOLVM_ERR_OCI_LAYER_INVALID', `layer ${what} could not be decompressed: ${(cause as Error).message}`, {
    hint: 'The layer blob is corrupt or truncated; remove it from the cache (smolvm image prune) and pull again.',
    cause,
  });
}

async function* through(transform: Transform, src: AsyncIterable<Uint8Array>, what: string): AsyncGenerator<Buffer> {
  const input = Readable.from(src, { objectMode: false });
  let sourceError: unknown;
  input.on('error', (e) => {
    sourceError = e;
  });
  pipeline(input, transform, () => {
    /* errors surface through the iteration below */
  });
  try {
    for await (const chunk of transform) yield chunk as Buffer;
  } catch (e) {
    if (sourceError instanceof OciError) throw sourceError;
    if (e instanceof OciError) throw e;
    throw corrupt(what, e);
  } finally {
    input.destroy();
    transform.destroy();
  }
}

/** Yields the uncompressed tar bytes of a layer, choosing the decompressor from the first bytes. */
export async function* decompressLayer(src: ByteSource, what = 'blob'): AsyncGenerator<Buffer> {
  const it: AsyncIterator<Uint8Array> | Iterator<Uint8Array> = Symbol.asyncIterator in src ? src[Symbol.asyncIterator]() : src[Symbol.iterator]();
  const head: Buffer[] = [];
  let have = 0;
  let done = false;
  while (have < 4) {
    const r = await it.next();
    if (r.done) {
      done = true;
      break;
    }
    const b = Buffer.from(r.value.buffer, r.value.byteOffset, r.value.byteLength);
    head.push(b);
    have += b.length;
  }
  const magic = Buffer.concat(head);
  const rest: AsyncIterable<Uint8Array> = {
    [Symbol.asyncIterator]: async function* () {
      if (magic.length > 0) yield magic;
      if (done) return;
      for (;;) {
        const r = await it.next();
        if (r.done) return;
        yield r.value;
      }
    },
  };
  if (magic[0] === 0x1f && magic[1] === 0x8b) {
    yield* through(zlib.createGunzip(), rest, what);
  } else if (magic[0] === 0x28 && magic[1] === 0xb5 && magic[2] === 0x2f && magic[3] === 0xfd) {
    if (!zstdDecompress) {
      throw new OciError('SMOLVM_ERR_OCI_UNSUPPORTED', `layer ${what} is compressed with zstd, which this Node.js cannot decompress`, {
        hint: 'Run smolvm on Node.js 22.15 or newer (it has zstd), or use an image whose layers are gzip-compressed.',
      });
    }
    yield* through(zstdDecompress(), rest, what);
  } else {
    for await (const c of rest) yield Buffer.from(c.buffer, c.byteOffset, c.byteLength);
  }
}

function openLayer(layer: LayerInput): ByteSource {
  if (layer.open) return layer.open();
  if (layer.path) return createReadStream(layer.path, { highWaterMark: 1 << 20 });
  throw new OciError('SMOLVM_ERR_OCI_LAYER_INVALID', 'a layer input has neither a path nor an open function');
}

/** Applies layers, lowest first, to a staging tree (used by buildImageDisk and by tests). */
export async function applyLayers(
  tree: StagingTree,
  layers: LayerInput[],
  opts: { limits?: TarReadLimits; onProgress?: (e: BuildProgressEvent) => void; signal?: AbortSignal } = {},
): Promise<void> {
  for (let i = 0; i < layers.length; i++) {
    const layer = layers[i] as LayerInput;
    if (opts.signal?.aborted) throw new OciError('SMOLVM_ERR_OCI_ABORTED', 'building the image disk was cancelled', { cause: opts.signal.reason });
    opts.onProgress?.({ type: 'apply', layer: i, layers: layers.length, digest: layer.digest });
    const what = layer.digest ?? layer.path ?? `#${i + 1}`;
    const want = layer.diffId === undefined ? undefined : parseDigest(layer.diffId, 'diff_id');
    const hash = want ? newHash(want.algorithm) : undefined;
    const tar = decompressLayer(openLayer(layer), what);
    const tapped: AsyncIterable<Uint8Array> = hash
      ? {
          [Symbol.asyncIterator]: async function* () {
            for await (const c of tar) {
              hash.update(c);
              yield c;
            }
          },
        }
      : tar;
    await tree.applyLayer(tapped, opts.limits);
    if (hash && want) {
      const got = `${want.algorithm}:${hash.digest('hex')}`;
      if (got !== layer.diffId) {
        throw new OciError('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `layer ${what} unpacks to ${got}, but the image config says ${layer.diffId}`, {
          hint: 'The layer does not belong to this image (tampered or corrupt); nothing was written to the disk. Remove the image and pull it again.',
          digest: layer.digest,
        });
      }
    }
  }
}

/** Builds a read-only ext4 root disk from layers. Works as an unprivileged user. */
export async function buildImageDisk(opts: BuildImageDiskOptions): Promise<ImageDiskStats> {
  const workDir = opts.workDir ?? dirname(opts.output);
  mkdirSync(workDir, { recursive: true });
  const stageRoot = mkdtempSync(join(workDir, '.stage-'));
  chmodSync(stageRoot, 0o700);
  const tmp = `${opts.output}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const tree = new StagingTree(join(stageRoot, 'root'));
    await applyLayers(tree, opts.layers, opts);
    if (opts.signal?.aborted) throw new OciError('SMOLVM_ERR_OCI_ABORTED', 'building the image disk was cancelled', { cause: opts.signal.reason });
    const stats = await writeExt4Image({
      stagingDir: tree.root,
      meta: tree.meta,
      output: tmp,
      scratchDir: join(stageRoot, 'scratch'),
      ...(opts.sizeMiB === undefined ? {} : { sizeMiB: opts.sizeMiB }),
      ...(opts.label === undefined ? {} : { label: opts.label }),
      seed: opts.seed ?? opts.output,
      ...(opts.env === undefined ? {} : { env: opts.env }),
    });
    chmodSync(tmp, 0o444);
    renameSync(tmp, opts.output);
    return { output: opts.output, ...stats };
  } finally {
    rmSync(tmp, { force: true });
    rmSync(stageRoot, { recursive: true, force: true });
  }
}
