//! The one owner of a committed email's \Seen state (claim → commit → flag): which committed
//! UIDs still wait for the flag, setting it on the server in groups, and recording it in the
//! store (`processed_messages.flagged`) once the server accepted it. A run that stops between
//! commit and flag leaves the UIDs unrecorded, and the next poll flags them first (`recover`).
//! Nothing else sets \Seen or writes `flagged`. Must not speak IMAP itself (that is `imap`).

use crate::app::{AppResult, StoreResultExt};
use crate::imap::MailSession;
use crate::ingest::sync::uid_sets;
use crate::store::Store;

use super::upstream;

/// Committed UIDs flagged \Seen together (at the latest at the end of a poll): every flag
/// change makes a Maildir server such as Dovecot rescan the folder.
const FLAG_GROUP: usize = 1000;

/// The \Seen state of the committed mail of one folder during one poll (or one Retry).
pub(super) struct SeenFlags {
    store: Store,
    credential_id: i64,
    folder: String,
    uidvalidity: u32,
    /// Committed, not yet flagged.
    waiting: Vec<u32>,
}

impl SeenFlags {
    pub(super) fn new(store: &Store, credential_id: i64, folder: &str, uidvalidity: u32) -> Self {
        Self {
            store: store.clone(),
            credential_id,
            folder: folder.to_string(),
            uidvalidity,
            waiting: Vec::new(),
        }
    }

    /// Takes up the UIDs a run committed but did not see flagged (it stopped in between).
    pub(super) async fn recover(&mut self) -> AppResult<()> {
        let unflagged = self
            .store
            .unflagged_uids(
                self.credential_id,
                &self.folder,
                i64::from(self.uidvalidity),
            )
            .await
            .app_err("checkpoint")?;
        self.waiting
            .extend(unflagged.into_iter().filter_map(|u| u32::try_from(u).ok()));
        Ok(())
    }

    /// A batch committed: its UIDs wait for \Seen, except `leave_unflagged` (oversized mail,
    /// left untouched on the server).
    pub(super) fn committed(&mut self, uids: &[i64], leave_unflagged: &[i64]) {
        self.waiting.extend(
            uids.iter()
                .filter(|u| !leave_unflagged.contains(u))
                .filter_map(|u| u32::try_from(*u).ok()),
        );
    }

    /// Flags the waiting UIDs once a whole group waits.
    pub(super) async fn flag_full_group(&mut self, session: &mut MailSession) -> AppResult<()> {
        if self.waiting.len() >= FLAG_GROUP {
            self.flag_now(session).await?;
        }
        Ok(())
    }

    /// Sets \Seen on every waiting UID (one command per compact set) and records it. When the
    /// server refuses, nothing is recorded: a later poll tries again.
    pub(super) async fn flag_now(&mut self, session: &mut MailSession) -> AppResult<()> {
        let uids = std::mem::take(&mut self.waiting);
        let mut refused = false;
        for set in uid_sets(&uids, 4000) {
            if let Some(said) = session.mark_seen(&set).await.map_err(upstream)? {
                tracing::warn!(answer = %said, "the server refused to flag committed mail \\Seen; a later poll tries again");
                refused = true;
            }
        }
        if refused || uids.is_empty() {
            return Ok(());
        }
        let uids: Vec<i64> = uids.into_iter().map(i64::from).collect();
        self.store
            .mark_flagged(
                self.credential_id,
                &self.folder,
                i64::from(self.uidvalidity),
                &uids,
            )
            .await
            .app_err("checkpoint")
    }
}
