// The content-addressed blob cache. A blob lands under blobs/<alg>/<hex> only after its bytes hashed to
// that name: it is written to a temporary file, fsynced, checked, renamed, and the folder fsynced. So a
// crash or a bad download never leaves a wrong blob under a digest.
//
// Layout of a cache root (default `${SMOLVM_CACHE_DIR:-$XDG_CACHE_HOME/smolvm}/oci`):
//   blobs/sha256/<hex>        verified blobs (manifests, configs, layers), read-only
//   partial/sha256-<hex>      interrupted downloads, resumed with a Range request (+ .lock while in use)
//   tmp/                      temporary files and staging trees
//   images/<key>.json         image records (see store.ts)
//   disks/sha256-<hex>.v1.ext4  built root disks, read-only (+ .lock while building)
import { createReadStream } from 'node:fs';
import { chmod, mkdir, open, readFile, rename, rm, stat, utimes, type FileHandle } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { newHash, parseDigest, shortDigest } from './digest.js';
import { OciError } from './errors.js';

/** The default cache root: `$SMOLVM_CACHE_DIR/oci`, else `$XDG_CACHE_HOME/smolvm/oci`, else `~/.cache/smolvm/oci`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.SMOLVM_CACHE_DIR) return join(env.SMOLVM_CACHE_DIR, 'oci');
  const base = env.XDG_CACHE_HOME || join(env.HOME || homedir(), '.cache');
  return join(base, 'smolvm', 'oci');
}

export async function fsyncDir(dir: string): Promise<void> {
  let fh: FileHandle | undefined;
  try {
    fh = await open(dir, 'r');
    await fh.sync();
  } catch {
    // Some file systems refuse fsync on directories; the rename is still atomic.
  } finally {
    await fh?.close();
  }
}

export interface WriteBlobOptions {
  /** The size the descriptor promised; more or fewer bytes is an error. */
  expectedSize?: number;
  /** Refuse blobs larger than this. */
  maxBytes?: number;
  /** Called after each chunk with the bytes written so far. */
  onBytes?: (bytes: number) => void;
}

export class BlobStore {
  constructor(readonly root: string) {}

  path(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'blobs', algorithm, hex);
  }

  partialPath(digest: string): string {
    const { algorithm, hex } = parseDigest(digest);
    return join(this.root, 'partial', `${algorithm}-${hex}`);
  }

  tmpDir(): string {
    return join(this.root, 'tmp');
  }

  async ensureLayout(): Promise<void> {
    for (const d of ['blobs/sha256', 'partial', 'tmp', 'images', 'disks', 'local']) await mkdir(join(this.root, d), { recursive: true });
  }

  /** Whether the blob is cached. Refreshes its mtime, which protects it from a concurrent prune. */
  async has(digest: string, expectedSize?: number): Promise<boolean> {
    const p = this.path(digest);
    try {
      const st = await stat(p);
      if (expectedSize !== undefined && st.size !== expectedSize) return false;
      const now = new Date();
      await utimes(p, now, now).catch(() => undefined);
      return true;
    } catch {
      return false;
    }
  }

  /** Reads a small cached blob whole, checking its digest again (cheap for manifests and configs). */
  async read(digest: string, maxBytes = 4 << 20): Promise<Buffer> {
    const p = this.path(digest);
    const st = await stat(p).catch(() => undefined);
    if (!st) throw new OciError('SMOLVM_ERR_OCI_NOT_FOUND', `blob ${digest} is not in the cache ${this.root}`, { digest, hint: 'Pull the image again.' });
    if (st.size > maxBytes) throw new OciError('SMOLVM_ERR_OCI_TOO_LARGE', `blob ${digest} is ${st.size} bytes, over the limit of ${maxBytes}`, { digest });
    const bytes = await readFile(p);
    const { algorithm } = parseDigest(digest);
    const got = `${algorithm}:${newHash(algorithm).update(bytes).digest('hex')}`;
    if (got !== digest) {
      await rm(p, { force: true });
      throw new OciError('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `cached blob ${digest} is damaged (it hashes to ${got}); it was removed`, {
        digest,
        hint: 'Pull the image again. If this repeats, check the disk that holds the cache.',
      });
    }
    return bytes;
  }

  openRead(digest: string): AsyncIterable<Uint8Array> {
    return createReadStream(this.path(digest), { highWaterMark: 1 << 20 });
  }

  /** Moves a file whose content was already verified to hash to `digest` into the cache. */
  async commit(digest: string, file: string): Promise<string> {
    const dest = this.path(digest);
    await mkdir(join(dest, '..'), { recursive: true });
    await chmod(file, 0o444);
    await rename(file, dest);
    await fsyncDir(join(dest, '..'));
    return dest;
  }

  /**
   * Streams `source` into the cache under `digest`, verifying while writing. When `digest` is undefined
   * the sha256 of the content names it. Returns the digest.
   */
  async write(digest: string | undefined, source: AsyncIterable<Uint8Array> | Iterable<Uint8Array>, opts: WriteBlobOptions = {}): Promise<string> {
    const algorithm = digest === undefined ? 'sha256' : parseDigest(digest).algorithm;
    await mkdir(this.tmpDir(), { recursive: true });
    const tmp = join(this.tmpDir(), `blob-${process.pid}-${randomBytes(6).toString('hex')}`);
    const hash = newHash(algorithm);
    let size = 0;
    const fh = await open(tmp, 'wx', 0o600);
    try {
      try {
        for await (const chunk of source) {
          size += chunk.byteLength;
          if (opts.expectedSize !== undefined && size > opts.expectedSize) {
            throw new OciError('SMOLVM_ERR_OCI_SIZE_MISMATCH', `blob ${digest ?? ''} is larger than the ${opts.expectedSize} bytes its descriptor says`, { ...(digest ? { digest } : {}) });
          }
          if (opts.maxBytes !== undefined && size > opts.maxBytes) {
            throw new OciError('SMOLVM_ERR_OCI_TOO_LARGE', `blob ${digest ? shortDigest(digest) : ''} is larger than the limit of ${opts.maxBytes} bytes`, { ...(digest ? { digest } : {}) });
          }
          hash.update(chunk);
          await fh.write(chunk);
          opts.onBytes?.(size);
        }
        if (opts.expectedSize !== undefined && size !== opts.expectedSize) {
          throw new OciError('SMOLVM_ERR_OCI_SIZE_MISMATCH', `blob ${digest ?? ''} has ${size} bytes, but its descriptor says ${opts.expectedSize}`, { ...(digest ? { digest } : {}) });
        }
        await fh.sync();
      } finally {
        await fh.close();
      }
      const got = `${algorithm}:${hash.digest('hex')}`;
      if (digest !== undefined && got !== digest) {
        throw new OciError('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `blob content hashes to ${got}, not ${digest}`, {
          digest,
          hint: 'The source served or holds tampered or corrupt data; nothing was cached.',
        });
      }
      if (!(await this.has(got))) await this.commit(got, tmp);
      return got;
    } finally {
      await rm(tmp, { force: true });
    }
  }

  /** Puts bytes already in memory into the cache; returns their sha256 digest. */
  async put(bytes: Uint8Array, digest?: string): Promise<string> {
    return this.write(digest, [bytes]);
  }
}
