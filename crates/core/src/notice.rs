//! What Yajin tells a merchant, kept as a code with its parameters and put into words only when
//! someone reads it, in the reader's language: notifications ([`Notice`]), the notes the system
//! writes on an application's timeline ([`Note`]), and the display names of the codes that
//! appear in both (what is owed, why a refund was asked for, why a bank refused).
//!
//! Each sentence says what happened, why, and what the merchant does next. People's own words
//! (a reviewer's comment, a support answer) are quoted as they were written.

use serde::{Deserialize, Serialize};

use crate::money::Fen;
use crate::rejection;
#[cfg(test)]
use crate::text::language_faults;
use crate::text::{Lang, Text};

/// A notification to a merchant.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Notice {
    ApplicationSubmitted {
        application_id: String,
        sn: String,
        amount: Fen,
        fee: Fen,
        deducted: Fen,
        net: Fen,
    },
    /// A terminal met its activation target; `applied` when the plan applied on the merchant's
    /// behalf at once.
    TargetReached {
        sn: String,
        deposit: Fen,
        applied: bool,
    },
    ApplicationInReview {
        application_id: String,
    },
    AwaitingSecondApproval {
        application_id: String,
    },
    ApplicationApproved {
        application_id: String,
        net: Fen,
        card_last4: String,
    },
    ApplicationAutoApproved {
        application_id: String,
        sn: String,
        net: Fen,
    },
    ApplicationRejected {
        application_id: String,
        reason_code: String,
        comment: String,
    },
    InfoRequested {
        application_id: String,
        items: Vec<String>,
        comment: String,
    },
    ApplicationCancelled {
        application_id: String,
    },
    ApplicationSupplemented {
        application_id: String,
    },
    ApplicationRefunded {
        application_id: String,
        net: Fen,
        card_last4: String,
        bank_reference: String,
    },
    /// The whole deposit went to what was owed: nothing to pay, the refund is complete.
    RefundedByDeduction {
        application_id: String,
        deducted: Fen,
    },
    PayoutFailed {
        application_id: String,
        card_last4: String,
        failure_code: String,
    },
    OutstandingSettled {
        kind: String,
        amount: Fen,
        bank_reference: String,
    },
    CollectionFailed {
        kind: String,
        amount: Fen,
        failure_code: String,
    },
    TicketAnswered {
        ticket_id: String,
        subject: String,
        staff_name: String,
        body: String,
    },
    TicketClosed {
        ticket_id: String,
        subject: String,
    },
    WindowClosing {
        sn: String,
        until: String,
        reached: Fen,
        target: Fen,
    },
    WindowClosed {
        sn: String,
        until: String,
        reached: Fen,
        target: Fen,
    },
    OrderApproved {
        order_id: String,
        deposit: Fen,
    },
    OrderRejected {
        order_id: String,
        comment: String,
    },
    OrderDepositPaid {
        order_id: String,
        deposit: Fen,
        bank_reference: String,
    },
    OrderPaymentFailed {
        order_id: String,
        deposit: Fen,
        failure_code: String,
    },
    OrderShipped {
        order_id: String,
        sn: String,
        carrier: String,
        waybill_no: String,
    },
    OrderActivated {
        order_id: String,
        sn: String,
    },
}

impl Notice {
    /// The stable code (the notification's `kind`).
    pub fn code(&self) -> &'static str {
        match self {
            Notice::ApplicationSubmitted { .. } => "application_submitted",
            Notice::TargetReached { .. } => "target_reached",
            Notice::ApplicationInReview { .. } => "application_in_review",
            Notice::AwaitingSecondApproval { .. } => "awaiting_second_approval",
            Notice::ApplicationApproved { .. } => "application_approved",
            Notice::ApplicationAutoApproved { .. } => "application_auto_approved",
            Notice::ApplicationRejected { .. } => "application_rejected",
            Notice::InfoRequested { .. } => "info_requested",
            Notice::ApplicationCancelled { .. } => "application_cancelled",
            Notice::ApplicationSupplemented { .. } => "application_supplemented",
            Notice::ApplicationRefunded { .. } => "application_refunded",
            Notice::RefundedByDeduction { .. } => "refunded_by_deduction",
            Notice::PayoutFailed { .. } => "payout_failed",
            Notice::OutstandingSettled { .. } => "outstanding_settled",
            Notice::CollectionFailed { .. } => "collection_failed",
            Notice::TicketAnswered { .. } => "ticket_answered",
            Notice::TicketClosed { .. } => "ticket_closed",
            Notice::WindowClosing { .. } => "window_closing",
            Notice::WindowClosed { .. } => "window_closed",
            Notice::OrderApproved { .. } => "order_approved",
            Notice::OrderRejected { .. } => "order_rejected",
            Notice::OrderDepositPaid { .. } => "order_deposit_paid",
            Notice::OrderPaymentFailed { .. } => "order_payment_failed",
            Notice::OrderShipped { .. } => "order_shipped",
            Notice::OrderActivated { .. } => "order_activated",
        }
    }

    /// The application it is about, if any.
    pub fn application_id(&self) -> Option<&str> {
        match self {
            Notice::ApplicationSubmitted { application_id, .. }
            | Notice::ApplicationInReview { application_id }
            | Notice::AwaitingSecondApproval { application_id }
            | Notice::ApplicationApproved { application_id, .. }
            | Notice::ApplicationAutoApproved { application_id, .. }
            | Notice::ApplicationRejected { application_id, .. }
            | Notice::InfoRequested { application_id, .. }
            | Notice::ApplicationCancelled { application_id }
            | Notice::ApplicationSupplemented { application_id }
            | Notice::ApplicationRefunded { application_id, .. }
            | Notice::RefundedByDeduction { application_id, .. }
            | Notice::PayoutFailed { application_id, .. } => Some(application_id),
            _ => None,
        }
    }

    /// Whether the merchant also gets it by SMS: when they must act, or money moved or failed
    /// to.
    pub fn by_sms(&self) -> bool {
        matches!(
            self,
            Notice::InfoRequested { .. }
                | Notice::ApplicationRejected { .. }
                | Notice::ApplicationRefunded { .. }
                | Notice::RefundedByDeduction { .. }
                | Notice::PayoutFailed { .. }
                | Notice::CollectionFailed { .. }
                | Notice::OrderApproved { .. }
                | Notice::OrderRejected { .. }
                | Notice::OrderDepositPaid { .. }
                | Notice::OrderPaymentFailed { .. }
                | Notice::OrderShipped { .. }
        )
    }

    pub fn title(&self, lang: Lang) -> String {
        let (zh, en) = match self {
            Notice::ApplicationSubmitted { .. } => ("退押金申请已提交", "Refund application submitted"),
            Notice::TargetReached { applied: false, .. } => ("押金可申请退还", "Your deposit can be refunded"),
            Notice::TargetReached { applied: true, .. } => ("已为您申请退押金", "We applied for your deposit"),
            Notice::ApplicationInReview { .. } => ("申请审核中", "Application under review"),
            Notice::AwaitingSecondApproval { .. } => {
                ("初审已通过，等待复核", "First approval given; awaiting a second")
            }
            Notice::ApplicationApproved { .. } => ("退押金申请已批准", "Refund application approved"),
            Notice::ApplicationAutoApproved { .. } => {
                ("退押金申请已自动批准", "Refund application approved automatically")
            }
            Notice::ApplicationRejected { .. } => ("退押金申请未通过", "Refund application not approved"),
            Notice::InfoRequested { .. } => ("请补充材料", "Please add materials"),
            Notice::ApplicationCancelled { .. } => ("退押金申请已撤销", "Refund application withdrawn"),
            Notice::ApplicationSupplemented { .. } => ("补充材料已提交", "Materials added"),
            Notice::ApplicationRefunded { .. } => ("押金已到账", "Your deposit has been paid"),
            Notice::RefundedByDeduction { .. } => ("退款已完成", "Refund complete"),
            Notice::PayoutFailed { .. } => ("退款付款失败", "The refund could not be paid"),
            Notice::OutstandingSettled { .. } => ("款项已结清", "Payment settled"),
            Notice::CollectionFailed { .. } => ("扣款未成功", "The payment could not be collected"),
            Notice::TicketAnswered { .. } => ("客服已回复", "Customer service replied"),
            Notice::TicketClosed { .. } => ("工单已关闭", "Ticket closed"),
            Notice::WindowClosing { .. } => ("激活考核期即将结束", "Your activation window closes soon"),
            Notice::WindowClosed { .. } => ("激活考核期已结束", "Your activation window has closed"),
            Notice::OrderApproved { .. } => ("机具申请已通过，请支付押金", "Terminal order approved: pay the deposit"),
            Notice::OrderRejected { .. } => ("机具申请未通过", "Terminal order not approved"),
            Notice::OrderDepositPaid { .. } => ("押金已支付", "Deposit paid"),
            Notice::OrderPaymentFailed { .. } => ("押金支付未成功", "The deposit could not be collected"),
            Notice::OrderShipped { .. } => ("机具已发货", "Your terminal has shipped"),
            Notice::OrderActivated { .. } => ("机具已激活", "Your terminal is active"),
        };
        pick(lang, zh, en)
    }

    pub fn body(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        match self {
            Notice::ApplicationSubmitted { application_id: id, sn, amount, fee, deducted, net } => {
                if zh {
                    format!("终端 {sn} 的退押金申请 {id} 已提交：押金 {amount}，手续费 {fee}，抵扣 {deducted}，实退 {net}。我们会尽快审核，进度可在申请页面查看。")
                } else {
                    format!("Your refund application {id} for terminal {sn} has been submitted: deposit {amount}, fee {fee}, deducted {deducted}, you receive {net}. We will review it shortly; follow it on the application's page.")
                }
            }
            Notice::TargetReached { sn, deposit, applied: false } => {
                if zh {
                    format!("终端 {sn} 已达成激活返押金条件，押金 {deposit} 可申请退还。请在“我的设备”中点击“退押金”。")
                } else {
                    format!("Terminal {sn} has met its activation target: you can apply for its {deposit} deposit under My Devices.")
                }
            }
            Notice::TargetReached { sn, deposit, applied: true } => {
                if zh {
                    format!("终端 {sn} 已达成激活返押金条件，按政策系统已为您申请退还押金 {deposit}，无需操作。")
                } else {
                    format!("Terminal {sn} has met its activation target; as its plan provides, we have applied for its {deposit} deposit for you. Nothing to do.")
                }
            }
            Notice::ApplicationInReview { application_id: id } => {
                if zh {
                    format!("申请 {id} 已由审核员受理。")
                } else {
                    format!("A reviewer has taken up application {id}.")
                }
            }
            Notice::AwaitingSecondApproval { application_id: id } => {
                if zh {
                    format!("申请 {id} 已通过初审。金额较大，需另一位审批人复核后付款。")
                } else {
                    format!("Application {id} has its first approval. Because of the amount, a second approver checks it before we pay.")
                }
            }
            Notice::ApplicationApproved { application_id: id, net, card_last4 } => {
                if zh {
                    format!("申请 {id} 已批准，实退 {net} 将原路退回尾号 {card_last4} 的银行卡。")
                } else {
                    format!("Application {id} is approved: {net} will be paid to your card ending {card_last4}.")
                }
            }
            Notice::ApplicationAutoApproved { application_id: id, sn, net } => {
                if zh {
                    format!("终端 {sn} 已达激活返押金条件，申请 {id} 已自动批准，实退 {net}。")
                } else {
                    format!("Terminal {sn} met its activation target, so application {id} was approved automatically: you receive {net}.")
                }
            }
            Notice::ApplicationRejected { application_id: id, reason_code, comment } => {
                let (explanation, next_step) = rejection_words(reason_code, lang);
                let mut out = if zh {
                    format!("申请 {id} 未通过。原因：{explanation}下一步：{next_step}")
                } else {
                    format!("Application {id} was not approved. Reason: {explanation} Next step: {next_step}")
                };
                if !comment.trim().is_empty() {
                    out.push_str(&pick(
                        lang,
                        &format!("审核说明：{}", comment.trim()),
                        &format!(" Reviewer's comment: {}", comment.trim()),
                    ));
                }
                out
            }
            Notice::InfoRequested { application_id: id, items, comment } => {
                let list = items.join(if zh { "；" } else { "; " });
                let mut out = if zh {
                    format!("申请 {id} 需要补充：{list}。请在申请页面补充后提交，审核随即继续。")
                } else {
                    format!("Application {id} needs more from you: {list}. Add it on the application's page and the review continues.")
                };
                if !comment.trim().is_empty() {
                    out.push_str(&pick(
                        lang,
                        &format!("审核说明：{}", comment.trim()),
                        &format!(" Reviewer's comment: {}", comment.trim()),
                    ));
                }
                out
            }
            Notice::ApplicationCancelled { application_id: id } => {
                if zh {
                    format!("申请 {id} 已撤销。押金仍在，符合条件时可随时重新申请。")
                } else {
                    format!("Application {id} is withdrawn. The deposit stays; you may apply again whenever it is eligible.")
                }
            }
            Notice::ApplicationSupplemented { application_id: id } => {
                if zh {
                    format!("申请 {id} 的补充材料已提交，审核继续。")
                } else {
                    format!("Your materials for application {id} are in; the review continues.")
                }
            }
            Notice::ApplicationRefunded { application_id: id, net, card_last4, bank_reference } => {
                if zh {
                    format!("申请 {id} 的押金 {net} 已退回尾号 {card_last4} 的银行卡，银行流水号 {bank_reference}。回单可在申请页面查看和打印。")
                } else {
                    format!("{net} from application {id} has been paid to your card ending {card_last4}, bank reference {bank_reference}. The receipt is on the application's page.")
                }
            }
            Notice::RefundedByDeduction { application_id: id, deducted } => {
                if zh {
                    format!("申请 {id} 的押金已全部抵扣欠款 {deducted}，无需付款，退款完成。")
                } else {
                    format!("The deposit of application {id} went entirely to the {deducted} you owed; there is nothing to pay and the refund is complete.")
                }
            }
            Notice::PayoutFailed { application_id: id, card_last4, failure_code } => {
                let why = failure_words(failure_code, lang);
                if zh {
                    format!("申请 {id} 的退款未能付至尾号 {card_last4} 的银行卡：{why}。请在申请页面更换为本人名下的其他银行卡，我们随即重新付款；也可联系客服。")
                } else {
                    format!("The refund of application {id} could not be paid to your card ending {card_last4}: {why}. Give another card in your own name on the application's page and we pay again at once, or contact customer service.")
                }
            }
            Notice::OutstandingSettled { kind, amount, bank_reference } => {
                let kind = owed_kind_name(kind).get(lang).to_owned();
                if zh {
                    format!("您的{kind} {amount} 已从结算卡扣收，已结清。银行流水号 {bank_reference}。")
                } else {
                    format!("Your {kind} of {amount} was collected from your settlement card and is settled. Bank reference {bank_reference}.")
                }
            }
            Notice::CollectionFailed { kind, amount, failure_code } => {
                let kind = owed_kind_name(kind).get(lang).to_owned();
                let why = failure_words(failure_code, lang);
                if zh {
                    format!("您的{kind} {amount} 未能从结算卡扣收：{why}。请确认结算卡状态后在“待结清款项”中重试。")
                } else {
                    format!("Your {kind} of {amount} could not be collected from your settlement card: {why}. Check the card, then try again under What You Owe.")
                }
            }
            Notice::TicketAnswered { ticket_id: _, subject, staff_name, body } => {
                if zh {
                    format!("客服 {staff_name} 回复了您的工单「{subject}」：{body}")
                } else {
                    format!("{staff_name} of customer service replied to your ticket \u{201c}{subject}\u{201d}: {body}")
                }
            }
            Notice::TicketClosed { ticket_id: _, subject } => {
                if zh {
                    format!("您的工单「{subject}」已由客服关闭。如问题仍未解决，请新建工单。")
                } else {
                    format!("Customer service closed your ticket \u{201c}{subject}\u{201d}. If the problem remains, open a new ticket.")
                }
            }
            Notice::WindowClosing { sn, until, reached, target } => {
                if zh {
                    format!("终端 {sn} 的激活考核期将于 {until} 结束：已达成交易量 {reached}，需达到 {target}。达成后即可申请退还押金。")
                } else {
                    format!("The activation window of terminal {sn} closes on {until}: card volume so far {reached} of the {target} needed. Reach it to get the deposit back.")
                }
            }
            Notice::WindowClosed { sn, until, reached, target } => {
                if zh {
                    format!("终端 {sn} 的激活考核期已于 {until} 结束，交易量 {reached} 未达到 {target}，不再符合激活返押金的条件。详情见“我的设备”，如有疑问请联系客服。")
                } else {
                    format!("The activation window of terminal {sn} closed on {until} with card volume {reached} of the {target} needed, so its activation refund no longer applies. See My Devices; questions go to customer service.")
                }
            }
            Notice::OrderApproved { order_id, deposit } => {
                if zh {
                    format!(
                        "您的机具申请 {order_id} 已通过审核。请在申请页面支付押金 {deposit}，押金将按方案规则退还。"
                    )
                } else {
                    format!("Your terminal order {order_id} is approved. Pay the {deposit} deposit on the order's page; it comes back under the plan's rule.")
                }
            }
            Notice::OrderRejected { order_id, comment } => {
                let mut out = if zh {
                    format!("您的机具申请 {order_id} 未通过审核，未收取任何费用。")
                } else {
                    format!("Your terminal order {order_id} was not approved; nothing was charged.")
                };
                if !comment.trim().is_empty() {
                    out.push_str(&pick(
                        lang,
                        &format!("审核说明：{}", comment.trim()),
                        &format!(" Reviewer's comment: {}", comment.trim()),
                    ));
                }
                out
            }
            Notice::OrderDepositPaid { order_id, deposit, bank_reference } => {
                if zh {
                    format!("机具申请 {order_id} 的押金 {deposit} 已支付，流水号 {bank_reference}。我们会尽快发货。")
                } else {
                    format!("The {deposit} deposit of terminal order {order_id} is paid, reference {bank_reference}. We ship shortly.")
                }
            }
            Notice::OrderPaymentFailed { order_id, deposit, failure_code } => {
                let why = failure_words(failure_code, lang);
                if zh {
                    format!("机具申请 {order_id} 的押金 {deposit} 未能扣款：{why}。未收取任何费用，您可以在申请页面重新支付。")
                } else {
                    format!("The {deposit} deposit of terminal order {order_id} could not be collected: {why}. Nothing was charged; you can pay again on the order's page.")
                }
            }
            Notice::OrderShipped { order_id, sn, carrier, waybill_no } => {
                if zh {
                    format!("机具申请 {order_id} 已发货：终端 {sn}，{carrier} 运单号 {waybill_no}。收到后请在申请页面确认收货，首笔交易即激活。")
                } else {
                    format!("Terminal order {order_id} has shipped: terminal {sn}, {carrier} waybill {waybill_no}. Confirm delivery on the order's page; the first transaction activates it.")
                }
            }
            Notice::OrderActivated { order_id, sn } => {
                if zh {
                    format!("终端 {sn}（机具申请 {order_id}）已激活，押金的退还条件自今日起计算，详见“我的设备”。")
                } else {
                    format!("Terminal {sn} (order {order_id}) is active; the deposit's refund rule counts from today. See My Devices.")
                }
            }
        }
    }

    /// The SMS text (Chinese, the language of a Chinese mobile number), signed as SMS in China
    /// must be.
    pub fn sms_text(&self) -> String {
        format!("【押金服务】{}", self.body(Lang::Zh))
    }
}

/// A note the system writes on an application's timeline.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "code", rename_all = "snake_case")]
pub enum Note {
    /// The plan applies on the merchant's behalf when the target is met.
    AppliedForMerchant,
    /// Imported from the system Yajin replaced.
    Migrated,
    AutoApproved,
    SentToBank,
    NothingToPay,
    AllDeducted,
    BankPaid {
        bank_reference: String,
    },
    BankReturned {
        failure_code: String,
    },
    FinanceRetried,
    NewCard {
        card_last4: String,
    },
    Rejected {
        reason_code: String,
    },
    InfoRequested {
        items: Vec<String>,
    },
}

impl Note {
    pub fn text(&self, lang: Lang) -> String {
        let zh = lang == Lang::Zh;
        match self {
            Note::AppliedForMerchant => pick(
                lang,
                "已达成激活返押金条件，系统按政策代为申请",
                "The activation target was met; applied for the merchant as the plan provides",
            ),
            Note::Migrated => pick(lang, "由原系统迁入", "Carried over from the previous system"),
            Note::AutoApproved => {
                pick(lang, "满足激活返押金条件，系统自动审批", "Activation target met; approved automatically")
            }
            Note::SentToBank => pick(lang, "已提交银行，原路退回", "Sent to the bank, to the card it came from"),
            Note::NothingToPay => pick(lang, "实退金额为 0，无需付款", "Nothing left to pay after deductions"),
            Note::AllDeducted => {
                pick(lang, "押金已全部抵扣，退款完成", "The whole deposit went to what was owed; refund complete")
            }
            Note::BankPaid { bank_reference } => {
                if zh {
                    format!("银行已付款，流水号 {bank_reference}")
                } else {
                    format!("Paid by the bank, reference {bank_reference}")
                }
            }
            Note::BankReturned { failure_code } => {
                if zh {
                    format!("银行退回：{}", failure_words(failure_code, lang))
                } else {
                    format!("Returned by the bank: {}", failure_words(failure_code, lang))
                }
            }
            Note::FinanceRetried => pick(lang, "财务重新发起付款", "Finance sent the payment again"),
            Note::NewCard { card_last4 } => {
                if zh {
                    format!("商户更换收款卡（尾号 {card_last4}）后重新付款")
                } else {
                    format!("Paid again to the merchant's new card ending {card_last4}")
                }
            }
            Note::Rejected { reason_code } => rejection_words(reason_code, lang).0,
            Note::InfoRequested { items } => {
                if zh {
                    format!("需要补充：{}", items.join("；"))
                } else {
                    format!("Needed: {}", items.join("; "))
                }
            }
        }
    }
}

fn pick(lang: Lang, zh: &str, en: &str) -> String {
    match lang {
        Lang::Zh => zh.to_owned(),
        Lang::En => en.to_owned(),
    }
}

/// A rejection reason's explanation and next step in `lang`.
fn rejection_words(code: &str, lang: Lang) -> (String, String) {
    let reason = rejection::find(code).or_else(|| rejection::find("other"));
    match (reason, lang) {
        (Some(r), Lang::Zh) => (r.explanation_zh.to_owned(), r.next_step_zh.to_owned()),
        (Some(r), Lang::En) => (r.explanation_en.to_owned(), r.next_step_en.to_owned()),
        (None, _) => (String::new(), String::new()),
    }
}

/// What a bank's failure code means, for the merchant.
pub fn failure_words(code: &str, lang: Lang) -> String {
    let (zh, en) = match code {
        "account_closed" => ("收款账户已销户", "the account is closed"),
        "account_frozen" => ("账户已冻结", "the account is frozen"),
        "name_mismatch" => ("户名与卡号不符", "the name does not match the card"),
        "invalid_card" => ("卡号无效", "the card number is not valid"),
        "insufficient_funds" => ("账户余额不足", "the account does not hold enough"),
        "limit_exceeded" => ("超出银行限额", "a bank limit was exceeded"),
        _ => ("银行未说明原因", "the bank gave no reason"),
    };
    pick(lang, zh, en)
}

/// A kind of outstanding item, as a person calls it.
pub fn owed_kind_name(code: &str) -> Text {
    match code {
        "service_fee" => Text::new("服务费", "service fee"),
        "sim_fee" => Text::new("流量卡费", "SIM card fee"),
        "chargeback" => Text::new("拒付款", "chargeback"),
        "negative_settlement" => Text::new("负结算款", "negative settlement"),
        _ => Text::new("欠款", "amount owed"),
    }
}

/// Why a refund was asked for, as a person says it.
pub fn refund_reason_name(code: &str) -> Text {
    match code {
        "stop_using" => Text::new("不再使用", "no longer used"),
        "target_reached" => Text::new("达成激活条件", "activation target met"),
        "device_faulty" => Text::new("机具故障", "device faulty"),
        "changed_provider" => Text::new("更换服务商", "changed provider"),
        "migrated" => Text::new("由原系统迁入", "carried over from the previous system"),
        _ => Text::new("其他", "other"),
    }
}

/// A kind of card transaction, as people call it.
pub fn card_kind_name(code: &str) -> Text {
    match code {
        "credit_card" => Text::new("信用卡", "credit card"),
        "debit_card" => Text::new("借记卡", "debit card"),
        "qr_code" => Text::new("扫码支付", "QR code"),
        _ => Text::new("闪付", "contactless"),
    }
}

/// What a kind of file is.
pub fn attachment_kind_name(code: &str) -> Text {
    match code {
        "purchase_voucher" => Text::new("押金凭证", "deposit voucher"),
        "usage_record" => Text::new("使用记录", "usage record"),
        "id_photo" => Text::new("身份证照片", "ID photo"),
        _ => Text::new("其他材料", "other file"),
    }
}

/// The name of any code a merchant may see beside an amount or a file: a refund reason, a kind
/// of debt or a kind of file.
pub fn code_name(code: &str) -> Text {
    if crate::eligibility::OWED_KINDS.contains(&code) {
        owed_kind_name(code)
    } else if crate::attachment::KINDS.contains(&code) && code != "other" {
        attachment_kind_name(code)
    } else {
        refund_reason_name(code)
    }
}

/// A staff role, as a merchant reads it beside a name ("客服 李娜").
pub fn role_name(code: &str) -> Text {
    match code {
        "reviewer" => Text::new("审核员", "Reviewer"),
        "approver" => Text::new("审批人", "Approver"),
        "finance" => Text::new("财务", "Finance"),
        "admin" => Text::new("管理员", "Administrator"),
        "support" => Text::new("客服", "Customer service"),
        "agent" => Text::new("代理商", "Agent"),
        "merchant" => Text::new("商户", "Merchant"),
        _ => Text::new("系统", "System"),
    }
}

/// The codes this catalogue names, for tests that walk every one.
pub const OWED_KIND_CODES: [&str; 4] = crate::eligibility::OWED_KINDS;
pub const REFUND_REASON_CODES: [&str; 6] =
    ["stop_using", "target_reached", "device_faulty", "changed_provider", "other", "migrated"];
pub const FAILURE_CODES: [&str; 7] =
    ["account_closed", "account_frozen", "name_mismatch", "invalid_card", "insufficient_funds", "limit_exceeded", "x"];
pub const ATTACHMENT_KIND_CODES: [&str; 4] = crate::attachment::KINDS;
pub const ROLE_CODES: [&str; 8] =
    ["reviewer", "approver", "finance", "admin", "support", "agent", "merchant", "system"];

#[cfg(test)]
mod tests {
    use super::*;

    fn samples() -> Vec<Notice> {
        let id = || "ra_01abc".to_owned();
        let fen = Fen::new(9_900);
        let mut out = vec![
            Notice::ApplicationSubmitted {
                application_id: id(),
                sn: "SN1".into(),
                amount: fen,
                fee: fen,
                deducted: fen,
                net: fen,
            },
            Notice::TargetReached { sn: "SN1".into(), deposit: fen, applied: false },
            Notice::TargetReached { sn: "SN1".into(), deposit: fen, applied: true },
            Notice::ApplicationInReview { application_id: id() },
            Notice::AwaitingSecondApproval { application_id: id() },
            Notice::ApplicationApproved { application_id: id(), net: fen, card_last4: "0128".into() },
            Notice::ApplicationAutoApproved { application_id: id(), sn: "SN1".into(), net: fen },
            Notice::InfoRequested { application_id: id(), items: vec!["A".into(), "B".into()], comment: String::new() },
            Notice::ApplicationCancelled { application_id: id() },
            Notice::ApplicationSupplemented { application_id: id() },
            Notice::ApplicationRefunded {
                application_id: id(),
                net: fen,
                card_last4: "0128".into(),
                bank_reference: "B1".into(),
            },
            Notice::RefundedByDeduction { application_id: id(), deducted: fen },
            Notice::TicketAnswered {
                ticket_id: "tk_1".into(),
                subject: "S".into(),
                staff_name: "N".into(),
                body: "B".into(),
            },
            Notice::TicketClosed { ticket_id: "tk_1".into(), subject: "S".into() },
            Notice::WindowClosing { sn: "SN1".into(), until: "2026-12-01".into(), reached: fen, target: fen },
            Notice::WindowClosed { sn: "SN1".into(), until: "2026-12-01".into(), reached: fen, target: fen },
            Notice::OrderApproved { order_id: "to_1".into(), deposit: fen },
            Notice::OrderRejected { order_id: "to_1".into(), comment: "C".into() },
            Notice::OrderDepositPaid { order_id: "to_1".into(), deposit: fen, bank_reference: "B1".into() },
            Notice::OrderShipped {
                order_id: "to_1".into(),
                sn: "SN1".into(),
                carrier: "SF".into(),
                waybill_no: "W1".into(),
            },
            Notice::OrderActivated { order_id: "to_1".into(), sn: "SN1".into() },
        ];
        for r in rejection::CATALOGUE {
            out.push(Notice::ApplicationRejected {
                application_id: id(),
                reason_code: r.code.into(),
                comment: "C".into(),
            });
        }
        for code in FAILURE_CODES {
            out.push(Notice::PayoutFailed {
                application_id: id(),
                card_last4: "0128".into(),
                failure_code: code.into(),
            });
            out.push(Notice::OrderPaymentFailed { order_id: "to_1".into(), deposit: fen, failure_code: code.into() });
            for kind in OWED_KIND_CODES {
                out.push(Notice::CollectionFailed { kind: kind.into(), amount: fen, failure_code: code.into() });
                out.push(Notice::OutstandingSettled { kind: kind.into(), amount: fen, bank_reference: "B1".into() });
            }
        }
        out
    }

    fn notes() -> Vec<Note> {
        let mut out = vec![
            Note::AppliedForMerchant,
            Note::Migrated,
            Note::AutoApproved,
            Note::SentToBank,
            Note::NothingToPay,
            Note::AllDeducted,
            Note::BankPaid { bank_reference: "B1".into() },
            Note::FinanceRetried,
            Note::NewCard { card_last4: "0128".into() },
            Note::InfoRequested { items: vec!["A".into()] },
        ];
        out.extend(FAILURE_CODES.iter().map(|c| Note::BankReturned { failure_code: (*c).into() }));
        out.extend(rejection::CATALOGUE.iter().map(|r| Note::Rejected { reason_code: r.code.into() }));
        out
    }

    const ALLOWED: [&str; 3] = ["ra_01abc", "tk_1", "to_1"];

    fn check_languages(zh: &str, en: &str) {
        let faults = language_faults(zh, en, &ALLOWED);
        assert!(faults.is_empty(), "{zh} / {en}: {faults:?}");
    }

    #[test]
    fn every_notice_reads_in_both_languages() {
        for n in samples() {
            check_languages(&n.title(Lang::Zh), &n.title(Lang::En));
            check_languages(&n.body(Lang::Zh), &n.body(Lang::En));
            assert!(n.sms_text().starts_with("【押金服务】"));
            let stored = serde_json::to_string(&n).expect("serialises");
            assert!(stored.contains(&format!("\"code\":\"{}\"", n.code())), "{stored}");
            assert_eq!(serde_json::from_str::<Notice>(&stored).expect("reads back"), n);
        }
    }

    #[test]
    fn every_timeline_note_reads_in_both_languages() {
        for n in notes() {
            check_languages(&n.text(Lang::Zh), &n.text(Lang::En));
            let stored = serde_json::to_string(&n).expect("serialises");
            assert_eq!(serde_json::from_str::<Note>(&stored).expect("reads back"), n);
        }
    }

    #[test]
    fn every_code_has_a_name_in_both_languages() {
        let named = OWED_KIND_CODES
            .iter()
            .map(|c| owed_kind_name(c))
            .chain(REFUND_REASON_CODES.iter().map(|c| refund_reason_name(c)))
            .chain(ROLE_CODES.iter().map(|c| role_name(c)))
            .chain(ATTACHMENT_KIND_CODES.iter().map(|c| attachment_kind_name(c)))
            .chain(crate::plan::TxnKind::ALL.iter().map(|k| card_kind_name(k.as_str())))
            .chain(
                OWED_KIND_CODES.iter().chain(&REFUND_REASON_CODES).chain(&ATTACHMENT_KIND_CODES).map(|c| code_name(c)),
            );
        for t in named {
            check_languages(&t.zh, &t.en);
        }
        for c in FAILURE_CODES {
            check_languages(&failure_words(c, Lang::Zh), &failure_words(c, Lang::En));
        }
        assert_ne!(owed_kind_name("service_fee"), owed_kind_name("sim_fee"));
    }
}
