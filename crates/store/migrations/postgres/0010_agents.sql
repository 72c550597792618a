-- Agents (代理商) sell terminals to merchants: a staff role that reads its own merchants' cases
-- and nothing else, and the agent who onboarded each merchant.
ALTER TABLE staff DROP CONSTRAINT staff_role_check;
ALTER TABLE staff ADD CONSTRAINT staff_role_check
    CHECK (role IN ('reviewer', 'approver', 'finance', 'admin', 'support', 'agent'));

ALTER TABLE merchants ADD COLUMN agent_id TEXT REFERENCES staff (id);
CREATE INDEX merchants_by_agent ON merchants (agent_id);
