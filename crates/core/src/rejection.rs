//! The catalogue of rejection reasons: each with what the merchant reads and what to do next.

use serde::Serialize;

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub struct RejectionReason {
    pub code: &'static str,
    pub explanation_zh: &'static str,
    pub explanation_en: &'static str,
    pub next_step_zh: &'static str,
    pub next_step_en: &'static str,
}

const fn r(
    code: &'static str,
    explanation_zh: &'static str,
    explanation_en: &'static str,
    next_step_zh: &'static str,
    next_step_en: &'static str,
) -> RejectionReason {
    RejectionReason { code, explanation_zh, explanation_en, next_step_zh, next_step_en }
}

pub const CATALOGUE: [RejectionReason; 8] = [
    r(
        "materials_incomplete",
        "申请材料不完整。",
        "The materials are incomplete.",
        "补齐购机凭证与使用记录后重新申请。",
        "Add the purchase voucher and usage records, then apply again.",
    ),
    r(
        "materials_invalid",
        "申请材料不清晰或与终端不符。",
        "The materials are unreadable or do not match the terminal.",
        "上传清晰、与该终端一致的材料后重新申请。",
        "Upload clear materials that match this terminal, then apply again.",
    ),
    r(
        "identity_unverified",
        "无法核实申请人身份。",
        "The applicant's identity could not be verified.",
        "联系客服完成实名核验后重新申请。",
        "Contact customer service to verify your identity, then apply again.",
    ),
    r(
        "device_not_returned",
        "政策要求退还机具，尚未收到。",
        "The plan requires the device back and it has not arrived.",
        "寄回机具并保留单号，收到后重新申请。",
        "Return the device and keep the tracking number; apply again once it has arrived.",
    ),
    r(
        "outstanding_unsettled",
        "尚有未结清款项。",
        "Something is still owed.",
        "结清款项，或申请时同意从押金中抵扣。",
        "Settle it, or agree to have it deducted when you apply.",
    ),
    r(
        "transactions_disputed",
        "交易记录存在争议，需进一步核实。",
        "The usage records are disputed and need checking.",
        "联系客服提供说明，核实后可重新申请。",
        "Contact customer service with an explanation; apply again once cleared.",
    ),
    r(
        "duplicate_application",
        "该押金已有其他申请在处理或已退还。",
        "Another application for this deposit is in progress or paid.",
        "在我的申请中查看该笔申请的进度。",
        "Follow that application under My Applications.",
    ),
    r(
        "other",
        "其他原因，详见审核说明。",
        "Another reason; see the reviewer's comment.",
        "如有疑问，请通过工单联系客服或申诉。",
        "Questions or an appeal: open a ticket with customer service.",
    ),
];

/// The catch-all reason, which needs the reviewer's words.
pub const OTHER: &str = "other";

pub fn find(code: &str) -> Option<&'static RejectionReason> {
    CATALOGUE.iter().find(|r| r.code == code)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_unique_and_every_one_says_what_to_do() {
        for (i, a) in CATALOGUE.iter().enumerate() {
            assert!(CATALOGUE[i + 1..].iter().all(|b| b.code != a.code), "{}", a.code);
            assert!(!a.next_step_zh.is_empty() && !a.next_step_en.is_empty());
        }
        assert!(find("materials_incomplete").is_some());
        assert!(find("because").is_none());
    }

    #[test]
    fn every_reason_reads_in_both_languages() {
        for r in CATALOGUE {
            for (zh, en) in [(r.explanation_zh, r.explanation_en), (r.next_step_zh, r.next_step_en)] {
                let faults = crate::text::language_faults(zh, en, &[]);
                assert!(faults.is_empty(), "{}: {faults:?}", r.code);
            }
        }
    }
}
