//! Merchant authentication: phone + password with lockout, sessions, SMS codes and password
//! reset. Every counter lives in the database, so the limits hold across several servers.

use rand::RngCore;
use sha2::{Digest, Sha256};
use tokio::sync::OnceCell;
use yajin_core::application::Role;
use yajin_core::ids::{as_typed, PhoneNo};
use yajin_core::validation::FieldError;
use yajin_store::records::logins;
use yajin_store::records::sessions::{self, Session};
use yajin_store::records::{merchants, sms, staff, throttle};
use yajin_store::{StoreError, Tx};

use crate::{passwords, App};

pub const SESSION_TTL_MS: i64 = 12 * 3_600_000;
/// Staff sessions are a working day.
pub const STAFF_SESSION_TTL_MS: i64 = 8 * 3_600_000;
pub const LOCK_AFTER_FAILURES: i64 = 5;
pub const LOCK_MS: i64 = 15 * 60_000;
pub const LOGINS_PER_IP_PER_MINUTE: i64 = 30;
/// An account whose logins failed from this many other addresses within [`LOCK_MS`] is under
/// attack: the right password from an address it has not used lately is not enough.
pub const STEP_UP_ADDRESSES: i64 = 3;
/// How long an address an account logged in from stays "known" to it.
pub const KNOWN_ADDRESS_MS: i64 = 90 * 24 * 3_600_000;
pub const SMS_CODE_TTL_MS: i64 = 5 * 60_000;
pub const SMS_CODE_MAX_ATTEMPTS: i64 = 5;
pub const SMS_COOLDOWN_MS: i64 = 60_000;
pub const SMS_PER_IP_PER_HOUR: i64 = 20;
/// Codes sent to one phone in any 24 hours (a sliding window, not a calendar day): beyond
/// this, nobody can use Yajin to bomb a number.
pub const SMS_PER_PHONE_PER_DAY: i64 = 10;
const DAY_MS: i64 = 24 * 3_600_000;
/// Password resets tried from one address in an hour (each may guess a code).
pub const RESETS_PER_IP_PER_HOUR: i64 = 30;
const PURPOSE_RESET: &str = "reset_password";
pub(crate) const PURPOSE_PAYOUT_CARD: &str = "change_payout_card";
pub(crate) const PURPOSE_UNLOCK_IDENTITY: &str = "unlock_identity_checks";
const PURPOSE_LOGIN: &str = "login_step_up";

#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("wrong phone number or password")]
    InvalidCredentials,
    #[error("locked until {until_ms}")]
    Locked { until_ms: i64 },
    /// The right password, for an account under attack, from an address it has not used
    /// lately: a merchant logs in again with the SMS code just sent (`code_sent`); staff from
    /// an address they have used, or once the attack has stopped.
    #[error("step-up required")]
    StepUpRequired { code_sent: bool },
    #[error("too many requests")]
    RateLimited { retry_after_ms: i64 },
    #[error("invalid input")]
    Fields(Vec<FieldError>),
    #[error("wrong code")]
    InvalidCode,
    /// Five wrong tries spent the code: even the right one is refused now; ask for another.
    #[error("code worn out")]
    CodeExhausted,
    /// A wrong code whose attempt was counted in the caller's transaction (never sent out:
    /// [`attempt_counted`] makes it `InvalidCode`).
    #[error("wrong code")]
    WrongCode,
    #[error("weak password")]
    WeakPassword(FieldError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Internal(String),
}

impl From<crate::AppError> for AuthError {
    fn from(e: crate::AppError) -> Self {
        AuthError::Internal(e.to_string())
    }
}

/// A new session: the token is shown to the client once and only its hash is kept.
#[derive(Clone, Debug)]
pub struct NewSession {
    pub token: String,
    pub csrf_token: String,
    pub expires_at_ms: i64,
    pub principal_id: String,
    pub role: Role,
}

pub fn token_hash(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    hex::encode(bytes)
}

/// A hash of a random password: verifying against it costs what a real verify costs, so a
/// login for an unknown phone takes as long as one for a known phone.
async fn dummy_hash() -> &'static str {
    static DUMMY: OnceCell<String> = OnceCell::const_new();
    DUMMY.get_or_init(|| async { passwords::hash(random_token()).await.unwrap_or_default() }).await
}

/// At most `max` requests in `bucket` in any `window_ms` (a sliding window).
async fn limit(app: &App, bucket: &str, window_ms: i64, max: i64) -> Result<(), AuthError> {
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    let hit = throttle::hit(&mut tx, bucket, window_ms, max, now).await?;
    tx.commit().await?;
    match hit {
        throttle::Hit::Allowed => Ok(()),
        throttle::Hit::Limited { retry_after_ms } => Err(AuthError::RateLimited { retry_after_ms }),
    }
}

/// Whose login: the two kinds of account share the rules, not the tables.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Merchant,
    Staff,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Merchant => "merchant",
            Kind::Staff => "staff",
        }
    }
}

struct Account {
    id: String,
    role: Role,
    active: bool,
    password_hash: String,
}

async fn account(app: &App, kind: Kind, login: &str) -> Result<Option<Account>, AuthError> {
    let mut conn = app.db.pool().acquire().await.map_err(StoreError::from)?;
    Ok(match kind {
        Kind::Merchant => merchants::login_record(&mut conn, login.trim()).await?.map(|r| Account {
            id: r.id,
            role: Role::Merchant,
            active: true,
            password_hash: r.password_hash,
        }),
        Kind::Staff => staff::login_record(&mut conn, login.trim()).await?.map(|r| Account {
            id: r.id,
            role: r.role,
            active: r.active,
            password_hash: r.password_hash,
        }),
    })
}

/// The identifier as people type it, normalised: a phone number in its one form (spaces,
/// dashes, +86 dropped), a username trimmed.
fn normalised(kind: Kind, login: &str) -> String {
    match kind {
        Kind::Merchant => PhoneNo::parse(login).map_or_else(|_| as_typed(login), |p| p.expose().to_owned()),
        Kind::Staff => login.trim().to_owned(),
    }
}

/// Logs in a merchant (by phone) or a staff member (by username). Failures are counted per
/// (identifier, client address), for accounts that exist and those that do not alike: five
/// lock that address out for a while (and only that address: the owner elsewhere still logs
/// in), the lock resets when it runs out, and unknown accounts get the same answers at the
/// same cost as known ones. The right password for an account under attack from many
/// addresses (see [`STEP_UP_ADDRESSES`]) needs more from an address the account has not used
/// lately: a merchant's `sms_code`, sent to the bound phone by the refused first try.
pub async fn login(
    app: &App,
    kind: Kind,
    login: &str,
    password: String,
    sms_code: Option<&str>,
    client_ip: &str,
) -> Result<NewSession, AuthError> {
    limit(app, &format!("login-ip:{client_ip}"), 60_000, LOGINS_PER_IP_PER_MINUTE).await?;
    let identifier = normalised(kind, login);
    let now = app.now_ms();
    let locked = {
        let mut conn = app.db.pool().acquire().await.map_err(StoreError::from)?;
        logins::lock_in_force(&mut conn, kind.as_str(), &identifier, client_ip, now).await?
    };
    if let Some(until_ms) = locked {
        return Err(AuthError::Locked { until_ms });
    }
    let record = account(app, kind, &identifier).await?.filter(|a| a.active);
    let good = match &record {
        Some(r) => passwords::verify(password, r.password_hash.clone()).await,
        None => {
            passwords::verify(password, dummy_hash().await.to_owned()).await;
            false
        }
    };
    let mut tx = app.db.begin_write().await?;
    let Some(record) = record.filter(|_| good) else {
        let locked =
            logins::count_failure(&mut tx, kind.as_str(), &identifier, client_ip, now, LOCK_AFTER_FAILURES, LOCK_MS)
                .await?;
        tx.commit().await?;
        return Err(match locked {
            Some(until_ms) => AuthError::Locked { until_ms },
            None => AuthError::InvalidCredentials,
        });
    };
    let attacked = logins::addresses_failing(&mut tx, kind.as_str(), &identifier, client_ip, now - LOCK_MS).await?
        >= STEP_UP_ADDRESSES;
    if attacked
        && !logins::known_address(&mut tx, kind.as_str(), &identifier, client_ip, now - KNOWN_ADDRESS_MS).await?
    {
        match (kind, sms_code) {
            (Kind::Merchant, Some(code)) => {
                if let Err(refused) = spend_code(app, &mut tx, &identifier, PURPOSE_LOGIN, code, now).await {
                    return Err(attempt_counted(tx, refused).await);
                }
            }
            (Kind::Merchant, None) => {
                drop(tx);
                // A code within the last minute is still valid: the cooldown refuses a new one.
                let code_sent = match request_code(app, &identifier, PURPOSE_LOGIN, client_ip).await {
                    Ok(_) => true,
                    Err(AuthError::RateLimited { .. }) => false,
                    Err(e) => return Err(e),
                };
                return Err(AuthError::StepUpRequired { code_sent });
            }
            (Kind::Staff, _) => return Err(AuthError::StepUpRequired { code_sent: false }),
        }
    }
    logins::forget_failures_from(&mut tx, kind.as_str(), &identifier, client_ip).await?;
    logins::remember_address(&mut tx, kind.as_str(), &identifier, client_ip, now).await?;
    let (token, csrf_token) = (random_token(), random_token());
    let ttl = if kind == Kind::Staff { STAFF_SESSION_TTL_MS } else { SESSION_TTL_MS };
    let session = Session {
        token_hash: token_hash(&token),
        principal_kind: kind.as_str().into(),
        principal_id: record.id.clone(),
        role: record.role.as_str().into(),
        csrf_hash: token_hash(&csrf_token),
        expires_at: now + ttl,
    };
    sessions::insert(&mut tx, &session, now).await?;
    tx.commit().await?;
    Ok(NewSession { token, csrf_token, expires_at_ms: session.expires_at, principal_id: record.id, role: record.role })
}

/// The live session behind a token, if any.
pub async fn session(app: &App, token: &str) -> Result<Option<Session>, StoreError> {
    sessions::live(&app.db, &token_hash(token), app.now_ms()).await
}

pub async fn logout(app: &App, token_hash: &str) -> Result<(), StoreError> {
    let mut tx = app.db.begin_write().await?;
    sessions::revoke(&mut tx, token_hash, app.now_ms()).await?;
    tx.commit().await?;
    Ok(())
}

/// A code as stored: keyed (HMAC under the server's index key), since a plain digest of one
/// of 10^6 codes is no secret to whoever reads the table.
fn code_hash(app: &App, phone: &str, code: &str) -> String {
    app.vault.blind_index("sms_code", &format!("{phone}:{code}"))
}

/// What is kept of a message that carried a code: its text with the code masked, except for
/// the sandbox gateway, whose record is the inbox people read the code from.
fn kept_text(app: &App, text: &str, code: &str) -> String {
    if app.sms.name() == "sandbox" {
        text.to_owned()
    } else {
        text.replace(code, "******")
    }
}

/// Sends a reset code if the phone belongs to a merchant. The answer is the same either way
/// (no account enumeration); the per-phone cooldown and per-IP limit apply either way too.
/// Returns the seconds until another code may be requested.
pub async fn request_reset_code(app: &App, phone: &str, client_ip: &str) -> Result<i64, AuthError> {
    request_code(app, phone, PURPOSE_RESET, client_ip).await
}

/// Sends the logged-in merchant a code that confirms a new payout card (to their own phone
/// only: a code is never sent to a number the caller chose).
pub async fn request_payout_card_code(
    app: &App,
    merchant_id: &str,
    phone: &str,
    client_ip: &str,
) -> Result<i64, AuthError> {
    request_own_code(app, merchant_id, phone, PURPOSE_PAYOUT_CARD, client_ip).await
}

/// Sends the logged-in merchant a code that unlocks their identity checks (after five numbers
/// that did not match), to their own phone only.
pub async fn request_identity_unlock_code(
    app: &App,
    merchant_id: &str,
    phone: &str,
    client_ip: &str,
) -> Result<i64, AuthError> {
    request_own_code(app, merchant_id, phone, PURPOSE_UNLOCK_IDENTITY, client_ip).await
}

async fn request_own_code(
    app: &App,
    merchant_id: &str,
    phone: &str,
    purpose: &str,
    client_ip: &str,
) -> Result<i64, AuthError> {
    let own = {
        let mut conn = app.db.begin_read().await?;
        merchants::by_id(&mut conn, merchant_id).await?.map(|m| m.phone)
    };
    let parsed = PhoneNo::parse(phone).map_err(|e| AuthError::Fields(vec![FieldError::from_id("phone", e)]))?;
    if own.as_deref() != Some(parsed.expose()) {
        return Err(AuthError::Fields(vec![FieldError::new(
            "phone",
            "mismatch",
            "须为您绑定的手机号",
            "your own bound phone number",
        )]));
    }
    request_code(app, phone, purpose, client_ip).await
}

async fn request_code(app: &App, phone: &str, purpose: &str, client_ip: &str) -> Result<i64, AuthError> {
    let phone = PhoneNo::parse(phone).map_err(|e| AuthError::Fields(vec![FieldError::from_id("phone", e)]))?;
    limit(app, &format!("sms-ip:{client_ip}"), 3_600_000, SMS_PER_IP_PER_HOUR).await?;
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    if let Err(retry_after_ms) =
        throttle::take_cooldown(&mut tx, &format!("sms:{}", phone.expose()), SMS_COOLDOWN_MS, now).await?
    {
        return Err(AuthError::RateLimited { retry_after_ms });
    }
    // In the transaction that sends the code: the day's count is of codes sent, so asking
    // during the cooldown does not use up the owner's codes, and a refusal takes no cooldown.
    let bucket = format!("sms-phone-day:{}", phone.expose());
    if let throttle::Hit::Limited { retry_after_ms } =
        throttle::hit(&mut tx, &bucket, DAY_MS, SMS_PER_PHONE_PER_DAY, now).await?
    {
        return Err(AuthError::RateLimited { retry_after_ms });
    }
    let merchant = merchants::by_phone(&mut tx, phone.expose()).await?;
    let text = match merchant {
        Some(_) => {
            let code = format!("{:06}", rand::rngs::OsRng.next_u32() % 1_000_000);
            let hash = code_hash(app, phone.expose(), &code);
            sms::insert_code(&mut tx, phone.expose(), purpose, &hash, now, now + SMS_CODE_TTL_MS).await?;
            let what = match purpose {
                PURPOSE_RESET => "重置密码",
                PURPOSE_UNLOCK_IDENTITY => "解锁身份核验",
                PURPOSE_LOGIN => "在新的设备或网络上登录（您的账户近期有多处登录失败，如非本人操作请勿告知他人）",
                _ => "确认更换退款收款卡",
            };
            let text = format!(
                "【押金服务】您的验证码是 {code}，5 分钟内有效，用于{what}。工作人员不会向您索要验证码，切勿告知他人。"
            );
            sms::record_message(&mut tx, phone.expose(), &kept_text(app, &text, &code), app.sms.name(), now).await?;
            Some(text)
        }
        None => None,
    };
    tx.commit().await?;
    // Delivered in the background: the answer comes as fast for a number that is nobody's as
    // for a merchant's, so its timing tells nothing either.
    if let Some(text) = text {
        let (sms, phone) = (app.sms.clone(), phone.expose().to_owned());
        tokio::spawn(async move {
            if let Err(e) = sms.send(&phone, &text).await {
                tracing::error!(error = %e, "code not delivered; the merchant can ask again after the cooldown");
            }
        });
    }
    Ok(SMS_COOLDOWN_MS / 1000)
}

/// A refused code, after committing the counted attempt of a wrong one (the rest of the
/// transaction did nothing yet): five wrong tries spend the code.
pub(crate) async fn attempt_counted(tx: Tx, refused: AuthError) -> AuthError {
    match refused {
        AuthError::WrongCode => match tx.commit().await {
            Ok(()) => AuthError::InvalidCode,
            Err(e) => AuthError::Store(e),
        },
        other => other,
    }
}

/// Spends a valid code of `purpose` sent to `phone`, in the caller's transaction. A wrong code
/// counts an attempt and is [`AuthError::WrongCode`]: pass it to [`attempt_counted`].
pub(crate) async fn spend_code(
    app: &App,
    tx: &mut Tx,
    phone: &str,
    purpose: &str,
    code: &str,
    now: i64,
) -> Result<(), AuthError> {
    let code = &as_typed(code);
    let well_formed = code.len() == 6 && code.bytes().all(|b| b.is_ascii_digit());
    let Some(stored) = sms::latest_code(tx, phone, purpose).await? else {
        return Err(AuthError::InvalidCode);
    };
    if stored.expires_at <= now {
        // The same answer as for a phone that never had a code: an expired code would
        // otherwise tell that the number belongs to a merchant.
        return Err(AuthError::InvalidCode);
    }
    // The try is counted before the code is compared, by a conditional update: however many
    // guesses arrive at once, no more than five are ever compared.
    if !sms::count_attempt(tx, &stored.id, SMS_CODE_MAX_ATTEMPTS).await? {
        return Err(AuthError::CodeExhausted);
    }
    if !well_formed || stored.code_hash != code_hash(app, phone, code) {
        return Err(AuthError::WrongCode);
    }
    if !sms::consume(tx, &stored.id, now).await? {
        return Err(AuthError::InvalidCode);
    }
    Ok(())
}

/// Sets a new password with a valid code: the code is spent, failures and locks are cleared,
/// every session of the merchant ends.
pub async fn reset_password(
    app: &App,
    phone: &str,
    code: &str,
    new_password: String,
    client_ip: &str,
) -> Result<(), AuthError> {
    limit(app, &format!("reset-ip:{client_ip}"), 3_600_000, RESETS_PER_IP_PER_HOUR).await?;
    let phone = PhoneNo::parse(phone).map_err(|e| AuthError::Fields(vec![FieldError::from_id("phone", e)]))?;
    yajin_core::password::check("new_password", &new_password, phone.expose()).map_err(AuthError::WeakPassword)?;
    let now = app.now_ms();
    let mut tx = app.db.begin_write().await?;
    if let Err(refused) = spend_code(app, &mut tx, phone.expose(), PURPOSE_RESET, code, now).await {
        return Err(attempt_counted(tx, refused).await);
    }
    let merchant = merchants::by_phone(&mut tx, phone.expose()).await?.ok_or(AuthError::InvalidCode)?;
    let hash = passwords::hash(new_password).await?;
    merchants::set_password_hash(&mut tx, &merchant.id, &hash).await?;
    logins::forget_failures(&mut tx, Kind::Merchant.as_str(), phone.expose()).await?;
    sessions::revoke_all(&mut tx, "merchant", &merchant.id, now).await?;
    tx.commit().await?;
    Ok(())
}
