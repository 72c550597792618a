-- Failed logins are counted per (identifier as typed, normalised; client address), for
-- identifiers that exist and those that do not alike: a lock then holds that address out, never
-- the account's owner elsewhere, and the answers tell nobody which accounts exist.
CREATE TABLE login_failures (
    kind                  TEXT NOT NULL CHECK (kind IN ('merchant', 'staff')),
    identifier            TEXT NOT NULL,
    client_ip             TEXT NOT NULL,
    failures              INTEGER NOT NULL CHECK (failures >= 0),
    locked_until          INTEGER,
    last_at               INTEGER NOT NULL,
    PRIMARY KEY (kind, identifier, client_ip)
);
CREATE INDEX login_failures_by_last_at ON login_failures (last_at);

-- The per-account counters this replaces: nothing reads or writes them any more.
ALTER TABLE merchants DROP COLUMN failed_login_count;
ALTER TABLE merchants DROP COLUMN locked_until;
ALTER TABLE staff DROP COLUMN failed_login_count;
ALTER TABLE staff DROP COLUMN locked_until;
