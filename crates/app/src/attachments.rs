//! Evidence files (purchase vouchers, usage records, ID photos): the type decided by content,
//! 10 MiB at most, stored content-addressed so a backup of the database holds every file.

use sha2::{Digest, Sha256};
use yajin_core::attachment::{self, MAX_BYTES};
use yajin_core::validation::FieldError;
use yajin_store::records::attachments::{self, Attachment};
use yajin_store::StoreError;

use crate::idempotency::{begin_work, Outcome, Replay};
use crate::{App, AppError};

const DAY_MS: i64 = 86_400_000;
/// What one merchant may upload in 24 hours: enough for any application and its supplements,
/// too little to fill the database.
pub const FILES_PER_DAY: i64 = 100;
pub const BYTES_PER_DAY: i64 = 200 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    #[error("invalid fields")]
    Fields(Vec<FieldError>),
    #[error("larger than {MAX_BYTES} bytes")]
    TooLarge,
    #[error("not a JPEG, PNG or PDF file")]
    UnsupportedType,
    /// The merchant uploaded as much as a day allows.
    #[error("upload quota reached")]
    QuotaExceeded,
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A refusal every use case shares (a reused idempotency key).
    #[error(transparent)]
    App(#[from] AppError),
}

impl UploadError {
    /// The refusal as a problem with the form's `field` (a page that uploads with other fields).
    pub fn as_field_error(&self, field: &str) -> FieldError {
        match self {
            UploadError::Fields(errors) => match errors.first() {
                Some(e) => FieldError { field: field.to_owned(), ..e.clone() },
                None => FieldError::new(field, "invalid", "文件无效", "invalid file"),
            },
            UploadError::TooLarge => {
                FieldError::new(field, "too_large", "每个文件至多 10 MiB", "at most 10 MiB a file")
            }
            UploadError::UnsupportedType => {
                FieldError::new(field, "unsupported_type", "只收 JPEG、PNG 或 PDF 文件", "JPEG, PNG or PDF files only")
            }
            UploadError::QuotaExceeded => FieldError::new(
                field,
                "quota_exceeded",
                "24 小时内至多上传 100 个文件、200 MiB",
                "at most 100 files and 200 MiB in 24 hours",
            ),
            UploadError::Store(_) | UploadError::App(_) => {
                FieldError::new(field, "not_stored", "文件未能保存，请重试", "the file could not be stored; try again")
            }
        }
    }
}

/// Stores one file of the merchant's; `kind` and `file` as the form carried them.
pub async fn upload(
    app: &App,
    merchant_id: &str,
    kind: Option<&str>,
    file: Option<&[u8]>,
    replay: Replay<'_, Attachment>,
) -> Result<Outcome<Attachment>, UploadError> {
    let mut errors = Vec::new();
    if !kind.is_some_and(|k| attachment::KINDS.contains(&k)) {
        errors.push(FieldError::new(
            "kind",
            "invalid_value",
            format!("须为以下之一：{}", attachment::KINDS.join("、")),
            format!("one of {}", attachment::KINDS.join(", ")),
        ));
    }
    match file {
        None => errors.push(FieldError::new("file", "required", "缺少名为 file 的文件", "a file part named `file`")),
        Some([]) => errors.push(FieldError::new("file", "empty", "文件是空的", "the file is empty")),
        Some(_) => {}
    }
    let (Some(kind), Some(file)) = (kind, file) else { return Err(UploadError::Fields(errors)) };
    if !errors.is_empty() {
        return Err(UploadError::Fields(errors));
    }
    if file.len() > MAX_BYTES {
        return Err(UploadError::TooLarge);
    }
    let content_type = attachment::sniff(file).ok_or(UploadError::UnsupportedType)?;
    let sha256 = hex::encode(Sha256::digest(file));
    let now = app.now_ms();
    let mut work = begin_work!(app, replay);
    let (files, bytes) = attachments::uploaded_since(&mut work.tx, merchant_id, now - DAY_MS).await?;
    if files >= FILES_PER_DAY || bytes + file.len() as i64 > BYTES_PER_DAY {
        return Err(UploadError::QuotaExceeded);
    }
    let new = attachments::NewAttachment { merchant_id, kind, content_type, sha256: &sha256, content: file };
    let saved = attachments::insert(&mut work.tx, &app.vault, &new, now).await?;
    Ok(work.finish(saved).await?)
}

/// A file's metadata and bytes: the merchant's own (`Some(merchant)`), or any (staff).
pub async fn read(app: &App, merchant_id: Option<&str>, id: &str) -> Result<(Attachment, Vec<u8>), AppError> {
    let mut conn = app.db.begin_read().await?;
    let meta = attachments::get(&mut conn, id, merchant_id).await?.ok_or(AppError::NotFound("attachment"))?;
    let content =
        attachments::content(&mut conn, &app.vault, &meta.sha256).await?.ok_or(AppError::NotFound("attachment"))?;
    Ok((meta, content))
}

/// Seals the evidence bodies written before bodies were sealed, a batch at a time, until none
/// is left; `serve` runs it once at start.
pub async fn seal_remaining(app: &App) -> Result<u64, StoreError> {
    let mut total = 0;
    loop {
        let mut tx = app.db.begin_write().await?;
        let sealed = attachments::seal_clear_blobs(&mut tx, &app.vault, 50).await?;
        tx.commit().await?;
        total += sealed;
        if sealed == 0 {
            return Ok(total);
        }
    }
}
