//! The demo data set of api.md: two merchants, terminals in every interesting state, plans and
//! staff, with times relative to the moment of seeding. Seeded through the same provisioning
//! use cases a real deployment uses, so the demo exercises the real paths.

use yajin_core::application::Role;
use yajin_core::eligibility::TerminalStatus;
use yajin_core::plan::{CardRate, DepositPlan, FeeRule, RefundRule, TxnKind};
use yajin_core::{Fen, Timestamp};
use yajin_store::records::{self, merchants, terminals};
use yajin_store::StoreError;

use crate::idempotency::Replay;
use crate::provisioning::{self, DepositInput, MerchantInput, TerminalInput};
use crate::{Actor, App, AppError};

pub const MERCHANT_PASSWORD: &str = "Demo@12345";
pub const STAFF_PASSWORD: &str = "Staff@12345";

pub struct DemoMerchant {
    pub name: &'static str,
    pub merchant_no: &'static str,
    pub phone: &'static str,
    pub id_card_no: &'static str,
    pub bank_card_no: &'static str,
    pub bank_name: &'static str,
}

pub const MERCHANT_A: DemoMerchant = DemoMerchant {
    name: "演示便利店",
    merchant_no: "822100058120001",
    phone: "13800000001",
    id_card_no: "310115198506151236",
    bank_card_no: "6222021234567890128",
    bank_name: "中国工商银行",
};

pub const MERCHANT_B: DemoMerchant = DemoMerchant {
    name: "示例餐馆",
    merchant_no: "822100058120002",
    phone: "13800000002",
    id_card_no: "440305199001014561",
    bank_card_no: "6217001234567890122",
    bank_name: "中国建设银行",
};

/// The demo's staff: user name, display name (a person's name: merchants read "客服 李娜"), role.
pub const STAFF: [(&str, &str, Role); 7] = [
    ("admin", "张伟", Role::Admin),
    ("reviewer", "王芳", Role::Reviewer),
    ("reviewer2", "刘洋", Role::Reviewer),
    ("approver", "陈静", Role::Approver),
    ("finance", "赵磊", Role::Finance),
    ("support", "李娜", Role::Support),
    ("agent", "周强", Role::Agent),
];

/// The demo agent, who onboarded merchant A (and not B).
pub const AGENT: &str = "agent";

/// What the demo's plans charge per transaction: credit cards 0.60 %, debit cards 0.50 % at most
/// 20.00, QR codes and NFC 0.38 %.
fn card_rates() -> Vec<CardRate> {
    vec![
        CardRate { kind: TxnKind::CreditCard, rate_bp: 60, cap_fen: None },
        CardRate { kind: TxnKind::DebitCard, rate_bp: 50, cap_fen: Some(Fen::yuan(20)) },
        CardRate { kind: TxnKind::QrCode, rate_bp: 38, cap_fen: None },
        CardRate { kind: TxnKind::Nfc, rate_bp: 38, cap_fen: None },
    ]
}

pub const ACTIVATION_PLAN: &str = "ACT-99";
pub const TERMINATION_PLAN: &str = "TERM-299";
/// The last record seeded: its presence means a complete demo data set.
const LAST_SN: &str = "DEMO-B-01";

#[derive(Debug, PartialEq, Eq)]
pub enum SeedOutcome {
    Seeded,
    AlreadyPresent,
}

pub fn activation_plan() -> DepositPlan {
    DepositPlan {
        code: ACTIVATION_PLAN.into(),
        version: 1,
        name: "激活返押金 99 元（90 天内刷卡满 1 万元）".into(),
        name_en: "Activation refund ¥99 (¥10,000 of card volume within 90 days)".into(),
        card_rates: card_rates(),
        deposit_fen: Fen::yuan(99),
        rule: RefundRule::Activation {
            volume_target_fen: Fen::yuan(10_000),
            counted_kinds: vec![TxnKind::CreditCard, TxnKind::DebitCard],
            window_days: 90,
        },
        fee: FeeRule::NONE,
        auto_approve: true,
        four_eyes_threshold_fen: Fen::yuan(200),
        auto_apply: false,
    }
}

pub fn termination_plan() -> DepositPlan {
    DepositPlan {
        code: TERMINATION_PLAN.into(),
        version: 1,
        name: "退机退押金 299 元（终止后 180 天内申请，须退还机具）".into(),
        name_en: "Termination refund ¥299 (apply within 180 days of termination; return the device)".into(),
        card_rates: card_rates(),
        deposit_fen: Fen::yuan(299),
        rule: RefundRule::Termination { refund_window_days: 180, device_return_required: true },
        fee: FeeRule::NONE,
        auto_approve: false,
        four_eyes_threshold_fen: Fen::yuan(200),
        auto_apply: false,
    }
}

/// Seeds the demo data set into an empty database; a database that already holds it is left
/// alone; a database with other data is refused.
pub async fn seed(app: &App) -> Result<SeedOutcome, AppError> {
    match existing(app).await? {
        Existing::Empty => {}
        Existing::CompleteDemo => return Ok(SeedOutcome::AlreadyPresent),
        Existing::Other => {
            return Err(AppError::Precondition(
                "the database already holds data that is not the complete demo data set; \
                 --demo seeds only an empty database (use a new --data-dir)"
                    .into(),
            ))
        }
    }
    let actor = Actor { role: Role::System, id: "demo-seed".into() };
    provisioning::create_plan(app, &actor, activation_plan(), Replay::none()).await?;
    provisioning::create_plan(app, &actor, termination_plan(), Replay::none()).await?;
    let mut agent_id = None;
    for (username, display_name, role) in STAFF {
        let id = provisioning::create_staff(app, &actor, username, display_name, role, STAFF_PASSWORD.into()).await?;
        if username == AGENT {
            agent_id = Some(id);
        }
    }
    let a = create_merchant(app, &actor, &MERCHANT_A, agent_id).await?;
    let b = create_merchant(app, &actor, &MERCHANT_B, None).await?;
    seed_merchant_a(app, &actor, &a).await?;
    announce(app).await?;
    let t = Terminal::termination(&b, LAST_SN, "B0000001");
    create(app, &actor, t.terminated(10, Some(9))).await?;
    Ok(SeedOutcome::Seeded)
}

enum Existing {
    Empty,
    CompleteDemo,
    Other,
}

async fn existing(app: &App) -> Result<Existing, AppError> {
    let mut conn = app.db.pool().acquire().await.map_err(StoreError::from)?;
    if records::counts(&mut conn).await?.is_empty() {
        return Ok(Existing::Empty);
    }
    let Some(b) = merchants::by_phone(&mut conn, MERCHANT_B.phone).await? else {
        return Ok(Existing::Other);
    };
    let complete = terminals::by_sn(&mut conn, &b.id, LAST_SN).await?.is_some();
    Ok(if complete { Existing::CompleteDemo } else { Existing::Other })
}

async fn create_merchant(
    app: &App,
    actor: &Actor,
    m: &DemoMerchant,
    agent_id: Option<String>,
) -> Result<String, AppError> {
    let input = MerchantInput {
        merchant_no: m.merchant_no.into(),
        name: m.name.into(),
        phone: m.phone.into(),
        password: MERCHANT_PASSWORD.into(),
        id_card_no: m.id_card_no.into(),
        bank_card_no: m.bank_card_no.into(),
        bank_name: m.bank_name.into(),
        agent_id,
    };
    provisioning::create_merchant(app, actor, input).await
}

async fn seed_merchant_a(app: &App, actor: &Actor, a: &str) -> Result<(), AppError> {
    let now = app.clock.now();
    let days_ago = |d: i64| now.plus_days(-d);

    // Target reached in the window, nothing owed: approved by `system` at once.
    let auto = create(app, actor, Terminal::activation(a, "DEMO-AUTO-01", "A0000001").activated(30)).await?;
    for (yuan, day, kind) in [
        (3_000, 25, TxnKind::CreditCard),
        (3_000, 20, TxnKind::DebitCard),
        (2_500, 15, TxnKind::CreditCard),
        (1_500, 10, TxnKind::CreditCard),
        (800, 5, TxnKind::QrCode),
    ] {
        provisioning::add_usage(app, &auto, Fen::yuan(yuan), kind, days_ago(day)).await?;
    }

    // Terminated 10 days ago, device returned, 299.00 above the 200.00 four-eyes threshold.
    create(app, actor, Terminal::termination(a, "DEMO-REVIEW-01", "A0000002").terminated(10, Some(9))).await?;

    // Target reached, but a yearly service fee of 60.00 is owed.
    let owes = create(app, actor, Terminal::activation(a, "DEMO-OWES-01", "A0000003").activated(60)).await?;
    for (yuan, day) in [(6_000, 50), (4_500, 40)] {
        provisioning::add_usage(app, &owes, Fen::yuan(yuan), TxnKind::CreditCard, days_ago(day)).await?;
    }
    provisioning::add_outstanding(app, actor, a, Some(&owes), "service_fee", Fen::yuan(60), days_ago(5)).await?;

    // 3,500.00 of 10,000.00 after 50 of 90 days.
    let progress = create(app, actor, Terminal::activation(a, "DEMO-PROGRESS-01", "A0000004").activated(50)).await?;
    for (yuan, day) in [(2_000, 45), (1_500, 30)] {
        provisioning::add_usage(app, &progress, Fen::yuan(yuan), TxnKind::CreditCard, days_ago(day)).await?;
    }

    // Terminated 200 days ago: the 180-day window has closed.
    create(app, actor, Terminal::termination(a, "DEMO-EXPIRED-01", "A0000005").terminated(200, Some(199))).await?;

    // Reached its target long ago and was refunded 60 days ago. The refund is recorded first:
    // the usage record then arrives, as an import would, after the fact, and nobody is told
    // today that a deposit refunded two months ago can be applied for.
    let refunded = create(app, actor, Terminal::activation(a, "DEMO-REFUNDED-01", "A0000006").activated(200)).await?;
    provisioning::record_past_refund(app, actor, &refunded, days_ago(60)).await?;
    provisioning::add_usage(app, &refunded, Fen::yuan(12_000), TxnKind::CreditCard, days_ago(150)).await?;
    Ok(())
}

/// A demo terminal, described relative to now.
struct Terminal<'a> {
    merchant_id: &'a str,
    sn: &'static str,
    terminal_id: &'static str,
    plan: &'static str,
    deposit: Fen,
    activated_days_ago: i64,
    terminated_days_ago: Option<i64>,
    returned_days_ago: Option<i64>,
}

impl<'a> Terminal<'a> {
    fn activation(merchant_id: &'a str, sn: &'static str, terminal_id: &'static str) -> Self {
        Terminal {
            merchant_id,
            sn,
            terminal_id,
            plan: ACTIVATION_PLAN,
            deposit: Fen::yuan(99),
            activated_days_ago: 0,
            terminated_days_ago: None,
            returned_days_ago: None,
        }
    }

    fn termination(merchant_id: &'a str, sn: &'static str, terminal_id: &'static str) -> Self {
        Terminal {
            plan: TERMINATION_PLAN,
            deposit: Fen::yuan(299),
            activated_days_ago: 400,
            ..Self::activation(merchant_id, sn, terminal_id)
        }
    }

    fn activated(self, days_ago: i64) -> Self {
        Terminal { activated_days_ago: days_ago, ..self }
    }

    fn terminated(self, days_ago: i64, returned_days_ago: Option<i64>) -> Self {
        Terminal { terminated_days_ago: Some(days_ago), returned_days_ago, ..self }
    }
}

async fn create(app: &App, actor: &Actor, t: Terminal<'_>) -> Result<String, AppError> {
    let now = app.clock.now();
    let ago = |d: i64| now.plus_days(-d);
    let bound_at: Timestamp = ago(t.activated_days_ago + 3);
    let input = TerminalInput {
        merchant_id: t.merchant_id.into(),
        sn: t.sn.into(),
        terminal_id: t.terminal_id.into(),
        model: if t.plan == ACTIVATION_PLAN { "拉卡拉 P2".into() } else { "PAX A920".into() },
        plan_code: t.plan.into(),
        status: if t.terminated_days_ago.is_some() { TerminalStatus::Terminated } else { TerminalStatus::Active },
        bound_at,
        activated_at: Some(ago(t.activated_days_ago)),
        terminated_at: t.terminated_days_ago.map(ago),
        device_returned_at: t.returned_days_ago.map(ago),
        deposit: Some(DepositInput {
            amount: t.deposit,
            route: "card",
            route_ref: format!("DEP-{}", t.sn),
            collected_at: bound_at,
        }),
    };
    provisioning::create_terminal(app, actor, input).await
}

/// Adds `count` more of merchant A's terminals in DEMO-AUTO-01's situation (activation target
/// reached, nothing owed), SNs `{prefix}-00001`…, and returns their SNs: load for benchmarks
/// and for the tests that pay hundreds of refunds.
pub async fn add_eligible_terminals(app: &App, prefix: &str, count: usize) -> Result<Vec<String>, AppError> {
    let actor = Actor { role: Role::System, id: "demo-seed".into() };
    let merchant = {
        let mut conn = app.db.pool().acquire().await.map_err(StoreError::from)?;
        merchants::by_phone(&mut conn, MERCHANT_A.phone).await?.ok_or(AppError::NotFound("merchant"))?.id
    };
    let now = app.clock.now();
    let mut sns = Vec::with_capacity(count);
    for n in 1..=count {
        let sn = format!("{prefix}-{n:05}");
        let input = TerminalInput {
            merchant_id: merchant.clone(),
            sn: sn.clone(),
            terminal_id: format!("{}{n:06}", &prefix[..2.min(prefix.len())]).to_ascii_uppercase(),
            model: "拉卡拉 P2".into(),
            plan_code: ACTIVATION_PLAN.into(),
            status: TerminalStatus::Active,
            bound_at: now.plus_days(-33),
            activated_at: Some(now.plus_days(-30)),
            terminated_at: None,
            device_returned_at: None,
            deposit: Some(DepositInput {
                amount: Fen::yuan(99),
                route: "card",
                route_ref: format!("DEP-{sn}"),
                collected_at: now.plus_days(-33),
            }),
        };
        let terminal = provisioning::create_terminal(app, &actor, input).await?;
        provisioning::add_usage(app, &terminal, Fen::yuan(10_000), TxnKind::CreditCard, now.plus_days(-10)).await?;
        sns.push(sn);
    }
    Ok(sns)
}

/// The anti-scam notice every portal should carry.
async fn announce(app: &App) -> Result<(), AppError> {
    let mut tx = app.db.begin_write().await?;
    yajin_store::records::announcements::insert_published(
        &mut tx,
        "谨防退押金诈骗",
        "官方退押金流程不收取任何费用（邮费、手续费、保证金），也不会索要短信验证码。退押金只能在本平台申请，款项原路退回您绑定的银行卡。",
        "demo-seed",
        app.now_ms(),
    )
    .await?;
    tx.commit().await?;
    Ok(())
}
