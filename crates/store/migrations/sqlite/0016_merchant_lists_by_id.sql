-- A merchant's applications, notifications, tickets and items are listed newest (or oldest)
-- first by id, a page at a time. Their merchant indexes were ordered by created_at, so each page
-- read every row the merchant has and sorted them (a chain merchant's tens of thousands of
-- notices, for twenty). Ordered by id, a page reads its own rows and no more. Nothing looks
-- these tables up by merchant and creation time, so the old indexes go (the same writes as
-- before), except the items' (merchant, status) index, which My Devices reads the open items by.
-- Building them locks each table against writes for as long as its index takes to build.
DROP INDEX applications_by_merchant;
CREATE INDEX applications_by_merchant ON refund_applications (merchant_id, id);
DROP INDEX notifications_by_merchant;
CREATE INDEX notifications_by_merchant ON notifications (merchant_id, id);
DROP INDEX tickets_by_merchant;
CREATE INDEX tickets_by_merchant ON tickets (merchant_id, id);
CREATE INDEX outstanding_by_merchant_id ON outstanding_items (merchant_id, id);
-- The same for the review queue (applications in a status, oldest first by id; `refunded` grows
-- with every refund paid), its creation time kept in the index for the reports that count
-- applications by status since a day; and for an agent's merchants, listed by merchant number.
DROP INDEX applications_by_status;
CREATE INDEX applications_by_status ON refund_applications (status, id, created_at);
DROP INDEX merchants_by_agent;
CREATE INDEX merchants_by_agent ON merchants (agent_id, merchant_no);
