#!/usr/bin/env node
// Runs every benchmark in this folder in turn (each prints ratios against its own in-process baseline).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const dir = fileURLToPath(new URL('.', import.meta.url));
const only = process.argv[2];
let failed = 0;
for (const f of readdirSync(dir).filter((n) => n.endsWith('.mjs') && n !== 'run.mjs').sort()) {
  if (only && !f.startsWith(only)) continue;
  console.log(`\n== ${f}`);
  const r = spawnSync(process.execPath, [`${dir}/${f}`, ...process.argv.slice(3)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exitCode = failed ? 1 : 0;
