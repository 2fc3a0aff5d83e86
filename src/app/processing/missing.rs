//! Emails a server left out of its FETCH answers: at the start of a poll, which recorded UIDs
//! are still worth fetching again (the folder still holds them), and Retry of one that was set
//! aside in the exception log — fetched again on its own, routed and committed like any other
//! email, then flagged \Seen. Must not speak IMAP itself (that is `imap`) or hold SQL.

use std::collections::HashMap;

use super::flags::SeenFlags;
use super::router::{Router, message_item, refresh_router};
use super::{INBOX, upstream};
use crate::app::originals::kept_original;
use crate::app::{App, AppError, AppResult, StoreResultExt};
use crate::imap::MailSession;
use crate::ingest::ParsedEmail;
use crate::ingest::sync::uid_sets;
use crate::store::{Batch, RetryOf};

impl App {
    /// The UIDs earlier polls recorded as missing, with their miss counts, and those of them to
    /// fetch again after the new mail (`uids`). Forgets the ones of another UIDVALIDITY (the
    /// folder is read again whole) and those no longer in the folder (deleted meanwhile).
    pub(super) async fn pending_missing(
        &self,
        credential_id: i64,
        uidvalidity: u32,
        session: &mut MailSession,
        uids: &[u32],
    ) -> AppResult<(HashMap<u32, i64>, Vec<u32>)> {
        let rows = self
            .store
            .pending_missing(credential_id, INBOX)
            .await
            .app_err("missing messages")?;
        if rows.is_empty() {
            return Ok((HashMap::new(), Vec::new()));
        }
        let mut pending: HashMap<u32, i64> = rows
            .iter()
            .filter(|r| r.uidvalidity == i64::from(uidvalidity))
            .filter_map(|r| Some((u32::try_from(r.uid).ok()?, r.misses)))
            .collect();
        let mut asked: Vec<u32> = pending.keys().copied().collect();
        asked.sort_unstable();
        let mut present = std::collections::HashSet::new();
        for set in uid_sets(&asked, 4000) {
            present.extend(
                session
                    .search(&format!("UID {set}"))
                    .await
                    .map_err(upstream)?,
            );
        }
        let gone: Vec<i64> = asked
            .iter()
            .filter(|u| !present.contains(u))
            .map(|u| i64::from(*u))
            .collect();
        let stale = rows.len() > asked.len();
        if stale || !gone.is_empty() {
            self.store
                .forget_missing(credential_id, INBOX, i64::from(uidvalidity), &gone)
                .await
                .app_err("missing messages")?;
        }
        pending.retain(|u, _| present.contains(u));
        let mut retry: Vec<u32> = pending
            .keys()
            .copied()
            .filter(|u| uids.binary_search(u).is_err())
            .collect();
        retry.sort_unstable();
        Ok((pending, retry))
    }

    /// Retry of an exception-log entry that set a missing UID aside: connects, fetches that UID
    /// on its own and commits it like any email of a poll (the case, or an entry of its own
    /// that keeps the email), then flags it \Seen. Returns the case id.
    pub(crate) async fn retry_missing(
        &self,
        actor: &str,
        exception_id: i64,
        m: crate::store::MissingMessage,
    ) -> AppResult<i64> {
        let conflict = |message: String| AppError::Conflict {
            field: None,
            message,
        };
        if let Some(case_id) = m.resolved_case_id {
            return Err(conflict(format!(
                "This exception was already retried: it became case {case_id}."
            )));
        }
        if m.resolved_at.is_some() {
            return Err(conflict(format!(
                "Exception {exception_id} was already retried: the email was fetched and recorded."
            )));
        }
        let uid =
            u32::try_from(m.uid).map_err(|_| conflict(format!("UID {} is not valid.", m.uid)))?;
        let opts = self.processing.clone();
        let row = self.credential_row(m.credential_id).await?;
        let password = self.mail_credentials(&row).await?;
        let mut session = MailSession::connect(&self.mail_target(&row, &opts), &password)
            .await
            .map_err(|e| AppError::Upstream(e.message))?;
        let _turn = self.one_poll_at_a_time(row.id).await;
        let status = session.select(&m.folder).await.map_err(upstream)?;
        if i64::from(status.uidvalidity) != m.uidvalidity {
            return Err(conflict(format!(
                "{} was renumbered since (its UIDVALIDITY changed), so UID {uid} names another email now. The folder was read again under the new numbers; this email, if still there, became a case or an entry of its own.",
                m.folder
            )));
        }
        let fetched = session.bodies(&uid.to_string()).await;
        let Some((_, raw)) = fetched.bodies.into_iter().find(|(u, _)| *u == uid) else {
            let why = match (fetched.broken, fetched.server_said) {
                (Some(e), _) => e.message,
                (None, Some(said)) => format!("it answered {said}"),
                (None, None) => "it answered OK but did not send it".into(),
            };
            return Err(AppError::Upstream(format!(
                "The server still does not return the email with UID {uid}: {why}. It stays in the exception log; try again later."
            )));
        };
        let keep = opts.keep_originals_days != Some(0);
        let (raw, parsed, original) = tokio::task::spawn_blocking(move || {
            let parsed = ParsedEmail::parse(&raw);
            let original = match &parsed {
                Ok(p) if keep => Some(kept_original(&raw, &p.content_hash)),
                _ => None,
            };
            (raw, parsed, original)
        })
        .await
        .map_err(|e| AppError::Other(anyhow::anyhow!("parsing the email failed: {e}")))?;
        let mut router = Router::new(row.id, opts.sender_limit_per_hour);
        refresh_router(&self.store, &mut router).await?;
        let item = message_item(&self.store, &mut router, uid, raw, parsed, original).await?;
        let outcome = self
            .store
            .commit_batch(Batch {
                credential_id: row.id,
                folder: m.folder.clone(),
                uidvalidity: m.uidvalidity,
                advance_to: 0,
                keep_checkpoint: true,
                items: vec![item],
                missing: Vec::new(),
                resolved_missing: vec![m.uid],
                retried: Some(RetryOf {
                    exception_id,
                    actor: actor.to_string(),
                    existing_case_resolves: false,
                }),
            })
            .await
            .app_err("case")?;
        // Committed: now (and only now) the email is marked read on the server.
        let mut flags = SeenFlags::new(&self.store, row.id, &m.folder, status.uidvalidity);
        flags.committed(&outcome.committed_uids, &[]);
        flags.flag_now(&mut session).await?;
        session.logout().await;
        if let Some(case_id) = outcome.resolved_case_id {
            return Ok(case_id);
        }
        Err(conflict(if outcome.exceptions > 0 {
            format!(
                "The email with UID {uid} was fetched, but it matches no alias or cannot be read: it is now an exception-log entry of its own that keeps the email. Fix the cause, then retry that entry."
            )
        } else if outcome.duplicates > 0 {
            format!(
                "The email with UID {uid} was fetched: it is a copy of an email that already has a case."
            )
        } else {
            format!("The email with UID {uid} was already processed.")
        }))
    }
}
