//! Deposit plans (押金政策): versioned; a terminal keeps the snapshot in force when it was
//! activated, so later versions never move the goalposts.

use serde::{Deserialize, Serialize};

use crate::money::{Fen, MoneyError};
use crate::text::Lang;
use crate::timestamp::Timestamp;
use crate::validation::{printable, FieldError, Lines};

/// What a usage transaction was, for deciding whether it counts toward a volume target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnKind {
    CreditCard,
    DebitCard,
    QrCode,
    Nfc,
}

impl TxnKind {
    pub const ALL: [TxnKind; 4] = [TxnKind::CreditCard, TxnKind::DebitCard, TxnKind::QrCode, TxnKind::Nfc];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::CreditCard => "credit_card",
            Self::DebitCard => "debit_card",
            Self::QrCode => "qr_code",
            Self::Nfc => "nfc",
        }
    }

    pub fn parse(text: &str) -> Option<TxnKind> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    /// The kind typed in `field`, or the field's error naming the kinds there are.
    pub fn parse_field(field: &str, text: &str) -> Result<TxnKind, FieldError> {
        TxnKind::parse(text.trim()).ok_or_else(|| {
            let allowed = TxnKind::ALL.map(TxnKind::as_str).join("、");
            FieldError::new(field, "invalid", format!("须为以下之一：{allowed}"), format!("one of {allowed}"))
        })
    }
}

/// When a deposit becomes refundable.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum RefundRule {
    /// 激活返押金: the terminal reaches a volume of counted transactions within
    /// `window_days` of activation (the last day counts).
    Activation { volume_target_fen: Fen, counted_kinds: Vec<TxnKind>, window_days: u32 },
    /// 退机退押金: the merchant stops; the application must come within
    /// `refund_window_days` of termination.
    Termination { refund_window_days: u32, device_return_required: bool },
}

/// The handling fee taken from a refund, disclosed before the merchant submits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum FeeRule {
    Fixed {
        amount_fen: Fen,
    },
    /// `basis_points` of the refundable amount (150 = 1.5 %), rounded down, at most `cap_fen`.
    Percent {
        basis_points: u32,
        cap_fen: Fen,
    },
}

impl RefundRule {
    /// The rule in one plain sentence.
    pub fn words(&self, lang: Lang) -> String {
        match (self, lang) {
            (RefundRule::Activation { volume_target_fen, window_days, .. }, Lang::Zh) => {
                format!("激活后 {window_days} 天内交易额达到 {volume_target_fen}，即可申请全额退押金")
            }
            (RefundRule::Activation { volume_target_fen, window_days, .. }, Lang::En) => {
                format!("Reach {volume_target_fen} of transactions within {window_days} days of activation to get the deposit back")
            }
            (RefundRule::Termination { refund_window_days, device_return_required }, Lang::Zh) => format!(
                "解约后 {refund_window_days} 天内可申请退押金{}",
                if *device_return_required { "，需先寄回设备" } else { "" }
            ),
            (RefundRule::Termination { refund_window_days, device_return_required }, Lang::En) => format!(
                "Apply within {refund_window_days} days of termination{}",
                if *device_return_required { "; the device must be returned first" } else { "" }
            ),
        }
    }
}

impl FeeRule {
    pub const NONE: FeeRule = FeeRule::Fixed { amount_fen: Fen::ZERO };

    /// The refund's handling fee in a few words.
    pub fn words(self, lang: Lang) -> String {
        match (self, lang) {
            (FeeRule::Fixed { amount_fen }, Lang::Zh) if amount_fen.get() == 0 => "无手续费".to_owned(),
            (FeeRule::Fixed { amount_fen }, Lang::En) if amount_fen.get() == 0 => "no fee".to_owned(),
            (FeeRule::Fixed { amount_fen }, Lang::Zh) => format!("手续费 {amount_fen}"),
            (FeeRule::Fixed { amount_fen }, Lang::En) => format!("fee {amount_fen}"),
            (FeeRule::Percent { basis_points, cap_fen }, Lang::Zh) => {
                format!("手续费 {}.{:02}%，最高 {cap_fen}", basis_points / 100, basis_points % 100)
            }
            (FeeRule::Percent { basis_points, cap_fen }, Lang::En) => {
                format!("fee {}.{:02}%, at most {cap_fen}", basis_points / 100, basis_points % 100)
            }
        }
    }

    /// The fee on `refundable`, never more than `refundable` itself.
    pub fn fee_on(self, refundable: Fen) -> Result<Fen, MoneyError> {
        let fee = match self {
            FeeRule::Fixed { amount_fen } => amount_fen,
            FeeRule::Percent { basis_points, cap_fen } => refundable.percent_bp_floor(basis_points)?.min(cap_fen),
        };
        Ok(fee.min(refundable).max(Fen::ZERO))
    }
}

/// What a terminal's transactions cost under a plan, for one kind of card (交易手续费率):
/// `rate_bp` basis points of the amount, rounded half up to the fen, at most `cap_fen` (debit
/// cards are often capped).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct CardRate {
    pub kind: TxnKind,
    pub rate_bp: u32,
    #[serde(default)]
    pub cap_fen: Option<Fen>,
}

/// The fee on one transaction, as the calculator shows it before a merchant commits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeQuote {
    pub fee_fen: Fen,
    pub rate_bp: u32,
    pub net_fen: Fen,
    /// The cap took effect.
    pub capped: bool,
}

/// One version of a deposit plan. Terminals store a copy of it, taken at activation.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct DepositPlan {
    pub code: String,
    pub version: i64,
    /// The plan's name in Chinese.
    pub name: String,
    /// Its name in English (plans stored before it existed have none: see [`DepositPlan::name_in`]).
    #[serde(default)]
    pub name_en: String,
    pub deposit_fen: Fen,
    pub rule: RefundRule,
    pub fee: FeeRule,
    /// An activation refund that meets its rule with nothing owed is approved by `system`.
    pub auto_approve: bool,
    /// Refunds at or above this need a second approver (四眼原则).
    pub four_eyes_threshold_fen: Fen,
    /// When the activation target is met, Yajin applies on the merchant's behalf (to the bound
    /// card), so nobody forfeits a deposit for not applying.
    #[serde(default)]
    pub auto_apply: bool,
    /// Transaction fee rates per kind of card, published with the plan (none: not quoted).
    #[serde(default)]
    pub card_rates: Vec<CardRate>,
}

/// The most days any window may span: ten years.
pub const WINDOW_DAYS_MAX: u32 = 3_650;
const CODE_LEN_MAX: usize = 40;
const NAME_LEN_MAX: usize = 100;

impl DepositPlan {
    /// The name in `lang`; in English, a plan without an English name is called by its code.
    pub fn name_in(&self, lang: crate::text::Lang) -> String {
        match lang {
            crate::text::Lang::Zh => self.name.clone(),
            crate::text::Lang::En if !self.name_en.trim().is_empty() => self.name_en.clone(),
            crate::text::Lang::En => format!("Deposit plan {}", self.code),
        }
    }

    /// Every problem at once, field by field.
    pub fn validate(&self) -> Result<(), Vec<FieldError>> {
        let mut errors = Vec::new();
        let code_ok = !self.code.is_empty()
            && self.code.len() <= CODE_LEN_MAX
            && self.code.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if !code_ok {
            errors.push(FieldError::new(
                "code",
                "invalid_format",
                "1–40 个字符，限 A–Z、a–z、0–9、- 和 _",
                "1–40 of A–Z, a–z, 0–9, - and _",
            ));
        }
        if self.name.trim().is_empty() || self.name.chars().count() > NAME_LEN_MAX {
            errors.push(FieldError::new("name", "invalid_length", "1–100 个字符", "1–100 characters"));
        }
        if let Some(error) = printable("name", &self.name, Lines::One) {
            errors.push(error);
        }
        if self.name_en.chars().count() > NAME_LEN_MAX {
            errors.push(FieldError::new("name_en", "invalid_length", "至多 100 个字符", "at most 100 characters"));
        }
        if let Some(error) = printable("name_en", &self.name_en, Lines::One) {
            errors.push(error);
        }
        if !self.deposit_fen.is_positive() || self.deposit_fen > Fen::PARSE_MAX {
            errors.push(FieldError::new("deposit_fen", "out_of_range", "押金须大于 0", "a deposit is more than 0"));
        }
        if self.four_eyes_threshold_fen.is_negative() {
            errors.push(FieldError::new("four_eyes_threshold_fen", "out_of_range", "须不小于 0", "0 or more"));
        }
        self.validate_rule(&mut errors);
        self.validate_fee(&mut errors);
        self.validate_card_rates(&mut errors);
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    fn validate_rule(&self, errors: &mut Vec<FieldError>) {
        let window_ok = |days: u32| (1..=WINDOW_DAYS_MAX).contains(&days);
        match &self.rule {
            RefundRule::Activation { volume_target_fen, counted_kinds, window_days } => {
                if !volume_target_fen.is_positive() || *volume_target_fen > Fen::PARSE_MAX {
                    errors.push(FieldError::new("rule.volume_target_fen", "out_of_range", "须大于 0", "more than 0"));
                }
                if counted_kinds.is_empty() {
                    errors.push(FieldError::new(
                        "rule.counted_kinds",
                        "required",
                        "至少计入一种交易类型",
                        "at least one kind counts",
                    ));
                }
                if !window_ok(*window_days) {
                    errors.push(FieldError::new("rule.window_days", "out_of_range", "1–3650 天", "1–3650 days"));
                }
            }
            RefundRule::Termination { refund_window_days, .. } => {
                if !window_ok(*refund_window_days) {
                    errors.push(FieldError::new("rule.refund_window_days", "out_of_range", "1–3650 天", "1–3650 days"));
                }
                if self.auto_approve {
                    errors.push(FieldError::new(
                        "auto_approve",
                        "not_allowed",
                        "只有激活返押金可自动审批",
                        "only activation refunds are approved automatically",
                    ));
                }
                if self.auto_apply {
                    errors.push(FieldError::new(
                        "auto_apply",
                        "not_allowed",
                        "只有激活返押金可自动申请",
                        "only activation refunds are applied for automatically",
                    ));
                }
            }
        }
    }

    fn validate_fee(&self, errors: &mut Vec<FieldError>) {
        match self.fee {
            FeeRule::Fixed { amount_fen } if amount_fen.is_negative() || amount_fen > self.deposit_fen => {
                errors.push(FieldError::new("fee.amount_fen", "out_of_range", "0 至押金金额", "0 up to the deposit"));
            }
            FeeRule::Percent { basis_points, cap_fen } => {
                if basis_points > 10_000 {
                    errors.push(FieldError::new(
                        "fee.basis_points",
                        "out_of_range",
                        "0–10000（即 100%）",
                        "0–10000 (100 %)",
                    ));
                }
                if cap_fen.is_negative() {
                    errors.push(FieldError::new("fee.cap_fen", "out_of_range", "须不小于 0", "0 or more"));
                }
            }
            FeeRule::Fixed { .. } => {}
        }
    }

    fn validate_card_rates(&self, errors: &mut Vec<FieldError>) {
        for (i, rate) in self.card_rates.iter().enumerate() {
            if rate.rate_bp > 10_000 {
                let field = format!("card_rates[{i}].rate_bp");
                errors.push(FieldError::new(field, "out_of_range", "0–10000（即 100%）", "0–10000 (100 %)"));
            }
            if rate.cap_fen.is_some_and(|c| c.is_negative() || c > Fen::PARSE_MAX) {
                errors.push(FieldError::new(
                    format!("card_rates[{i}].cap_fen"),
                    "out_of_range",
                    "须不小于 0",
                    "0 or more",
                ));
            }
            if self.card_rates[..i].iter().any(|r| r.kind == rate.kind) {
                let field = format!("card_rates[{i}].kind");
                errors.push(FieldError::new(field, "duplicate", "每种卡只能有一个费率", "one rate per kind of card"));
            }
        }
    }

    /// The fee on a transaction of `amount` by `kind`, or `None` when the plan quotes no rate
    /// for that kind. Integer arithmetic throughout: `amount × rate_bp / 10 000`, rounded half
    /// up, then capped.
    pub fn quote(&self, amount: Fen, kind: TxnKind) -> Option<Result<FeeQuote, MoneyError>> {
        let rate = self.card_rates.iter().find(|r| r.kind == kind)?;
        Some(amount.percent_bp_half_up(rate.rate_bp).and_then(|raw| {
            let fee = rate.cap_fen.map_or(raw, |cap| raw.min(cap));
            Ok(FeeQuote { fee_fen: fee, rate_bp: rate.rate_bp, net_fen: amount.checked_sub(fee)?, capped: fee < raw })
        }))
    }

    /// For an activation plan: the instants between which counted transactions count.
    pub fn counting_window(&self, activated_at: Timestamp) -> Option<(Timestamp, Timestamp)> {
        match &self.rule {
            RefundRule::Activation { window_days, .. } => {
                Some((activated_at, activated_at.end_of_china_day_after(*window_days)))
            }
            RefundRule::Termination { .. } => None,
        }
    }

    pub fn counts(&self, kind: TxnKind) -> bool {
        match &self.rule {
            RefundRule::Activation { counted_kinds, .. } => counted_kinds.contains(&kind),
            RefundRule::Termination { .. } => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn activation_plan() -> DepositPlan {
        DepositPlan {
            code: "ACT-99".into(),
            version: 1,
            name: "激活返押金 99".into(),
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

    #[test]
    fn a_sound_plan_validates() {
        assert_eq!(activation_plan().validate(), Ok(()));
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let plan = DepositPlan {
            code: "bad code!".into(),
            name: " ".into(),
            name_en: String::new(),
            card_rates: Vec::new(),
            deposit_fen: Fen::ZERO,
            rule: RefundRule::Activation { volume_target_fen: Fen::ZERO, counted_kinds: vec![], window_days: 0 },
            fee: FeeRule::Percent { basis_points: 20_000, cap_fen: Fen::new(-1) },
            four_eyes_threshold_fen: Fen::new(-1),
            ..activation_plan()
        };
        let fields: Vec<String> = plan.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(
            fields,
            [
                "code",
                "name",
                "deposit_fen",
                "four_eyes_threshold_fen",
                "rule.volume_target_fen",
                "rule.counted_kinds",
                "rule.window_days",
                "fee.basis_points",
                "fee.cap_fen"
            ]
        );
    }

    #[test]
    fn termination_plans_are_never_automatic() {
        let plan = DepositPlan {
            rule: RefundRule::Termination { refund_window_days: 180, device_return_required: true },
            ..activation_plan()
        };
        let errors = plan.validate().unwrap_err();
        assert_eq!(errors[0].field, "auto_approve");
    }

    #[test]
    fn fees_are_capped_and_never_exceed_the_refund() {
        let pct = FeeRule::Percent { basis_points: 150, cap_fen: Fen::yuan(2) };
        assert_eq!(pct.fee_on(Fen::yuan(99)), Ok(Fen::new(148)));
        assert_eq!(pct.fee_on(Fen::yuan(299)), Ok(Fen::yuan(2)));
        let fixed = FeeRule::Fixed { amount_fen: Fen::yuan(10) };
        assert_eq!(fixed.fee_on(Fen::yuan(5)), Ok(Fen::yuan(5)));
        assert_eq!(FeeRule::NONE.fee_on(Fen::yuan(99)), Ok(Fen::ZERO));
    }

    #[test]
    fn plans_survive_a_json_snapshot() {
        let plan = activation_plan();
        let json = serde_json::to_string(&plan).unwrap();
        assert!(json.contains(r#""kind":"activation""#), "{json}");
        assert_eq!(serde_json::from_str::<DepositPlan>(&json).unwrap(), plan);
    }

    fn priced(rates: Vec<CardRate>) -> DepositPlan {
        DepositPlan { card_rates: rates, ..activation_plan() }
    }

    #[test]
    fn fee_quotes_round_half_up_and_respect_the_cap() {
        let plan = priced(vec![
            CardRate { kind: TxnKind::CreditCard, rate_bp: 60, cap_fen: None },
            CardRate { kind: TxnKind::DebitCard, rate_bp: 50, cap_fen: Some(Fen::yuan(20)) },
        ]);
        let q = plan.quote(Fen::yuan(80_000), TxnKind::CreditCard).unwrap().unwrap();
        assert_eq!((q.fee_fen, q.rate_bp, q.net_fen, q.capped), (Fen::yuan(480), 60, Fen::yuan(79_520), false));
        let q = plan.quote(Fen::yuan(80_000), TxnKind::DebitCard).unwrap().unwrap();
        assert_eq!((q.fee_fen, q.capped), (Fen::yuan(20), true));
        // 0.5 fen rounds up, 0.4999 down: 125 fen at 40 bp is 0.5 fen; 124 fen is 0.496.
        let plan = priced(vec![CardRate { kind: TxnKind::QrCode, rate_bp: 40, cap_fen: None }]);
        assert_eq!(plan.quote(Fen::new(125), TxnKind::QrCode).unwrap().unwrap().fee_fen, Fen::new(1));
        assert_eq!(plan.quote(Fen::new(124), TxnKind::QrCode).unwrap().unwrap().fee_fen, Fen::new(0));
        assert!(plan.quote(Fen::new(124), TxnKind::Nfc).is_none(), "no rate, no quote");
    }

    #[test]
    fn card_rates_are_checked() {
        let plan = priced(vec![
            CardRate { kind: TxnKind::CreditCard, rate_bp: 10_001, cap_fen: None },
            CardRate { kind: TxnKind::CreditCard, rate_bp: 60, cap_fen: Some(Fen::new(-1)) },
        ]);
        let fields: Vec<String> = plan.validate().unwrap_err().into_iter().map(|e| e.field).collect();
        assert_eq!(fields, ["card_rates[0].rate_bp", "card_rates[1].cap_fen", "card_rates[1].kind"]);
    }

    proptest::proptest! {
        /// The quote agrees with a reference computed another way (quotient and remainder, the
        /// remainder compared with half the divisor), and fee plus net is always the amount.
        #[test]
        fn fee_quotes_match_a_reference(
            amount in 1i64..=Fen::PARSE_MAX.get(),
            rate_bp in 0u32..=10_000,
            cap in proptest::option::of(0i64..=1_000_000),
        ) {
            let plan = priced(vec![CardRate { kind: TxnKind::CreditCard, rate_bp, cap_fen: cap.map(Fen::new) }]);
            let q = plan.quote(Fen::new(amount), TxnKind::CreditCard).unwrap().unwrap();
            let product = i128::from(amount) * i128::from(rate_bp);
            let (whole, rest) = (product / 10_000, product % 10_000);
            let raw = whole + i128::from(2 * rest >= 10_000);
            let expected = cap.map_or(raw, |c| raw.min(i128::from(c)));
            proptest::prop_assert_eq!(i128::from(q.fee_fen.get()), expected);
            proptest::prop_assert_eq!(q.fee_fen.get() + q.net_fen.get(), amount);
            proptest::prop_assert_eq!(q.capped, i128::from(q.fee_fen.get()) < raw);
        }
    }
}
