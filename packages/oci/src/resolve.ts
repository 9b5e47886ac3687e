// From a first manifest-or-index document down to one image manifest for the wanted platform, whatever
// the source (registry, OCI layout, archive): the caller supplies how to fetch a child by descriptor.
import { OciError } from './errors.js';
import { formatPlatform, parseManifest, selectPlatform, type Descriptor, type ImageManifest, type Platform } from './manifest.js';

export interface ManifestDocument {
  bytes: Buffer;
  digest: string;
  mediaType: string;
}

export interface ResolvedManifest {
  manifest: ImageManifest;
  manifestDigest: string;
  manifestBytes: Buffer;
  /** The index the manifest was chosen from (the outermost one), if any. */
  indexDigest: string | undefined;
  /** Every manifest and index document met on the way (to keep them in the cache). */
  documents: ManifestDocument[];
}

export async function resolveToManifest(
  first: ManifestDocument,
  fetchChild: (desc: Descriptor) => Promise<ManifestDocument>,
  platform: Platform,
  image: string,
): Promise<ResolvedManifest> {
  let doc = first;
  let indexDigest: string | undefined;
  const documents: ManifestDocument[] = [];
  for (let depth = 0; depth < 4; depth++) {
    documents.push(doc);
    const parsed = parseManifest(doc.bytes, doc.mediaType);
    if (parsed.kind === 'manifest') return { manifest: parsed, manifestDigest: doc.digest, manifestBytes: doc.bytes, indexDigest, documents };
    indexDigest ??= doc.digest;
    const chosen = selectPlatform(parsed, platform);
    if (!chosen) {
      const have = [...new Set(parsed.manifests.filter((m) => m.platform && m.platform.os !== 'unknown').map((m) => formatPlatform(m.platform as Platform)))];
      throw new OciError('SMOLVM_ERR_OCI_PLATFORM_NOT_FOUND', `image ${image} has no variant for ${formatPlatform(platform)}; it has ${have.length ? have.join(', ') : 'no platform-specific images'}`, {
        image,
        hint: 'Choose one of the listed platforms with the platform option (it must match the CPU that runs the VM), or use another image.',
      });
    }
    const child = await fetchChild(chosen);
    if (child.digest !== chosen.digest) {
      throw new OciError('SMOLVM_ERR_OCI_DIGEST_MISMATCH', `the manifest chosen from ${image}'s index hashes to ${child.digest}, not ${chosen.digest}`, {
        image,
        digest: chosen.digest,
        hint: 'The source altered the manifest; nothing was cached.',
      });
    }
    if (child.bytes.length !== chosen.size) {
      throw new OciError('SMOLVM_ERR_OCI_SIZE_MISMATCH', `the manifest chosen from ${image}'s index has ${child.bytes.length} bytes, but the index says ${chosen.size}`, {
        image,
        digest: chosen.digest,
        hint: 'The index is inconsistent; report it to whoever publishes the image.',
      });
    }
    doc = { ...child, mediaType: child.mediaType || chosen.mediaType };
  }
  throw new OciError('SMOLVM_ERR_OCI_MANIFEST_INVALID', `image ${image} nests indexes more than 3 deep`, {
    image,
    hint: 'The image index is malformed; report it to whoever publishes the image.',
  });
}
