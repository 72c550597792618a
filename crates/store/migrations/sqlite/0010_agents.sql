-- Agents (代理商) sell terminals to merchants: a staff role that reads its own merchants' cases
-- and nothing else, and the agent who onboarded each merchant. A changed CHECK rebuilds the
-- table on SQLite (foreign keys are checked before the commit).
CREATE TABLE staff_0010 (
    id                    TEXT PRIMARY KEY,
    username              TEXT NOT NULL UNIQUE CHECK (length(username) BETWEEN 1 AND 64),
    display_name          TEXT NOT NULL,
    role                  TEXT NOT NULL CHECK (role IN ('reviewer', 'approver', 'finance', 'admin', 'support', 'agent')),
    password_hash         TEXT NOT NULL,
    active                INTEGER NOT NULL DEFAULT 1 CHECK (active IN (0, 1)),
    created_at            INTEGER NOT NULL
);
INSERT INTO staff_0010 SELECT id, username, display_name, role, password_hash, active, created_at FROM staff;
DROP TABLE staff;
ALTER TABLE staff_0010 RENAME TO staff;

ALTER TABLE merchants ADD COLUMN agent_id TEXT REFERENCES staff (id);
CREATE INDEX merchants_by_agent ON merchants (agent_id);
