// Writes OCI image layouts for tests: blobs, configs, manifests, an index.json, optionally a nested
// multi-platform index — the same files `skopeo copy … oci:DIR` or buildah would write.
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { digestOf } from '../../src/index.js';

export interface TestImage {
  /** Layer blobs as stored (gzip or plain tar). */
  layers: Buffer[];
  /** sha256 of each uncompressed layer. */
  diffIds: string[];
  architecture?: string;
  os?: string;
  config?: Record<string, unknown>;
}

export interface WrittenImage {
  manifestDigest: string;
  manifest: Buffer;
  configDigest: string;
  config: Buffer;
  layerDigests: string[];
}

const MT = {
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  index: 'application/vnd.oci.image.index.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  tar: 'application/vnd.oci.image.layer.v1.tar',
  gzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
};

export function putBlob(dir: string, data: Buffer): string {
  const digest = digestOf(data);
  const blobs = join(dir, 'blobs', 'sha256');
  mkdirSync(blobs, { recursive: true });
  writeFileSync(join(blobs, digest.slice(7)), data);
  return digest;
}

export function imageDocuments(image: TestImage): { config: Buffer; manifest: (put: (b: Buffer) => string) => WrittenImage } {
  const config = Buffer.from(JSON.stringify({
    architecture: image.architecture ?? 'amd64',
    os: image.os ?? 'linux',
    config: image.config ?? {},
    rootfs: { type: 'layers', diff_ids: image.diffIds },
    history: image.layers.map(() => ({ created_by: 'smolvm test' })),
  }));
  return {
    config,
    manifest: (put) => {
      const configDigest = put(config);
      const layerDigests = image.layers.map((l) => put(l));
      const manifest = Buffer.from(JSON.stringify({
        schemaVersion: 2,
        mediaType: MT.manifest,
        config: { mediaType: MT.config, digest: configDigest, size: config.length },
        layers: image.layers.map((l, i) => ({ mediaType: l[0] === 0x1f && l[1] === 0x8b ? MT.gzip : MT.tar, digest: layerDigests[i], size: l.length })),
      }));
      return { manifestDigest: put(manifest), manifest, configDigest, config, layerDigests };
    },
  };
}

/** One image under `tag`, or several platforms behind one index under `tag`. */
export function writeOciLayout(dir: string, tag: string, images: TestImage[], opts: { index?: boolean } = {}): WrittenImage[] {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  const put = (b: Buffer): string => putBlob(dir, b);
  const written = images.map((img) => imageDocuments(img).manifest(put));
  let top: { mediaType: string; digest: string; size: number; platform?: unknown };
  if (opts.index) {
    const index = Buffer.from(JSON.stringify({
      schemaVersion: 2,
      mediaType: MT.index,
      manifests: written.map((w, i) => ({
        mediaType: MT.manifest,
        digest: w.manifestDigest,
        size: w.manifest.length,
        platform: { os: images[i]?.os ?? 'linux', architecture: images[i]?.architecture ?? 'amd64' },
      })),
    }));
    top = { mediaType: MT.index, digest: put(index), size: index.length };
  } else {
    const w = written[0] as WrittenImage;
    top = { mediaType: MT.manifest, digest: w.manifestDigest, size: w.manifest.length };
  }
  writeFileSync(join(dir, 'index.json'), JSON.stringify({
    schemaVersion: 2,
    mediaType: MT.index,
    manifests: [{ ...top, annotations: { 'org.opencontainers.image.ref.name': tag } }],
  }));
  return written;
}
