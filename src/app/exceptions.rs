//! The exception log as administrators read it. Entries are written where problems happen
//! (store functions, processing); this module only lists them. Must not hold secret values.

use serde::Serialize;

use super::{App, AppResult, StoreResultExt, iso_time};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ExceptionView {
    pub id: i64,
    pub at: String,
    pub credential_id: Option<i64>,
    pub alias_id: Option<i64>,
    pub source: String,
    pub message: String,
    pub details: serde_json::Value,
}

impl App {
    /// Newest first; `credential_id` keeps one credential's entries.
    pub async fn list_exceptions(
        &self,
        limit: i64,
        before_id: Option<i64>,
        credential_id: Option<i64>,
    ) -> AppResult<Vec<ExceptionView>> {
        let rows = self
            .store
            .list_exceptions(limit.clamp(1, 1000), before_id, credential_id)
            .await
            .app_err("exception")?;
        Ok(rows
            .into_iter()
            .map(|r| ExceptionView {
                id: r.id,
                at: iso_time(r.at),
                credential_id: r.credential_id,
                alias_id: r.alias_id,
                source: r.source,
                message: r.message,
                details: r.details,
            })
            .collect())
    }
}
