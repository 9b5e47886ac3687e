// Separate processes on one database: what the in-process tests cannot show. Each child imports a JavaScript
// build of the state layer (see buildStateLayer) and talks only through the shared SMOLVM_HOME.
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { openStateStore } from '../../src/state/index.js';
import { buildStateLayer, runModule, tempHome } from './helpers.js';

let build: Awaited<ReturnType<typeof buildStateLayer>>;
beforeAll(async () => {
  build = await buildStateLayer();
}, 120_000);
afterAll(async () => {
  await build?.[Symbol.asyncDispose]();
});

/** Busy-waits until `at` (epoch ms) so several children act at the same moment. */
const waitUntil = `const waitUntil = (at) => { while (Date.now() < at) {} };`;

describe('two processes', () => {
  it('race to create the same names (on a database neither has made yet): exactly one wins each', async () => {
    await using t = await tempHome();
    const names = Array.from({ length: 20 }, (_, i) => `race-${i}`);
    const source = `
      import { openStateStore } from ${JSON.stringify(build.index)};
      ${waitUntil}
      const [home, at] = [process.argv[2], Number(process.argv[3])];
      const names = ${JSON.stringify(names)};
      waitUntil(at);
      const store = openStateStore({ home });
      const results = {};
      for (const name of names) {
        try { results[name] = 'created ' + store.createMachine({ name }).id; }
        catch (e) { results[name] = e.code + ': ' + e.message; }
      }
      store.close();
      console.log(JSON.stringify(results));
    `;
    const at = String(Date.now() + 1500);
    const [a, b] = await Promise.all([
      runModule(t.root, 'create-a.mjs', source, [t.home, at]),
      runModule(t.root, 'create-b.mjs', source, [t.home, at]),
    ]);
    expect([a.code, a.stderr, b.code, b.stderr]).toEqual([0, '', 0, '']);
    const ra = JSON.parse(a.stdout) as Record<string, string>;
    const rb = JSON.parse(b.stdout) as Record<string, string>;
    const store = openStateStore({ home: t.home });
    try {
      for (const name of names) {
        const outcomes = [ra[name]!, rb[name]!];
        const winners = outcomes.filter((o) => o.startsWith('created '));
        expect([name, winners.length]).toEqual([name, 1]);
        const loser = outcomes.find((o) => !o.startsWith('created '));
        expect(loser).toBe(`SMOLVM_ERR_MACHINE_EXISTS: a machine named "${name}" already exists; nothing was created`);
        expect(winners[0]).toBe(`created ${store.getMachine(name).id}`);
      }
      expect(store.listMachines()).toHaveLength(names.length);
    } finally {
      store.close();
    }
  });

  it('never hold the same machine lock at once', async () => {
    await using t = await tempHome();
    openStateStore({ home: t.home }).close();
    const log = join(t.root, 'lock.log');
    const rounds = 8;
    const source = `
      import { appendFileSync } from 'node:fs';
      import { openStateStore } from ${JSON.stringify(build.index)};
      ${waitUntil}
      const [home, log, who, at] = [process.argv[2], process.argv[3], process.argv[4], Number(process.argv[5])];
      const store = openStateStore({ home });
      waitUntil(at);
      for (let i = 0; i < ${rounds}; i++) {
        await store.withMachineLock('shared', async () => {
          appendFileSync(log, who + ' in\\n');
          await new Promise((r) => setTimeout(r, 15));
          appendFileSync(log, who + ' out\\n');
        }, { timeoutMs: 20000 });
      }
      store.close();
    `;
    const at = String(Date.now() + 800);
    const results = await Promise.all(['a', 'b'].map((who) => runModule(t.root, `lock-${who}.mjs`, source, [t.home, log, who, at])));
    for (const r of results) expect([r.code, r.stderr]).toEqual([0, '']);
    const lines = readFileSync(log, 'utf8').trim().split('\n');
    expect(lines).toHaveLength(2 * 2 * rounds);
    for (let i = 0; i < lines.length; i += 2) {
      const who = lines[i]!.split(' ')[0];
      expect([lines[i], lines[i + 1]]).toEqual([`${who} in`, `${who} out`]);
    }
    expect(lines.filter((l) => l === 'a in')).toHaveLength(rounds);
    expect(lines.filter((l) => l === 'b in')).toHaveLength(rounds);
  });

  it('take over the lock of a holder that was killed -9, and wait for a live one', async () => {
    await using t = await tempHome();
    openStateStore({ home: t.home }).close();
    const holder = spawn(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        `import { openStateStore } from ${JSON.stringify(build.index)};
         const store = openStateStore({ home: ${JSON.stringify(t.home)} });
         await store.acquireMachineLock('held');
         console.log('locked');
         setInterval(() => {}, 1000);`,
      ],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    const exited = new Promise<void>((resolve) => holder.once('exit', () => resolve()));
    await new Promise<void>((resolve, reject) => {
      holder.stdout.once('data', () => resolve());
      holder.once('exit', () => reject(new Error('the lock holder exited early')));
    });
    const store = openStateStore({ home: t.home });
    try {
      await expect(store.withMachineLock('held', () => 'no', { timeoutMs: 150 })).rejects.toMatchObject({
        code: 'SMOLVM_ERR_MACHINE_LOCKED',
        message: expect.stringContaining(`locked by process ${holder.pid}`),
      });
      holder.kill('SIGKILL');
      await exited;
      const started = Date.now();
      expect(await store.withMachineLock('held', () => 'taken over', { timeoutMs: 5000 })).toBe('taken over');
      expect(Date.now() - started).toBeLessThan(1000);
    } finally {
      holder.kill('SIGKILL');
      store.close();
    }
  });
});

describe('loading', () => {
  it('does not load better-sqlite3 until a store is opened', async () => {
    await using t = await tempHome();
    const r = await runModule(
      t.root,
      'lazy.mjs',
      `
      import { createRequire } from 'node:module';
      const state = await import(${JSON.stringify(build.index)});
      const loaded = () => Object.keys(createRequire(import.meta.url).cache).some((k) => k.includes('better-sqlite3'));
      const before = loaded();
      state.openStateStore({ home: process.argv[2] }).close();
      console.log(JSON.stringify([before, loaded()]));
    `,
      [t.home],
    );
    expect([r.code, r.stderr, r.stdout.trim()]).toEqual([0, '', '[false,true]']);
  });
});
