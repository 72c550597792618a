//! Whether a deposit can be refunded now, and if not, every reason why, with the figures a
//! merchant needs to act. A pure function of the terminal's facts, its plan snapshot, what the
//! merchant owes, and the time.

use serde::Serialize;

use crate::money::{Fen, MoneyError};
use crate::plan::{DepositPlan, RefundRule};
use crate::timestamp::Timestamp;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum TerminalStatus {
    /// Bound and deposit paid, not yet activated.
    Inactive,
    Active,
    /// Unbound (解绑): the merchant stopped using the service.
    Terminated,
}

impl TerminalStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Inactive => "inactive",
            Self::Active => "active",
            Self::Terminated => "terminated",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [Self::Inactive, Self::Active, Self::Terminated].into_iter().find(|s| s.as_str() == text)
    }
}

/// The deposit's money as the ledger sees it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
pub struct DepositFigures {
    pub collected_fen: Fen,
    pub refunded_fen: Fen,
    /// Reserved by an approved refund that is not yet paid.
    pub in_flight_fen: Fen,
    /// Kept to settle what the merchant owed, in an earlier refund.
    pub deducted_fen: Fen,
}

impl DepositFigures {
    pub fn refundable(&self) -> Result<Fen, MoneyError> {
        self.collected_fen
            .checked_sub(self.refunded_fen)?
            .checked_sub(self.in_flight_fen)?
            .checked_sub(self.deducted_fen)
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TerminalFacts {
    pub status: TerminalStatus,
    pub activated_at: Option<Timestamp>,
    pub terminated_at: Option<Timestamp>,
    pub device_returned: bool,
    pub risk_frozen: bool,
    pub deposit: DepositFigures,
    /// Volume of the transactions the plan counts, inside the plan's counting window.
    pub counted_volume_fen: Fen,
    pub open_application_id: Option<String>,
}

/// What a merchant can owe (an outstanding item's `kind`).
pub const OWED_KINDS: [&str; 4] = ["service_fee", "sim_fee", "chargeback", "negative_settlement"];

/// An open item the merchant owes (未结清款项).
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct OwedItem {
    pub id: String,
    pub kind: String,
    pub amount_fen: Fen,
    pub due_at: Timestamp,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Reason {
    DepositAlreadyRefunded,
    ApplicationAlreadyOpen {
        application_id: String,
    },
    RiskFrozen,
    OutstandingBalance {
        outstanding_fen: Fen,
        item_ids: Vec<String>,
        /// What is owed is more than the refund could cover: settle it, deduction cannot.
        exceeds_refund: bool,
    },
    RefundWindowExpired {
        deadline: Timestamp,
    },
    NotYetEligible {
        #[serde(flatten)]
        missing: Missing,
    },
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "missing", rename_all = "snake_case")]
pub enum Missing {
    NoDeposit,
    NotActivated,
    /// Returned unused (never activated, terminated): the deposit comes back once the device
    /// is received.
    DeviceNotReturned,
    VolumeBelowTarget {
        reached_fen: Fen,
        needed_fen: Fen,
        remaining_fen: Fen,
        deadline: Timestamp,
        days_left: i64,
    },
}

pub use crate::text::Lang;

impl Reason {
    pub fn code(&self) -> &'static str {
        match self {
            Self::DepositAlreadyRefunded => "deposit_already_refunded",
            Self::ApplicationAlreadyOpen { .. } => "application_already_open",
            Self::RiskFrozen => "risk_frozen",
            Self::OutstandingBalance { .. } => "outstanding_balance",
            Self::RefundWindowExpired { .. } => "refund_window_expired",
            Self::NotYetEligible { .. } => "not_yet_eligible",
        }
    }

    /// What the merchant reads: the rule, the figures, and what to do.
    pub fn message(&self, lang: Lang) -> String {
        let day = |t: &Timestamp| t.china_date().to_string();
        match (self, lang) {
            (Self::DepositAlreadyRefunded, Lang::Zh) => "该终端押金已退还，无可退金额。".into(),
            (Self::DepositAlreadyRefunded, Lang::En) => "This deposit has already been refunded.".into(),
            (Self::ApplicationAlreadyOpen { application_id }, Lang::Zh) => {
                format!("已有进行中的退押金申请 {application_id}，请查看其进度。")
            }
            (Self::ApplicationAlreadyOpen { application_id }, Lang::En) => {
                format!("Application {application_id} is already open; follow it there.")
            }
            (Self::RiskFrozen, Lang::Zh) => "账户处于风控冻结中，请联系客服。".into(),
            (Self::RiskFrozen, Lang::En) => "The account is frozen by risk control; contact customer service.".into(),
            (Self::OutstandingBalance { outstanding_fen, exceeds_refund, .. }, Lang::Zh) => {
                let tail = if *exceeds_refund {
                    "，超过可退金额，请先结清"
                } else {
                    "，请先结清或同意从押金中抵扣"
                };
                format!("尚有未结清款项 {outstanding_fen}{tail}。")
            }
            (Self::OutstandingBalance { outstanding_fen, exceeds_refund, .. }, Lang::En) => {
                let tail = if *exceeds_refund {
                    ", more than the refund: settle it first"
                } else {
                    ": settle it first, or agree to have it deducted from the deposit"
                };
                format!("{outstanding_fen} is still owed{tail}.")
            }
            (Self::RefundWindowExpired { deadline }, Lang::Zh) => {
                format!("退押金期限已于 {} 届满。", day(deadline))
            }
            (Self::RefundWindowExpired { deadline }, Lang::En) => {
                format!("The refund window closed on {}.", day(deadline))
            }
            (Self::NotYetEligible { missing }, lang) => missing.message(lang),
        }
    }
}

impl Missing {
    fn message(&self, lang: Lang) -> String {
        match (self, lang) {
            (Self::NoDeposit, Lang::Zh) => "该终端未收取押金。".into(),
            (Self::NoDeposit, Lang::En) => "No deposit was collected for this terminal.".into(),
            (Self::NotActivated, Lang::Zh) => "终端尚未激活。".into(),
            (Self::NotActivated, Lang::En) => "The terminal is not activated yet.".into(),
            (Self::DeviceNotReturned, Lang::Zh) => "机具退回并验收后，即可申请退还押金。".into(),
            (Self::DeviceNotReturned, Lang::En) => {
                "The deposit can be applied for once the returned device has been received.".into()
            }
            (Self::VolumeBelowTarget { reached_fen, needed_fen, remaining_fen, deadline, days_left }, Lang::Zh) => {
                format!(
                    "交易额已达 {reached_fen}，目标 {needed_fen}，还差 {remaining_fen}；截止 {}（含当日，剩余 {days_left} 天）。",
                    deadline.china_date()
                )
            }
            (Self::VolumeBelowTarget { reached_fen, needed_fen, remaining_fen, deadline, days_left }, Lang::En) => {
                format!(
                    "{reached_fen} of {needed_fen} reached, {remaining_fen} to go, by the end of {} ({days_left} days left).",
                    deadline.china_date()
                )
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Deduction {
    pub item_id: String,
    pub kind: String,
    pub amount_fen: Fen,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct VolumeProgress {
    pub reached_fen: Fen,
    pub target_fen: Fen,
}

/// The verdict, with the amounts a merchant sees before submitting.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct Assessment {
    pub reasons: Vec<Reason>,
    pub refundable_fen: Fen,
    pub fee_fen: Fen,
    pub deductions: Vec<Deduction>,
    pub deducted_fen: Fen,
    pub net_refund_fen: Fen,
    /// The date by which the merchant must act (target window or refund window), if any.
    pub deadline: Option<Timestamp>,
    pub volume: Option<VolumeProgress>,
    /// The plan wants the device back; it must be received before the refund is paid.
    pub device_return_pending: bool,
    /// Meets the activation rule with nothing owed, under a plan that allows it.
    pub auto_approvable: bool,
}

impl Assessment {
    pub fn eligible(&self) -> bool {
        self.reasons.is_empty()
    }
}

/// Assesses a refund of the terminal's whole refundable deposit at `now`.
pub fn assess(
    facts: &TerminalFacts,
    plan: &DepositPlan,
    owed: &[OwedItem],
    deduct_outstanding: bool,
    now: Timestamp,
) -> Result<Assessment, MoneyError> {
    let mut reasons = Vec::new();
    let refundable = facts.deposit.refundable()?.max(Fen::ZERO);
    if let Some(id) = &facts.open_application_id {
        reasons.push(Reason::ApplicationAlreadyOpen { application_id: id.clone() });
    } else if !refundable.is_positive() {
        reasons.push(if facts.deposit.collected_fen.is_positive() {
            Reason::DepositAlreadyRefunded
        } else {
            Reason::NotYetEligible { missing: Missing::NoDeposit }
        });
    }
    if !reasons.is_empty() {
        return Ok(Assessment::blocked(reasons));
    }
    if facts.risk_frozen {
        reasons.push(Reason::RiskFrozen);
    }
    let fee = plan.fee.fee_on(refundable)?;
    let owed_total = Fen::sum(owed.iter().map(|i| i.amount_fen))?;
    let room = refundable.checked_sub(fee)?;
    let deducting = deduct_outstanding && owed_total.is_positive() && owed_total <= room;
    if owed_total.is_positive() && !deducting {
        reasons.push(Reason::OutstandingBalance {
            outstanding_fen: owed_total,
            item_ids: owed.iter().map(|i| i.id.clone()).collect(),
            exceeds_refund: owed_total > room,
        });
    }
    let (deadline, volume) = apply_rule(facts, plan, now, &mut reasons);
    let deductions: Vec<Deduction> = if deducting {
        owed.iter()
            .map(|i| Deduction { item_id: i.id.clone(), kind: i.kind.clone(), amount_fen: i.amount_fen })
            .collect()
    } else {
        Vec::new()
    };
    let deducted = if deducting { owed_total } else { Fen::ZERO };
    let net = room.checked_sub(deducted)?;
    let is_activation = matches!(plan.rule, RefundRule::Activation { .. });
    Ok(Assessment {
        // Only a target met is approved by the system; a returned device is looked at by a person.
        auto_approvable: reasons.is_empty()
            && plan.auto_approve
            && is_activation
            && owed.is_empty()
            && facts.activated_at.is_some(),
        reasons,
        refundable_fen: refundable,
        fee_fen: fee,
        deductions,
        deducted_fen: deducted,
        net_refund_fen: net,
        deadline,
        volume,
        device_return_pending: matches!(plan.rule, RefundRule::Termination { device_return_required: true, .. })
            && !facts.device_returned,
    })
}

fn apply_rule(
    facts: &TerminalFacts,
    plan: &DepositPlan,
    now: Timestamp,
    reasons: &mut Vec<Reason>,
) -> (Option<Timestamp>, Option<VolumeProgress>) {
    match &plan.rule {
        RefundRule::Activation { volume_target_fen, window_days, .. } => {
            let Some(activated_at) = facts.activated_at else {
                if facts.terminated_at.is_some() {
                    // Returned unused (refused on delivery, or sent back before its first
                    // transaction): the target never began to count, and the deposit comes
                    // back once the device is received. (A termination plan judges a
                    // terminated terminal by its own window, as always.)
                    if !facts.device_returned {
                        reasons.push(Reason::NotYetEligible { missing: Missing::DeviceNotReturned });
                    }
                } else {
                    reasons.push(Reason::NotYetEligible { missing: Missing::NotActivated });
                }
                return (None, None);
            };
            let deadline = activated_at.end_of_china_day_after(*window_days);
            let reached = facts.counted_volume_fen;
            let progress = Some(VolumeProgress { reached_fen: reached, target_fen: *volume_target_fen });
            if reached >= *volume_target_fen {
                return (None, progress);
            }
            if now > deadline {
                reasons.push(Reason::RefundWindowExpired { deadline });
            } else {
                let remaining = Fen::new(volume_target_fen.get() - reached.get());
                reasons.push(Reason::NotYetEligible {
                    missing: Missing::VolumeBelowTarget {
                        reached_fen: reached,
                        needed_fen: *volume_target_fen,
                        remaining_fen: remaining,
                        deadline,
                        days_left: now.china_days_until(deadline),
                    },
                });
            }
            (Some(deadline), progress)
        }
        RefundRule::Termination { refund_window_days, .. } => {
            let Some(terminated_at) = facts.terminated_at else {
                // Still in service: the application itself asks to stop (退机).
                return (None, None);
            };
            let deadline = terminated_at.end_of_china_day_after(*refund_window_days);
            if now > deadline {
                reasons.push(Reason::RefundWindowExpired { deadline });
            }
            (Some(deadline), None)
        }
    }
}

impl Assessment {
    fn blocked(reasons: Vec<Reason>) -> Assessment {
        Assessment {
            reasons,
            refundable_fen: Fen::ZERO,
            fee_fen: Fen::ZERO,
            deductions: Vec::new(),
            deducted_fen: Fen::ZERO,
            net_refund_fen: Fen::ZERO,
            deadline: None,
            volume: None,
            device_return_pending: false,
            auto_approvable: false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::plan::{FeeRule, TxnKind};
    use proptest::prelude::*;

    const DAY: i64 = 86_400_000;
    // 2026-11-24T04:00:00Z, noon in Shanghai.
    const NOW: Timestamp = Timestamp::from_millis(1_795_492_800_000);

    fn activation_plan() -> DepositPlan {
        DepositPlan {
            code: "ACT-99".into(),
            version: 1,
            name: "激活返押金".into(),
            name_en: String::new(),
            card_rates: Vec::new(),
            deposit_fen: Fen::yuan(99),
            rule: RefundRule::Activation {
                volume_target_fen: Fen::yuan(10_000),
                counted_kinds: vec![TxnKind::CreditCard],
                window_days: 90,
            },
            fee: FeeRule::NONE,
            auto_approve: true,
            four_eyes_threshold_fen: Fen::yuan(200),
            auto_apply: false,
        }
    }

    fn termination_plan() -> DepositPlan {
        DepositPlan {
            code: "TERM-299".into(),
            deposit_fen: Fen::yuan(299),
            rule: RefundRule::Termination { refund_window_days: 180, device_return_required: true },
            auto_approve: false,
            ..activation_plan()
        }
    }

    fn facts(volume_yuan: i64, activated_days_ago: i64) -> TerminalFacts {
        TerminalFacts {
            status: TerminalStatus::Active,
            activated_at: Some(NOW.plus_millis(-activated_days_ago * DAY)),
            terminated_at: None,
            device_returned: false,
            risk_frozen: false,
            deposit: DepositFigures { collected_fen: Fen::yuan(99), ..Default::default() },
            counted_volume_fen: Fen::yuan(volume_yuan),
            open_application_id: None,
        }
    }

    #[test]
    fn a_terminal_returned_unused_is_refunded_once_the_device_is_back() {
        let mut returned = facts(0, 0);
        (returned.status, returned.activated_at, returned.terminated_at) =
            (TerminalStatus::Terminated, None, Some(NOW.plus_millis(-DAY)));
        for plan in [activation_plan(), DepositPlan { auto_approve: true, ..activation_plan() }] {
            let waiting = assess(&returned, &plan, &[], false, NOW).unwrap();
            assert_eq!(waiting.reasons, [Reason::NotYetEligible { missing: Missing::DeviceNotReturned }]);
            let back =
                assess(&TerminalFacts { device_returned: true, ..returned.clone() }, &plan, &[], false, NOW).unwrap();
            assert!(back.eligible() && back.net_refund_fen == Fen::yuan(99), "{back:?}");
            assert!(!back.auto_approvable, "a returned device is looked at by a person");
        }
        // Inactive and still bound (shipped, not yet used): not yet, as before.
        let shipped = TerminalFacts { status: TerminalStatus::Inactive, activated_at: None, ..facts(0, 0) };
        assert_eq!(codes(&assess(&shipped, &activation_plan(), &[], false, NOW).unwrap()), ["not_yet_eligible"]);
        // A termination plan keeps its own window for a terminal never activated.
        let termination = DepositPlan {
            rule: RefundRule::Termination { refund_window_days: 180, device_return_required: true },
            ..activation_plan()
        };
        let long_ago = TerminalFacts {
            terminated_at: Some(NOW.plus_millis(-200 * DAY)),
            device_returned: true,
            ..returned.clone()
        };
        assert_eq!(codes(&assess(&long_ago, &termination, &[], false, NOW).unwrap()), ["refund_window_expired"]);
    }

    fn owes_60() -> Vec<OwedItem> {
        vec![OwedItem { id: "oi_1".into(), kind: "service_fee".into(), amount_fen: Fen::yuan(60), due_at: NOW }]
    }

    fn codes(a: &Assessment) -> Vec<&'static str> {
        a.reasons.iter().map(Reason::code).collect()
    }

    #[test]
    fn target_reached_and_nothing_owed_is_approved_automatically() {
        let a = assess(&facts(10_000, 30), &activation_plan(), &[], false, NOW).unwrap();
        assert!(a.eligible());
        assert!(a.auto_approvable);
        assert_eq!(a.net_refund_fen, Fen::yuan(99));
    }

    #[test]
    fn progress_shows_reached_needed_and_days_left() {
        let a = assess(&facts(3_500, 50), &activation_plan(), &[], false, NOW).unwrap();
        let [Reason::NotYetEligible {
            missing: Missing::VolumeBelowTarget { reached_fen, remaining_fen, days_left, .. },
        }] = a.reasons.as_slice()
        else {
            panic!("{:?}", a.reasons)
        };
        assert_eq!((*reached_fen, *remaining_fen, *days_left), (Fen::yuan(3_500), Fen::yuan(6_500), 40));
        assert!(!a.auto_approvable);
        assert!(a.reasons[0].message(Lang::Zh).contains("¥6,500.00"));
    }

    #[test]
    fn missing_the_target_window_expires_the_refund() {
        let a = assess(&facts(3_500, 91), &activation_plan(), &[], false, NOW).unwrap();
        assert_eq!(codes(&a), ["refund_window_expired"]);
        // The 90th day itself still counts.
        let a = assess(&facts(3_500, 90), &activation_plan(), &[], false, NOW).unwrap();
        assert_eq!(codes(&a), ["not_yet_eligible"]);
    }

    #[test]
    fn outstanding_blocks_unless_deducted_with_consent() {
        let plan = activation_plan();
        let a = assess(&facts(10_000, 30), &plan, &owes_60(), false, NOW).unwrap();
        assert_eq!(codes(&a), ["outstanding_balance"]);
        assert!(
            matches!(&a.reasons[0], Reason::OutstandingBalance { outstanding_fen, .. } if *outstanding_fen == Fen::yuan(60))
        );
        let a = assess(&facts(10_000, 30), &plan, &owes_60(), true, NOW).unwrap();
        assert!(a.eligible());
        assert_eq!((a.deducted_fen, a.net_refund_fen), (Fen::yuan(60), Fen::yuan(39)));
        assert!(!a.auto_approvable, "a deduction needs a person to look");
    }

    #[test]
    fn a_debt_larger_than_the_refund_must_be_settled() {
        let mut owed = owes_60();
        owed[0].amount_fen = Fen::yuan(100);
        let a = assess(&facts(10_000, 30), &activation_plan(), &owed, true, NOW).unwrap();
        assert!(matches!(a.reasons[..], [Reason::OutstandingBalance { exceeds_refund: true, .. }]));
    }

    #[test]
    fn every_reason_at_once() {
        let mut f = facts(3_500, 50);
        f.risk_frozen = true;
        let a = assess(&f, &activation_plan(), &owes_60(), false, NOW).unwrap();
        assert_eq!(codes(&a), ["risk_frozen", "outstanding_balance", "not_yet_eligible"]);
    }

    #[test]
    fn already_refunded_and_already_open() {
        let mut f = facts(10_000, 30);
        f.deposit.refunded_fen = Fen::yuan(99);
        assert_eq!(codes(&assess(&f, &activation_plan(), &[], false, NOW).unwrap()), ["deposit_already_refunded"]);
        f.deposit.refunded_fen = Fen::ZERO;
        f.open_application_id = Some("ra_1".into());
        assert_eq!(codes(&assess(&f, &activation_plan(), &[], false, NOW).unwrap()), ["application_already_open"]);
    }

    #[test]
    fn termination_window_counts_from_termination() {
        let mut f = facts(0, 400);
        f.status = TerminalStatus::Terminated;
        f.deposit.collected_fen = Fen::yuan(299);
        f.terminated_at = Some(NOW.plus_millis(-10 * DAY));
        f.device_returned = true;
        let a = assess(&f, &termination_plan(), &[], false, NOW).unwrap();
        assert!(a.eligible());
        assert!(!a.auto_approvable);
        assert!(!a.device_return_pending);
        f.terminated_at = Some(NOW.plus_millis(-200 * DAY));
        assert_eq!(codes(&assess(&f, &termination_plan(), &[], false, NOW).unwrap()), ["refund_window_expired"]);
    }

    #[test]
    fn fees_come_off_the_net() {
        let plan = DepositPlan { fee: FeeRule::Fixed { amount_fen: Fen::yuan(5) }, ..activation_plan() };
        let a = assess(&facts(10_000, 30), &plan, &[], false, NOW).unwrap();
        assert_eq!((a.fee_fen, a.net_refund_fen), (Fen::yuan(5), Fen::yuan(94)));
    }

    proptest! {
        /// net = refundable − fee − deductions, never below zero, never above what is held.
        #[test]
        fn net_never_negative_nor_above_the_deposit(
            collected in 0i64..1_000_000, refunded in 0i64..1_000_000, owed in proptest::collection::vec(0i64..100_000, 0..4),
            fee_bp in 0u32..=10_000, cap in 0i64..100_000, deduct: bool, volume in 0i64..2_000_000, days in 0i64..200,
        ) {
            let plan = DepositPlan { fee: FeeRule::Percent { basis_points: fee_bp, cap_fen: Fen::new(cap) }, ..activation_plan() };
            let mut f = facts(0, days);
            f.counted_volume_fen = Fen::new(volume);
            f.deposit = DepositFigures { collected_fen: Fen::new(collected), refunded_fen: Fen::new(refunded.min(collected)), ..Default::default() };
            let items: Vec<OwedItem> = owed.iter().enumerate()
                .map(|(i, &amount)| OwedItem { id: format!("oi_{i}"), kind: "fee".into(), amount_fen: Fen::new(amount), due_at: NOW })
                .collect();
            let a = assess(&f, &plan, &items, deduct, NOW).unwrap();
            prop_assert!(!a.net_refund_fen.is_negative());
            let total = a.net_refund_fen.get() + a.fee_fen.get() + a.deducted_fen.get();
            prop_assert_eq!(total, a.refundable_fen.get());
            prop_assert!(a.refundable_fen.get() <= collected - refunded.min(collected));
            if a.auto_approvable { prop_assert!(a.eligible() && items.is_empty()); }
        }
    }

    #[test]
    fn every_reason_reads_in_both_languages() {
        let fen = Fen::new(350_000);
        let at = Timestamp::from_millis(1_790_000_000_000);
        let reasons = [
            Reason::DepositAlreadyRefunded,
            Reason::ApplicationAlreadyOpen { application_id: "ra_01x".into() },
            Reason::RiskFrozen,
            Reason::OutstandingBalance { outstanding_fen: fen, item_ids: vec![], exceeds_refund: false },
            Reason::OutstandingBalance { outstanding_fen: fen, item_ids: vec![], exceeds_refund: true },
            Reason::RefundWindowExpired { deadline: at },
            Reason::NotYetEligible { missing: Missing::NoDeposit },
            Reason::NotYetEligible { missing: Missing::NotActivated },
            Reason::NotYetEligible { missing: Missing::DeviceNotReturned },
            Reason::NotYetEligible {
                missing: Missing::VolumeBelowTarget {
                    reached_fen: fen,
                    needed_fen: fen,
                    remaining_fen: fen,
                    deadline: at,
                    days_left: 3,
                },
            },
        ];
        for r in reasons {
            let faults = crate::text::language_faults(&r.message(Lang::Zh), &r.message(Lang::En), &["ra_01x"]);
            assert!(faults.is_empty(), "{}: {faults:?}", r.code());
        }
    }
}
