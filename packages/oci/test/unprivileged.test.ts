// The layer application and the disk build run as an ordinary user (here: nobody, via setpriv) and still
// produce an image whose owners, set-id bits and device nodes are right. The code runs from a directory
// nobody cannot write to; only the output directory belongs to nobody.
import { execFile } from 'node:child_process';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import ts from 'typescript';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { expectTestImage, layerFiles } from './helpers/layers.js';

const execFileP = promisify(execFile);
const NOBODY = 65534;
const isRoot = process.getuid?.() === 0;
const srcDir = join(import.meta.dirname, '..', 'src');

let work: string;
beforeAll(() => {
  if (!isRoot) {
    // Not root: this whole suite already runs as an unprivileged user, which is what this test proves.
    console.log('unprivileged.test: skipped, not running as root (the rest of the suite already runs unprivileged)');
    return;
  }
  work = mkdtempSync(join(tmpdir(), 'smolvm-oci-nobody-'));
  chmodSync(work, 0o755);
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

describe.skipIf(!isRoot)('as an unprivileged user', () => {
  it('builds a disk whose ownership is the image’s, not the builder’s', async () => {
    // The package's own source, compiled for plain node, in a root-owned directory.
    const code = join(work, 'code');
    mkdirSync(code, { mode: 0o755 });
    for (const f of readdirSync(srcDir).filter((x) => x.endsWith('.ts'))) {
      const out = ts.transpileModule(readFileSync(join(srcDir, f), 'utf8'), {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022, verbatimModuleSyntax: false },
      });
      writeFileSync(join(code, f.replace(/\.ts$/, '.js')), out.outputText, { mode: 0o644 });
    }
    writeFileSync(join(code, 'package.json'), '{"type":"module"}', { mode: 0o644 });
    writeFileSync(join(code, 'build.mjs'), [
      "import { buildImageDisk } from './disk.js';",
      'const [layers, output] = [JSON.parse(process.argv[2]), process.argv[3]];',
      'const stats = await buildImageDisk({ layers, output });',
      'console.log(JSON.stringify({ uid: process.getuid(), stats }));',
    ].join('\n'), { mode: 0o644 });

    const { layers, diffIds } = layerFiles();
    const layerDir = join(work, 'layers');
    mkdirSync(layerDir, { mode: 0o755 });
    const inputs = layers.map((l, i) => {
      const p = join(layerDir, `layer${i}`);
      writeFileSync(p, l, { mode: 0o644 });
      return { path: p, diffId: diffIds[i] };
    });
    const outDir = join(work, 'out');
    mkdirSync(outDir, { mode: 0o755 });
    chownSync(outDir, NOBODY, NOBODY);
    const output = join(outDir, 'root.ext4');

    const { stdout } = await execFileP('setpriv', [`--reuid=${NOBODY}`, `--regid=${NOBODY}`, '--clear-groups', process.execPath, join(code, 'build.mjs'), JSON.stringify(inputs), output], {
      cwd: code,
      env: { PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin', HOME: outDir },
      timeout: 60_000,
    });
    const report = JSON.parse(stdout.trim().split('\n').pop() as string) as { uid: number };
    expect(report.uid).toBe(NOBODY);
    expect(statSync(output).uid).toBe(NOBODY);
    expectTestImage(output);
    // Nothing the builder left behind: the staging tree is gone.
    expect(readdirSync(outDir)).toEqual(['root.ext4']);
  });
});
