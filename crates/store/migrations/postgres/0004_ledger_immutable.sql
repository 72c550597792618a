-- A ledger transfer, once written, never changes but for one step: a pending transfer is
-- posted or voided (and stamped resolved). Nothing deletes a transfer. The application never
-- does either; these triggers make the database refuse it from anyone with its role too.
CREATE FUNCTION yajin_ledger_transfer_guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF TG_OP = 'DELETE' THEN
        RAISE EXCEPTION 'ledger_transfers: a transfer is never deleted';
    END IF;
    IF NEW.id IS DISTINCT FROM OLD.id
        OR NEW.debit_account_id IS DISTINCT FROM OLD.debit_account_id
        OR NEW.credit_account_id IS DISTINCT FROM OLD.credit_account_id
        OR NEW.amount_fen IS DISTINCT FROM OLD.amount_fen
        OR NEW.code IS DISTINCT FROM OLD.code
        OR NEW.created_pending IS DISTINCT FROM OLD.created_pending
        OR NEW.reference IS DISTINCT FROM OLD.reference
        OR NEW.created_at IS DISTINCT FROM OLD.created_at
        OR OLD.state <> 'pending'
        OR NEW.state NOT IN ('posted', 'voided') THEN
        RAISE EXCEPTION 'ledger_transfers: only a pending transfer is posted or voided; nothing else changes';
    END IF;
    RETURN NEW;
END;
$$;
CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE OR DELETE ON ledger_transfers
    FOR EACH ROW EXECUTE FUNCTION yajin_ledger_transfer_guard();

-- Row triggers do not see TRUNCATE: the append-only tables refuse it as a statement.
CREATE FUNCTION yajin_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is never truncated', TG_TABLE_NAME;
END;
$$;
CREATE TRIGGER ledger_transfers_no_truncate BEFORE TRUNCATE ON ledger_transfers
    FOR EACH STATEMENT EXECUTE FUNCTION yajin_no_truncate();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION yajin_no_truncate();
CREATE TRIGGER application_events_no_truncate BEFORE TRUNCATE ON application_events
    FOR EACH STATEMENT EXECUTE FUNCTION yajin_no_truncate();
