// Runs the migrations of schema.ts against a database (see there for the rules).
import type BetterSqlite3 from 'better-sqlite3';
import { SmolvmError } from '../errors.js';
import { StateErrorCode } from './errors.js';
import { MIGRATIONS, STATE_SCHEMA_VERSION } from './schema.js';

function currentVersion(db: BetterSqlite3.Database): number {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'").get();
  if (!table) return 0;
  const row = db.prepare('SELECT MAX(version) AS v FROM schema_migrations').get() as { v: number | null };
  return row.v ?? 0;
}

function refuseNewer(version: number, dbPath: string): void {
  if (version > STATE_SCHEMA_VERSION) {
    throw new SmolvmError(
      StateErrorCode.STATE_SCHEMA_TOO_NEW,
      `the state database ${dbPath} has schema version ${version}, written by a newer smolvm; this smolvm knows versions up to ${STATE_SCHEMA_VERSION} and left the file untouched`,
      { hint: 'Upgrade smolvm (and @smolvm/core) to the version that wrote this database, or newer.' },
    );
  }
}

/**
 * Brings the database up to `STATE_SCHEMA_VERSION`. Safe against other processes migrating at the same time:
 * each step re-reads the version inside an IMMEDIATE (write-locked) transaction before applying anything.
 * Returns the versions before and after.
 */
export function migrate(db: BetterSqlite3.Database, dbPath: string): { from: number; to: number } {
  // The common case, an up-to-date database, takes no write lock.
  const from = currentVersion(db);
  refuseNewer(from, dbPath);
  if (from === STATE_SCHEMA_VERSION) return { from, to: from };

  for (;;) {
    const done = db
      .transaction((): boolean => {
        db.exec(`CREATE TABLE IF NOT EXISTS schema_migrations (
          version    INTEGER PRIMARY KEY NOT NULL,
          name       TEXT NOT NULL,
          applied_at TEXT NOT NULL
        ) STRICT`);
        const version = currentVersion(db);
        refuseNewer(version, dbPath);
        const next = MIGRATIONS.find((m) => m.version > version);
        if (!next) return true;
        db.exec(next.sql);
        db.prepare('INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)').run(
          next.version,
          next.name,
          new Date().toISOString(),
        );
        return false;
      })
      .immediate();
    if (done) return { from, to: STATE_SCHEMA_VERSION };
  }
}
