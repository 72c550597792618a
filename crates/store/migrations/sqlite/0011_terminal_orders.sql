-- A merchant applies for a terminal (申请机具): submitted → approved → paying → deposit_paid →
-- shipped → delivered → activated, or rejected / cancelled, or returned unused. The deposit is collected through
-- the channel once per attempt (`id-attempt` is the bank's idempotency key); the collection's
-- reference becomes the deposit's route reference when the terminal ships.
CREATE TABLE terminal_orders (
    id                    TEXT PRIMARY KEY,
    merchant_id           TEXT NOT NULL REFERENCES merchants (id),
    plan_code             TEXT NOT NULL,
    model                 TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 50),
    -- Where the terminal goes is personal: sealed like ID and card numbers.
    shipping_address_sealed BLOB NOT NULL,
    shipping_address_key_id TEXT NOT NULL,
    deposit_route         TEXT NOT NULL CHECK (deposit_route IN ('card', 'wechat', 'alipay')),
    deposit_fen           INTEGER NOT NULL CHECK (deposit_fen > 0),
    status                TEXT NOT NULL CHECK (status IN ('submitted', 'approved', 'paying', 'deposit_paid', 'shipped',
                                                          'delivered', 'activated', 'returned', 'rejected', 'cancelled')),
    payment_attempt       INTEGER NOT NULL DEFAULT 0 CHECK (payment_attempt >= 0),
    payment_status        TEXT CHECK (payment_status IN ('pending', 'sent', 'unknown', 'succeeded', 'failed')),
    bank_reference        TEXT,
    paid_at               INTEGER,
    failure_code          TEXT,
    terminal_id           TEXT REFERENCES terminals (id),
    carrier               TEXT,
    waybill_no            TEXT,
    created_at            INTEGER NOT NULL,
    updated_at            INTEGER NOT NULL
);
CREATE INDEX terminal_orders_by_merchant ON terminal_orders (merchant_id, id);
CREATE INDEX terminal_orders_by_status ON terminal_orders (status, id);
CREATE UNIQUE INDEX terminal_orders_by_terminal ON terminal_orders (terminal_id);

CREATE TABLE terminal_order_events (
    seq                   INTEGER PRIMARY KEY AUTOINCREMENT,
    order_id              TEXT NOT NULL REFERENCES terminal_orders (id),
    from_status           TEXT,
    to_status             TEXT NOT NULL,
    actor_role            TEXT NOT NULL,
    actor_id              TEXT NOT NULL,
    note                  TEXT NOT NULL DEFAULT '',
    at                    INTEGER NOT NULL
);
CREATE INDEX terminal_order_events_by_order ON terminal_order_events (order_id, seq);
