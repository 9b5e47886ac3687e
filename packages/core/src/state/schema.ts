// The state database's schema, as an ordered list of migrations. Each runs once, in its own transaction, and
// is recorded in `schema_migrations`; the highest recorded version is the schema version. A database whose
// version is higher than the last migration here was written by a newer smolvm: it is refused, untouched.
//
// To change the schema, append a migration; never edit one that has shipped.
export interface Migration {
  readonly version: number;
  readonly name: string;
  readonly sql: string;
}

export const MIGRATIONS: readonly Migration[] = [
  {
    version: 1,
    name: 'machines and machine locks',
    sql: `
      CREATE TABLE machines (
        name                   TEXT PRIMARY KEY NOT NULL,
        id                     TEXT NOT NULL UNIQUE,
        created_at             TEXT NOT NULL,
        updated_at             TEXT NOT NULL,
        image                  TEXT,
        cpus                   INTEGER NOT NULL CHECK (cpus >= 1),
        memory_mib             INTEGER NOT NULL CHECK (memory_mib >= 1),
        storage_gib            INTEGER NOT NULL CHECK (storage_gib >= 1),
        env                    TEXT NOT NULL DEFAULT '[]',
        workdir                TEXT,
        init                   TEXT NOT NULL DEFAULT '[]',
        restart_policy         TEXT NOT NULL DEFAULT 'never'
                                 CHECK (restart_policy IN ('never', 'on-failure', 'always')),
        restart_max_retries    INTEGER CHECK (restart_max_retries >= 0),
        restart_max_backoff_ms INTEGER NOT NULL CHECK (restart_max_backoff_ms >= 0),
        health                 TEXT,
        state                  TEXT NOT NULL DEFAULT 'created'
                                 CHECK (state IN ('created', 'starting', 'running', 'stopping', 'stopped', 'failed')),
        supervisor_pid         INTEGER,
        supervisor_start_time  TEXT,
        last_exit_reason       TEXT,
        restart_count          INTEGER NOT NULL DEFAULT 0 CHECK (restart_count >= 0)
      ) STRICT;

      CREATE TABLE machine_locks (
        name        TEXT PRIMARY KEY NOT NULL,
        token       TEXT NOT NULL,
        pid         INTEGER NOT NULL,
        start_time  TEXT,
        acquired_at TEXT NOT NULL
      ) STRICT;
    `,
  },
  {
    version: 2,
    name: 'published ports',
    sql: `ALTER TABLE machines ADD COLUMN ports TEXT NOT NULL DEFAULT '[]';`,
  },
  {
    version: 3,
    name: 'volumes',
    sql: `ALTER TABLE machines ADD COLUMN volumes TEXT NOT NULL DEFAULT '[]';`,
  },
];

/** The schema version this smolvm writes. */
export const STATE_SCHEMA_VERSION = MIGRATIONS[MIGRATIONS.length - 1]!.version;
