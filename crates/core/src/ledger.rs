//! The double-entry ledger, in TigerBeetle's two-phase model: immutable transfers between
//! accounts; a transfer is either posted at once or created pending (a reservation) and later
//! posted or voided, at most once. Account balances are four counters derived from transfers.
//!
//! This module holds the rules and the transfers each business event produces; the store
//! persists them with the same rules as conditional updates. [`Ledger`] is the in-memory form,
//! used as the model that property tests check both against.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use crate::money::Fen;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// Per terminal: the deposit we hold for the merchant (a liability). Its debits may never
    /// exceed its posted credits: refunded + in flight + deducted ≤ collected.
    DepositHeld,
    /// Per merchant: what the merchant owes us (an asset).
    Receivable,
    /// Company: approved refunds not yet confirmed paid (payable).
    RefundsInFlight,
    /// Company: handling fees and service charges earned.
    FeeRevenue,
    /// Company: money at the payment channel / bank.
    ChannelClearing,
}

impl AccountKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::DepositHeld => "deposit_held",
            Self::Receivable => "receivable",
            Self::RefundsInFlight => "refunds_in_flight",
            Self::FeeRevenue => "fee_revenue",
            Self::ChannelClearing => "channel_clearing",
        }
    }

    /// TigerBeetle's `debits_must_not_exceed_credits`.
    pub fn debits_must_not_exceed_credits(self) -> bool {
        matches!(self, Self::DepositHeld)
    }
}

/// An account: its kind and, for per-terminal and per-merchant accounts, whose it is.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct AccountKey {
    pub kind: AccountKind,
    pub owner: String,
}

impl AccountKey {
    pub fn deposit_held(terminal_id: &str) -> Self {
        Self { kind: AccountKind::DepositHeld, owner: terminal_id.to_owned() }
    }
    pub fn receivable(merchant_id: &str) -> Self {
        Self { kind: AccountKind::Receivable, owner: merchant_id.to_owned() }
    }
    pub fn company(kind: AccountKind) -> Self {
        Self { kind, owner: String::new() }
    }

    /// The account's id in storage: `deposit_held:tm_…`, or the bare kind for company accounts.
    pub fn id(&self) -> String {
        if self.owner.is_empty() {
            self.kind.as_str().to_owned()
        } else {
            format!("{}:{}", self.kind.as_str(), self.owner)
        }
    }
}

impl fmt::Display for AccountKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.id())
    }
}

/// What a transfer records, for reports and reconciliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferCode {
    DepositCollected,
    ChargeAccrued,
    ChargeSettled,
    Refund,
    RefundFee,
    RefundDeduction,
    PayoutSent,
}

impl TransferCode {
    pub const ALL: [TransferCode; 7] = [
        Self::DepositCollected,
        Self::ChargeAccrued,
        Self::ChargeSettled,
        Self::Refund,
        Self::RefundFee,
        Self::RefundDeduction,
        Self::PayoutSent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::DepositCollected => "deposit_collected",
            Self::ChargeAccrued => "charge_accrued",
            Self::ChargeSettled => "charge_settled",
            Self::Refund => "refund",
            Self::RefundFee => "refund_fee",
            Self::RefundDeduction => "refund_deduction",
            Self::PayoutSent => "payout_sent",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// A transfer as its creator specifies it. The id is chosen by the caller and reused on every
/// retry, so a retry is "already exists", never a second transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Transfer {
    pub id: String,
    pub debit: AccountKey,
    pub credit: AccountKey,
    pub amount: Fen,
    pub code: TransferCode,
    pub pending: bool,
    /// The business object it belongs to: an application, an outstanding item, a terminal.
    pub reference: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransferState {
    Pending,
    Posted,
    Voided,
}

impl TransferState {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Posted => "posted",
            Self::Voided => "voided",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Pending, Self::Posted, Self::Voided].into_iter().find(|s| s.as_str() == text)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Balance {
    pub debits_pending: Fen,
    pub debits_posted: Fen,
    pub credits_pending: Fen,
    pub credits_posted: Fen,
}

impl Balance {
    /// Whether `amount` more debit (pending or posted) keeps a limited account within its
    /// posted credits.
    pub fn can_debit(&self, amount: Fen) -> bool {
        let debits =
            i128::from(self.debits_pending.get()) + i128::from(self.debits_posted.get()) + i128::from(amount.get());
        debits <= i128::from(self.credits_posted.get())
    }
}

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum LedgerError {
    #[error("a transfer moves a positive amount")]
    NonPositiveAmount,
    #[error("a transfer moves money between two different accounts")]
    SameAccount,
    #[error("account {0} would be debited beyond its credits")]
    ExceedsCredits(String),
    #[error("transfer {0} exists with different fields")]
    ExistsWithDifferentFields(String),
    #[error("no transfer {0}")]
    NotFound(String),
    #[error("transfer {id} is {}, not pending", state.as_str())]
    NotPending { id: String, state: TransferState },
    #[error("the amount overflowed")]
    Overflow,
}

/// What creating a transfer did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Created {
    New,
    /// The same id with the same fields was created before: nothing changed.
    AlreadyExists,
}

/// Checks a transfer on its own, before any account is looked at.
pub fn check_shape(t: &Transfer) -> Result<(), LedgerError> {
    if !t.amount.is_positive() {
        return Err(LedgerError::NonPositiveAmount);
    }
    if t.debit == t.credit {
        return Err(LedgerError::SameAccount);
    }
    Ok(())
}

/// The in-memory ledger: the reference model of the rules.
#[derive(Clone, Debug, Default)]
pub struct Ledger {
    accounts: BTreeMap<AccountKey, Balance>,
    transfers: BTreeMap<String, (Transfer, TransferState)>,
}

impl Ledger {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn balance(&self, key: &AccountKey) -> Balance {
        self.accounts.get(key).copied().unwrap_or_default()
    }

    pub fn accounts(&self) -> impl Iterator<Item = (&AccountKey, &Balance)> {
        self.accounts.iter()
    }

    pub fn state(&self, id: &str) -> Option<TransferState> {
        self.transfers.get(id).map(|(_, s)| *s)
    }

    pub fn create(&mut self, t: &Transfer) -> Result<Created, LedgerError> {
        check_shape(t)?;
        if let Some((existing, _)) = self.transfers.get(&t.id) {
            return if existing == t {
                Ok(Created::AlreadyExists)
            } else {
                Err(LedgerError::ExistsWithDifferentFields(t.id.clone()))
            };
        }
        let debit = self.balance(&t.debit);
        if t.debit.kind.debits_must_not_exceed_credits() && !debit.can_debit(t.amount) {
            return Err(LedgerError::ExceedsCredits(t.debit.id()));
        }
        let mut debit = debit;
        let mut credit = self.balance(&t.credit);
        if t.pending {
            debit.debits_pending = add(debit.debits_pending, t.amount)?;
            credit.credits_pending = add(credit.credits_pending, t.amount)?;
        } else {
            debit.debits_posted = add(debit.debits_posted, t.amount)?;
            credit.credits_posted = add(credit.credits_posted, t.amount)?;
        }
        self.accounts.insert(t.debit.clone(), debit);
        self.accounts.insert(t.credit.clone(), credit);
        let state = if t.pending { TransferState::Pending } else { TransferState::Posted };
        self.transfers.insert(t.id.clone(), (t.clone(), state));
        Ok(Created::New)
    }

    /// Creates all of `transfers` or none of them, as the store does in one transaction.
    pub fn create_all(&mut self, transfers: &[Transfer]) -> Result<(), LedgerError> {
        let mut next = self.clone();
        for t in transfers {
            next.create(t)?;
        }
        *self = next;
        Ok(())
    }

    /// Posts a pending transfer: the reservation becomes final.
    pub fn post(&mut self, id: &str) -> Result<(), LedgerError> {
        self.resolve(id, TransferState::Posted)
    }

    /// Voids a pending transfer: the reservation is released.
    pub fn void(&mut self, id: &str) -> Result<(), LedgerError> {
        self.resolve(id, TransferState::Voided)
    }

    fn resolve(&mut self, id: &str, to: TransferState) -> Result<(), LedgerError> {
        let (t, state) = self.transfers.get(id).cloned().ok_or_else(|| LedgerError::NotFound(id.to_owned()))?;
        if state != TransferState::Pending {
            return Err(LedgerError::NotPending { id: id.to_owned(), state });
        }
        let mut debit = self.balance(&t.debit);
        let mut credit = self.balance(&t.credit);
        debit.debits_pending = sub(debit.debits_pending, t.amount)?;
        credit.credits_pending = sub(credit.credits_pending, t.amount)?;
        if to == TransferState::Posted {
            debit.debits_posted = add(debit.debits_posted, t.amount)?;
            credit.credits_posted = add(credit.credits_posted, t.amount)?;
        }
        self.accounts.insert(t.debit.clone(), debit);
        self.accounts.insert(t.credit.clone(), credit);
        self.transfers.insert(id.to_owned(), (t, to));
        Ok(())
    }
}

fn add(a: Fen, b: Fen) -> Result<Fen, LedgerError> {
    a.checked_add(b).map_err(|_| LedgerError::Overflow)
}

fn sub(a: Fen, b: Fen) -> Result<Fen, LedgerError> {
    a.checked_sub(b).map_err(|_| LedgerError::Overflow)
}

/// The transfers each business event produces. Ids derive from the business object, so the
/// same event always produces the same ids: a repeat is "already exists".
pub mod postings {
    use super::*;

    /// The merchant paid a terminal's deposit through the channel (the original route).
    pub fn collect_deposit(terminal_id: &str, amount: Fen) -> Transfer {
        Transfer {
            id: format!("{terminal_id}:deposit"),
            debit: AccountKey::company(AccountKind::ChannelClearing),
            credit: AccountKey::deposit_held(terminal_id),
            amount,
            code: TransferCode::DepositCollected,
            pending: false,
            reference: terminal_id.to_owned(),
        }
    }

    /// A charge became due (service fee, SIM fee, chargeback): the merchant owes it.
    pub fn accrue_charge(item_id: &str, merchant_id: &str, amount: Fen) -> Transfer {
        Transfer {
            id: format!("{item_id}:accrue"),
            debit: AccountKey::receivable(merchant_id),
            credit: AccountKey::company(AccountKind::FeeRevenue),
            amount,
            code: TransferCode::ChargeAccrued,
            pending: false,
            reference: item_id.to_owned(),
        }
    }

    /// The merchant paid a charge directly.
    pub fn settle_charge(item_id: &str, merchant_id: &str, amount: Fen) -> Transfer {
        Transfer {
            id: format!("{item_id}:settle"),
            debit: AccountKey::company(AccountKind::ChannelClearing),
            credit: AccountKey::receivable(merchant_id),
            amount,
            code: TransferCode::ChargeSettled,
            pending: false,
            reference: item_id.to_owned(),
        }
    }

    /// What an approved refund reserves, all pending: the net to the merchant, the fee, and
    /// each deducted item. Posted when the bank confirms, voided on a final failure.
    pub fn approve_refund(
        application_id: &str,
        terminal_id: &str,
        merchant_id: &str,
        net: Fen,
        fee: Fen,
        deductions: &[(String, Fen)],
    ) -> Vec<Transfer> {
        let held = AccountKey::deposit_held(terminal_id);
        let pending = |id: String, credit: AccountKey, amount: Fen, code: TransferCode| Transfer {
            id,
            debit: held.clone(),
            credit,
            amount,
            code,
            pending: true,
            reference: application_id.to_owned(),
        };
        let mut out = Vec::new();
        if net.is_positive() {
            let credit = AccountKey::company(AccountKind::RefundsInFlight);
            out.push(pending(format!("{application_id}:refund"), credit, net, TransferCode::Refund));
        }
        if fee.is_positive() {
            let credit = AccountKey::company(AccountKind::FeeRevenue);
            out.push(pending(format!("{application_id}:fee"), credit, fee, TransferCode::RefundFee));
        }
        for (item_id, amount) in deductions.iter().filter(|(_, a)| a.is_positive()) {
            let credit = AccountKey::receivable(merchant_id);
            out.push(pending(
                format!("{application_id}:deduct:{item_id}"),
                credit,
                *amount,
                TransferCode::RefundDeduction,
            ));
        }
        out
    }

    /// The bank confirmed the payout: the money left the channel.
    pub fn payout_sent(application_id: &str, net: Fen) -> Transfer {
        Transfer {
            id: format!("{application_id}:payout"),
            debit: AccountKey::company(AccountKind::RefundsInFlight),
            credit: AccountKey::company(AccountKind::ChannelClearing),
            amount: net,
            code: TransferCode::PayoutSent,
            pending: false,
            reference: application_id.to_owned(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::postings::*;
    use super::*;
    use proptest::prelude::*;

    fn held(t: &str) -> AccountKey {
        AccountKey::deposit_held(t)
    }

    #[test]
    fn a_refund_reserves_then_posts() {
        let mut l = Ledger::new();
        l.create(&collect_deposit("tm_1", Fen::yuan(99))).unwrap();
        let approve =
            approve_refund("ra_1", "tm_1", "mc_1", Fen::yuan(39), Fen::ZERO, &[("oi_1".into(), Fen::yuan(60))]);
        for t in &approve {
            l.create(t).unwrap();
        }
        assert_eq!(l.balance(&held("tm_1")).debits_pending, Fen::yuan(99));
        for t in &approve {
            l.post(&t.id).unwrap();
        }
        l.create(&payout_sent("ra_1", Fen::yuan(39))).unwrap();
        let b = l.balance(&held("tm_1"));
        assert_eq!((b.debits_pending, b.debits_posted, b.credits_posted), (Fen::ZERO, Fen::yuan(99), Fen::yuan(99)));
        assert_eq!(
            l.post("ra_1:refund"),
            Err(LedgerError::NotPending { id: "ra_1:refund".into(), state: TransferState::Posted })
        );
    }

    #[test]
    fn the_ledger_refuses_an_over_refund() {
        let mut l = Ledger::new();
        l.create(&collect_deposit("tm_1", Fen::yuan(99))).unwrap();
        let first = approve_refund("ra_1", "tm_1", "mc_1", Fen::yuan(99), Fen::ZERO, &[]);
        l.create(&first[0]).unwrap();
        let second = approve_refund("ra_2", "tm_1", "mc_1", Fen::new(1), Fen::ZERO, &[]);
        assert_eq!(l.create(&second[0]), Err(LedgerError::ExceedsCredits("deposit_held:tm_1".into())));
        // Voiding the first frees the reservation again.
        l.void("ra_1:refund").unwrap();
        assert_eq!(l.create(&second[0]), Ok(Created::New));
    }

    #[test]
    fn a_repeated_id_is_already_exists_or_an_error() {
        let mut l = Ledger::new();
        let t = collect_deposit("tm_1", Fen::yuan(99));
        assert_eq!(l.create(&t), Ok(Created::New));
        assert_eq!(l.create(&t), Ok(Created::AlreadyExists));
        let changed = Transfer { amount: Fen::yuan(199), ..t };
        assert_eq!(l.create(&changed), Err(LedgerError::ExistsWithDifferentFields("tm_1:deposit".into())));
        assert_eq!(l.balance(&held("tm_1")).credits_posted, Fen::yuan(99));
    }

    #[test]
    fn shapes_are_checked() {
        let t = collect_deposit("tm_1", Fen::ZERO);
        assert_eq!(check_shape(&t), Err(LedgerError::NonPositiveAmount));
        let t = Transfer {
            credit: AccountKey::company(AccountKind::ChannelClearing),
            ..collect_deposit("tm_1", Fen::new(1))
        };
        assert_eq!(check_shape(&t), Err(LedgerError::SameAccount));
    }

    #[derive(Clone, Debug)]
    enum Op {
        Collect { terminal: u8, fen: i64 },
        Approve { app: u8, terminal: u8, net: i64, fee: i64, deduct: i64 },
        Post { app: u8 },
        Void { app: u8 },
        Repeat { app: u8, terminal: u8, net: i64 },
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            (0u8..3, 1i64..50_000).prop_map(|(terminal, fen)| Op::Collect { terminal, fen }),
            (0u8..6, 0u8..3, 0i64..30_000, 0i64..500, 0i64..5_000)
                .prop_map(|(app, terminal, net, fee, deduct)| Op::Approve { app, terminal, net, fee, deduct }),
            (0u8..6).prop_map(|app| Op::Post { app }),
            (0u8..6).prop_map(|app| Op::Void { app }),
            (0u8..6, 0u8..3, 0i64..30_000).prop_map(|(app, terminal, net)| Op::Repeat { app, terminal, net }),
        ]
    }

    fn app_transfers(app: u8, terminal: u8, net: i64, fee: i64, deduct: i64) -> Vec<Transfer> {
        approve_refund(
            &format!("ra_{app}"),
            &format!("tm_{terminal}"),
            "mc_1",
            Fen::new(net),
            Fen::new(fee),
            &[("oi_1".to_owned(), Fen::new(deduct))],
        )
    }

    proptest! {
        /// Whatever happens, in whatever order: every posting balances; no deposit is debited
        /// beyond what was collected; a pending transfer resolves at most once.
        #[test]
        fn random_sequences_never_break_the_invariants(ops in proptest::collection::vec(op(), 1..60)) {
            let mut l = Ledger::new();
            let mut collected = [0i64; 3];
            for op in ops {
                match op {
                    Op::Collect { terminal, fen } => {
                        let t = Transfer { id: format!("tm_{terminal}:deposit:{}", collected[terminal as usize]), ..collect_deposit(&format!("tm_{terminal}"), Fen::new(fen)) };
                        l.create(&t).unwrap();
                        collected[terminal as usize] += fen;
                    }
                    Op::Approve { app, terminal, net, fee, deduct } => {
                        let transfers = app_transfers(app, terminal, net, fee, deduct);
                        let before = l.clone();
                        if l.create_all(&transfers).is_err() {
                            // All or nothing: a refusal leaves no trace.
                            prop_assert_eq!(l.accounts().count(), before.accounts().count());
                            prop_assert!(transfers.iter().all(|t| l.state(&t.id) == before.state(&t.id)));
                        }
                    }
                    Op::Post { app } | Op::Void { app } => {
                        let is_post = matches!(op, Op::Post { .. });
                        for id in [format!("ra_{app}:refund"), format!("ra_{app}:fee"), format!("ra_{app}:deduct:oi_1")] {
                            let before = l.state(&id);
                            let result = if is_post { l.post(&id) } else { l.void(&id) };
                            prop_assert_eq!(result.is_ok(), before == Some(TransferState::Pending));
                        }
                    }
                    Op::Repeat { app, terminal, net } => {
                        for t in app_transfers(app, terminal, net, 0, 0) {
                            if let Ok(Created::AlreadyExists) = l.create(&t) {
                                prop_assert_eq!(&l.transfers[&t.id].0, &t);
                            }
                        }
                    }
                }
                check_invariants(&l, &collected)?;
            }
        }
    }

    fn check_invariants(l: &Ledger, collected: &[i64; 3]) -> Result<(), TestCaseError> {
        let total = |f: fn(&Balance) -> Fen| l.accounts().map(|(_, b)| i128::from(f(b).get())).sum::<i128>();
        prop_assert_eq!(total(|b| b.debits_posted), total(|b| b.credits_posted));
        prop_assert_eq!(total(|b| b.debits_pending), total(|b| b.credits_pending));
        for (t, &c) in collected.iter().enumerate() {
            let b = l.balance(&held(&format!("tm_{t}")));
            prop_assert_eq!(b.credits_posted.get(), c);
            prop_assert!(b.debits_pending.get() + b.debits_posted.get() <= c);
            prop_assert!(!b.debits_pending.is_negative());
        }
        Ok(())
    }
}
