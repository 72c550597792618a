-- A ledger transfer, once written, never changes but for one step: a pending transfer is
-- posted or voided (and stamped resolved). Nothing deletes a transfer. The application never
-- does either; these triggers make the database refuse it from anyone with its role too.
CREATE TRIGGER ledger_transfers_immutable BEFORE UPDATE ON ledger_transfers
WHEN NEW.id IS NOT OLD.id
    OR NEW.debit_account_id IS NOT OLD.debit_account_id
    OR NEW.credit_account_id IS NOT OLD.credit_account_id
    OR NEW.amount_fen IS NOT OLD.amount_fen
    OR NEW.code IS NOT OLD.code
    OR NEW.created_pending IS NOT OLD.created_pending
    OR NEW.reference IS NOT OLD.reference
    OR NEW.created_at IS NOT OLD.created_at
    OR OLD.state <> 'pending'
    OR NEW.state NOT IN ('posted', 'voided')
BEGIN
    SELECT RAISE(ABORT, 'ledger_transfers: only a pending transfer is posted or voided; nothing else changes');
END;

CREATE TRIGGER ledger_transfers_no_delete BEFORE DELETE ON ledger_transfers
BEGIN
    SELECT RAISE(ABORT, 'ledger_transfers: a transfer is never deleted');
END;
