//! An application as its merchant (and the back office) sees it, loaded for a whole page at
//! once.

use std::collections::HashMap;

use yajin_store::records::applications::{self, Application, Event};
use yajin_store::records::attachments::{self, Attachment};
use yajin_store::records::payouts::{self, Payout};
use yajin_store::records::{merchants, terminals};
use yajin_store::{Conn, StoreError};

/// An application as its merchant sees it: the row, its terminal's SN, its files, its timeline.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApplicationDetail {
    pub application: Application,
    pub terminal_sn: Option<String>,
    pub attachments: Vec<Attachment>,
    pub timeline: Vec<Event>,
    /// The latest payout attempt, once one exists.
    pub payout: Option<Payout>,
    /// The display name of the agent who sold the merchant its terminals, if one did.
    pub agent_name: Option<String>,
}

impl ApplicationDetail {
    /// An application just written without files, as its writer knows it: its row and steps as
    /// written, no payout yet.
    pub fn written(
        application: Application,
        timeline: Vec<Event>,
        terminal_sn: String,
        agent_name: Option<String>,
    ) -> Self {
        ApplicationDetail {
            application,
            terminal_sn: Some(terminal_sn),
            attachments: Vec::new(),
            timeline,
            payout: None,
            agent_name,
        }
    }
}

/// Details for a page of applications in five queries, whatever the page's length: the
/// terminals, the timelines, the files, the payouts and the agents, each for all ids at once.
pub async fn load_details(conn: &mut Conn, rows: Vec<Application>) -> Result<Vec<ApplicationDetail>, StoreError> {
    let ids: Vec<String> = rows.iter().map(|a| a.id.clone()).collect();
    let terminal_ids: Vec<String> = rows.iter().map(|a| a.terminal_id.clone()).collect();
    let sns: HashMap<String, String> =
        terminals::by_ids(conn, &terminal_ids).await?.into_iter().map(|t| (t.id, t.sn)).collect();
    let mut timelines: HashMap<String, Vec<Event>> = HashMap::new();
    for (id, event) in applications::events_of(conn, &ids).await? {
        timelines.entry(id).or_default().push(event);
    }
    let mut files: HashMap<String, Vec<Attachment>> = HashMap::new();
    for (id, file) in attachments::of_applications(conn, &ids).await? {
        files.entry(id).or_default().push(file);
    }
    let mut latest: HashMap<String, Payout> =
        payouts::latest_of(conn, &ids).await?.into_iter().map(|p| (p.application_id.clone(), p)).collect();
    let merchant_ids: Vec<String> = rows.iter().map(|a| a.merchant_id.clone()).collect();
    let agents: HashMap<String, String> = merchants::agent_names(conn, &merchant_ids).await?.into_iter().collect();
    Ok(rows
        .into_iter()
        .map(|a| ApplicationDetail {
            payout: latest.remove(&a.id),
            agent_name: agents.get(&a.merchant_id).cloned(),
            terminal_sn: sns.get(&a.terminal_id).cloned(),
            attachments: files.remove(&a.id).unwrap_or_default(),
            timeline: timelines.remove(&a.id).unwrap_or_default(),
            application: a,
        })
        .collect())
}

/// One application with its detail.
pub async fn load_detail(conn: &mut Conn, a: Application) -> Result<ApplicationDetail, StoreError> {
    let mut details = load_details(conn, vec![a]).await?;
    details.pop().ok_or_else(|| StoreError::Corrupt("an application vanished while it was read".into()))
}

/// What the transaction that wrote an application knows of it without reading it back.
pub struct NewlyWritten {
    pub terminal_sn: String,
    pub agent_name: Option<String>,
    /// Whether files were linked to it.
    pub with_files: bool,
    /// Its whole timeline: the events the writer appended, as stored.
    pub timeline: Vec<Event>,
}

/// An application written in this transaction, with its detail: its files (if any were
/// linked) read back, the rest known. No payout exists yet: the worker makes the first one
/// after the transaction commits.
pub async fn load_new_detail(
    conn: &mut Conn,
    a: Application,
    known: NewlyWritten,
) -> Result<ApplicationDetail, StoreError> {
    let ids = [a.id.clone()];
    let attachments = match known.with_files {
        true => attachments::of_applications(conn, &ids).await?.into_iter().map(|(_, file)| file).collect(),
        false => Vec::new(),
    };
    Ok(ApplicationDetail {
        terminal_sn: Some(known.terminal_sn),
        attachments,
        timeline: known.timeline,
        payout: None,
        agent_name: known.agent_name,
        application: a,
    })
}
