// A tiny loopback HTTP server for the hostile cases a real registry will not produce: tampered, oversized,
// truncated or hanging responses, auth challenges, redirects. It records every request it sees.
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { gzipSync } from 'node:zlib';
import { digestOf } from '../../src/index.js';
import { tarArchive } from './tar-writer.js';

export interface SeenRequest {
  method: string;
  path: string;
  headers: IncomingMessage['headers'];
}

export interface FakeServer {
  host: string;
  url: string;
  requests: SeenRequest[];
  close(): Promise<void>;
}

export type Handler = (req: IncomingMessage, res: ServerResponse, path: string) => unknown;

export async function startFake(handler: Handler): Promise<FakeServer> {
  const requests: SeenRequest[] = [];
  const server = createServer((req, res) => {
    const path = req.url ?? '/';
    requests.push({ method: req.method ?? 'GET', path, headers: req.headers });
    Promise.resolve(handler(req, res, path)).catch(() => res.destroy());
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  return {
    host: `127.0.0.1:${port}`,
    url: `http://127.0.0.1:${port}`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface FakeImage {
  manifest: Buffer;
  manifestDigest: string;
  config: Buffer;
  configDigest: string;
  layer: Buffer;
  layerDigest: string;
  blobs: Map<string, Buffer>;
}

/** A one-layer image (gzip) whose documents a fake server can serve. */
export function fakeImage(content = 'hello from a fake registry'): FakeImage {
  const tar = tarArchive([{ name: 'etc/motd', data: content }]);
  const layer = gzipSync(tar);
  const config = Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', config: { Cmd: ['/bin/sh'] }, rootfs: { type: 'layers', diff_ids: [digestOf(tar)] } }));
  const manifest = Buffer.from(JSON.stringify({
    schemaVersion: 2,
    mediaType: 'application/vnd.oci.image.manifest.v1+json',
    config: { mediaType: 'application/vnd.oci.image.config.v1+json', digest: digestOf(config), size: config.length },
    layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip', digest: digestOf(layer), size: layer.length }],
  }));
  return {
    manifest,
    manifestDigest: digestOf(manifest),
    config,
    configDigest: digestOf(config),
    layer,
    layerDigest: digestOf(layer),
    blobs: new Map([[digestOf(config), config], [digestOf(layer), layer]]),
  };
}

/** Serves `img` as repository test/app (tag 1) with Range support; returns false for paths it does not know. */
export function serveImage(img: FakeImage, req: IncomingMessage, res: ServerResponse, path: string): boolean {
  if (path === '/v2/') {
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    return true;
  }
  if (path === '/v2/test/app/manifests/1' || path === `/v2/test/app/manifests/${img.manifestDigest}`) {
    res.writeHead(200, { 'content-type': 'application/vnd.oci.image.manifest.v1+json', 'docker-content-digest': img.manifestDigest, 'content-length': img.manifest.length });
    res.end(img.manifest);
    return true;
  }
  const m = /^\/v2\/test\/app\/blobs\/(sha256:[a-f0-9]{64})$/.exec(path);
  const blob = m ? img.blobs.get(m[1] as string) : undefined;
  if (blob) {
    const range = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    if (range) {
      const start = Number(range[1]);
      res.writeHead(206, { 'content-range': `bytes ${start}-${blob.length - 1}/${blob.length}`, 'content-length': blob.length - start });
      res.end(blob.subarray(start));
    } else {
      res.writeHead(200, { 'content-length': blob.length });
      res.end(blob);
    }
    return true;
  }
  return false;
}

export function notFound(res: ServerResponse): void {
  res.writeHead(404, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ code: 'NAME_UNKNOWN', message: 'repository name not known to registry' }] }));
}
