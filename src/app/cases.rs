//! Cases as clients see them (list with filters, details with attachments, attachment bytes,
//! why a case is not acknowledged) and Retry of an exception-log entry whose email was kept.

use serde::Serialize;

use super::processing::Router;
use super::{App, AppError, AppResult, StoreResultExt, iso_time};
use crate::ingest::ParsedEmail;
use crate::store::{AttachmentRow, CaseFilter, CaseRow, RetryOf};

/// A case for API and CLI output (times in RFC 3339).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CaseView {
    #[serde(flatten)]
    pub case: CaseRow,
    pub created: String,
    pub sent: Option<String>,
    /// Why the sender gets no acknowledgement, in words ("not acknowledged: more than 20
    /// emails from ann@example.com this hour (per-sender rate limit)"); `null` when nothing
    /// holds it back.
    pub acknowledgement: Option<String>,
}

impl From<CaseRow> for CaseView {
    fn from(case: CaseRow) -> Self {
        Self {
            created: iso_time(case.created_at),
            sent: case.sent_at.map(iso_time),
            acknowledgement: case
                .automatic
                .as_deref()
                .map(|reason| format!("not acknowledged: {reason}")),
            case,
        }
    }
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct RetryOutcome {
    pub exception_id: i64,
    pub case_id: i64,
}

impl App {
    pub async fn list_cases(&self, filter: &CaseFilter) -> AppResult<Vec<CaseView>> {
        let rows = self.store.list_cases(filter).await.app_err("case")?;
        Ok(rows.into_iter().map(CaseView::from).collect())
    }

    pub async fn get_case(&self, id: i64) -> AppResult<CaseView> {
        self.store
            .get_case(id)
            .await
            .map(CaseView::from)
            .app_err("case")
    }

    pub async fn case_attachment(
        &self,
        case_id: i64,
        attachment_id: i64,
    ) -> AppResult<(AttachmentRow, Vec<u8>)> {
        self.store
            .attachment_bytes(case_id, attachment_id)
            .await
            .app_err("attachment")
    }

    /// For each exception id that can be retried (it kept its email, or set aside an email the
    /// server did not return): the case a Retry made, if any.
    pub async fn exception_retry_states(
        &self,
        ids: &[i64],
    ) -> AppResult<std::collections::HashMap<i64, Option<i64>>> {
        let mut states = self
            .store
            .exception_retry_states(ids)
            .await
            .app_err("exception")?;
        states.extend(
            self.store
                .missing_retry_states(ids)
                .await
                .app_err("exception")?,
        );
        Ok(states)
    }

    /// Runs routing again on the email kept with an exception, or fetches again the email the
    /// server did not return; creates its case when an alias now matches. Refused (409) when it
    /// still matches nothing or was already resolved; 502 when the server still does not send it.
    pub async fn retry_exception(&self, actor: &str, exception_id: i64) -> AppResult<RetryOutcome> {
        let kept = match self.store.exception_message(exception_id).await {
            Ok(kept) => kept,
            Err(crate::store::StoreError::NotFound) => {
                let missing = self
                    .store
                    .missing_message(exception_id)
                    .await
                    .app_err("exception")?
                    .ok_or(AppError::NotFound("exception with a kept email"))?;
                let case_id = self.retry_missing(actor, exception_id, missing).await?;
                return Ok(RetryOutcome {
                    exception_id,
                    case_id,
                });
            }
            Err(e) => return Err(e).app_err("exception with a kept email"),
        };
        if let Some(case_id) = kept.resolved_case_id {
            return Err(AppError::Conflict {
                field: None,
                message: format!("This exception was already retried: it became case {case_id}."),
            });
        }
        let Some(credential_id) = kept.credential_id else {
            return Err(AppError::Conflict {
                field: None,
                message: "This exception belongs to no credential; it cannot be retried.".into(),
            });
        };
        let parsed = ParsedEmail::parse(&kept.raw).map_err(|e| AppError::Conflict {
            field: None,
            message: format!("The email still cannot be read: {e}."),
        })?;
        let key = super::processing::message_key(Some(&parsed), &kept.raw);
        let original = (self.processing_options().keep_originals_days != Some(0))
            .then(|| super::originals::kept_original(&kept.raw, &parsed.content_hash));
        // The same routing as polling, the per-sender limit included.
        let mut router = Router::new(
            credential_id,
            self.processing_options().sender_limit_per_hour,
        );
        let Ok(mut case) = router.route_email(&self.store, parsed).await? else {
            return Err(AppError::Conflict {
                field: None,
                message: "The email still matches no alias and the credential has no default alias: add an alias, then retry.".into(),
            });
        };
        case.original = original;
        let retry = RetryOf {
            exception_id,
            actor: actor.to_string(),
            existing_case_resolves: true,
        };
        let case_id = self
            .store
            .resolve_exception_with_case(retry, credential_id, &key, kept.uid, case)
            .await
            .app_err("case")?
            .ok_or_else(|| AppError::Conflict {
                field: None,
                message: "The email could not become a case; it stays in the exception log.".into(),
            })?;
        Ok(RetryOutcome {
            exception_id,
            case_id,
        })
    }
}
