-- Each terminal's counted volume per transaction kind: the usage inside its activation plan's
-- counting window (activated_at ..= count_until), kept current by the database itself in the
-- transaction that writes the usage or moves the window, whichever path writes it (a single
-- record, a COPY-fed bulk load, an activation). My Devices, a submit and the evaluation read a
-- few rows here instead of summing every record of every terminal on each read.
CREATE TABLE terminal_volumes (
    terminal_id           TEXT NOT NULL REFERENCES terminals (id),
    kind                  TEXT NOT NULL,
    volume_fen            BIGINT NOT NULL CHECK (volume_fen >= 0),
    PRIMARY KEY (terminal_id, kind)
);

INSERT INTO terminal_volumes (terminal_id, kind, volume_fen)
SELECT u.terminal_id, u.kind, sum(u.amount_fen) FROM usage_transactions u JOIN terminals t ON t.id = u.terminal_id
WHERE t.count_until IS NOT NULL AND u.occurred_at >= t.activated_at AND u.occurred_at <= t.count_until
GROUP BY u.terminal_id, u.kind;

-- Once per statement, over the rows it inserted (a bulk load's thousands at once).
-- The terminals are locked first, in id order: a terminal whose window is opening in another
-- transaction (an activation, which recounts what it can see) is waited for, and the window
-- read afterwards, so a record written meanwhile is counted by one of the two, never by
-- neither. (A share lock would deadlock with the activation's own update of the row.) Rows
-- are upserted in key order too, so two loads touching the same terminals wait for each
-- other instead of deadlocking.
CREATE FUNCTION yajin_count_usage() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM terminals WHERE id IN (SELECT terminal_id FROM inserted_usage) ORDER BY id FOR NO KEY UPDATE;
    INSERT INTO terminal_volumes (terminal_id, kind, volume_fen)
    SELECT u.terminal_id, u.kind, sum(u.amount_fen) FROM inserted_usage u JOIN terminals t ON t.id = u.terminal_id
    WHERE t.count_until IS NOT NULL AND u.occurred_at >= t.activated_at AND u.occurred_at <= t.count_until
    GROUP BY u.terminal_id, u.kind
    ORDER BY u.terminal_id, u.kind
    ON CONFLICT (terminal_id, kind) DO UPDATE SET volume_fen = terminal_volumes.volume_fen + excluded.volume_fen;
    RETURN NULL;
END;
$$;
CREATE TRIGGER usage_counted AFTER INSERT ON usage_transactions
    REFERENCING NEW TABLE AS inserted_usage
    FOR EACH STATEMENT EXECUTE FUNCTION yajin_count_usage();

-- A usage record is never changed or deleted: what was counted stays counted.
CREATE FUNCTION yajin_usage_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'usage_transactions: a usage record never changes and is never deleted';
END;
$$;
CREATE TRIGGER usage_immutable BEFORE UPDATE OR DELETE ON usage_transactions
    FOR EACH ROW EXECUTE FUNCTION yajin_usage_guard();
CREATE TRIGGER usage_no_truncate BEFORE TRUNCATE ON usage_transactions
    FOR EACH STATEMENT EXECUTE FUNCTION yajin_no_truncate();

-- A window that opens or moves (an activation) counts the terminal's records again.
CREATE FUNCTION yajin_recount_window() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM terminal_volumes WHERE terminal_id = NEW.id;
    INSERT INTO terminal_volumes (terminal_id, kind, volume_fen)
    SELECT terminal_id, kind, sum(amount_fen) FROM usage_transactions
    WHERE terminal_id = NEW.id AND NEW.count_until IS NOT NULL
      AND occurred_at >= NEW.activated_at AND occurred_at <= NEW.count_until
    GROUP BY terminal_id, kind;
    RETURN NULL;
END;
$$;
CREATE TRIGGER terminal_window_moved AFTER UPDATE OF activated_at, count_until ON terminals
    FOR EACH ROW
    WHEN (OLD.activated_at IS DISTINCT FROM NEW.activated_at OR OLD.count_until IS DISTINCT FROM NEW.count_until)
    EXECUTE FUNCTION yajin_recount_window();
