-- Each terminal's counted volume per transaction kind: the usage inside its activation plan's
-- counting window (activated_at ..= count_until), kept current by the database itself in the
-- transaction that writes the usage or moves the window, whichever path writes it (a single
-- record, a bulk load, an activation). My Devices, a submit and the evaluation read a few rows
-- here instead of summing every record of every terminal on each read.
CREATE TABLE terminal_volumes (
    terminal_id           TEXT NOT NULL REFERENCES terminals (id),
    kind                  TEXT NOT NULL,
    volume_fen            INTEGER NOT NULL CHECK (volume_fen >= 0),
    PRIMARY KEY (terminal_id, kind)
) WITHOUT ROWID;

INSERT INTO terminal_volumes (terminal_id, kind, volume_fen)
SELECT u.terminal_id, u.kind, sum(u.amount_fen) FROM usage_transactions u JOIN terminals t ON t.id = u.terminal_id
WHERE t.count_until IS NOT NULL AND u.occurred_at >= t.activated_at AND u.occurred_at <= t.count_until
GROUP BY u.terminal_id, u.kind;

CREATE TRIGGER usage_counted AFTER INSERT ON usage_transactions
BEGIN
    INSERT INTO terminal_volumes (terminal_id, kind, volume_fen)
    SELECT NEW.terminal_id, NEW.kind, NEW.amount_fen FROM terminals t
    WHERE t.id = NEW.terminal_id AND t.count_until IS NOT NULL
      AND NEW.occurred_at >= t.activated_at AND NEW.occurred_at <= t.count_until
    ON CONFLICT (terminal_id, kind) DO UPDATE SET volume_fen = volume_fen + excluded.volume_fen;
END;

-- A usage record is never changed or deleted: what was counted stays counted.
CREATE TRIGGER usage_immutable BEFORE UPDATE ON usage_transactions
BEGIN
    SELECT RAISE(ABORT, 'usage_transactions: a usage record never changes');
END;
CREATE TRIGGER usage_no_delete BEFORE DELETE ON usage_transactions
BEGIN
    SELECT RAISE(ABORT, 'usage_transactions: a usage record is never deleted');
END;

-- A window that opens or moves (an activation) counts the terminal's records again.
CREATE TRIGGER terminal_window_moved AFTER UPDATE OF activated_at, count_until ON terminals
WHEN OLD.activated_at IS NOT NEW.activated_at OR OLD.count_until IS NOT NEW.count_until
BEGIN
    DELETE FROM terminal_volumes WHERE terminal_id = NEW.id;
    INSERT INTO terminal_volumes (terminal_id, kind, volume_fen)
    SELECT terminal_id, kind, sum(amount_fen) FROM usage_transactions
    WHERE terminal_id = NEW.id AND NEW.count_until IS NOT NULL
      AND occurred_at >= NEW.activated_at AND occurred_at <= NEW.count_until
    GROUP BY kind;
END;
