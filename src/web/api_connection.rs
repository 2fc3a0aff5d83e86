//! Test Connection over HTTP: `POST /api/v1/connection-tests` (form values, password included)
//! and `POST /api/v1/credentials/{id}/connection-tests` (stored password, optional overrides).
//!
//! A finished test answers 200 whatever its outcome (`ok` says which); only a request that
//! cannot be tested (invalid fields, unknown credential) is an error. Must not log bodies.

use axum::extract::{FromRequest, Path, Request, State};
use axum::http::header::{CONTENT_LENGTH, CONTENT_TYPE};
use axum::{Extension, Json};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::SharedApp;
use super::error::{ApiError, ErrorBody};
use super::extract::{JsonBody, path_id};
use crate::app::{ConnectionOverrides, ConnectionTestView, Principal};
use crate::domain::RawCredential;

pub fn routes() -> OpenApiRouter<SharedApp> {
    OpenApiRouter::new()
        .routes(routes!(test_form_values))
        .routes(routes!(test_stored))
}

/// Test Connection on unsaved form values (password included)
///
/// 200 whatever the outcome: `ok` and `category` say how it went.
#[utoipa::path(post, path = "/connection-tests", tag = "credentials",
    operation_id = "test_connection",
    request_body = ref("#/components/schemas/ConnectionTestInput"),
    responses(
        (status = 200, description = "The test ran", body = ConnectionTestView),
        (status = 422, description = "Nothing to test: a field is missing, of the wrong \
            type, unknown or breaks a rule (`validation_failed`, with `field`, `rule` and every \
            broken rule in `details`). An OAuth app of the authorization_code flow has no token \
            before a sign-in: `field` `oauth_app_id`, `rule` `sign_in_required` (save the \
            credential and use Sign in first).", body = ErrorBody),
        (status = 429, description = "Too many tests: wait for Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ))]
async fn test_form_values(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    JsonBody(raw): JsonBody<RawCredential>,
) -> Result<Json<ConnectionTestView>, ApiError> {
    Ok(Json(app.test_connection(&who.actor, &raw).await?))
}

/// Test Connection on a stored credential
///
/// With no body (or `{}`, or `null`) the saved values and password are tested. Overrides are tested
/// instead of the saved values (not saved); a change of where the password goes needs the
/// password (422 `password_required`). 200 whatever the outcome.
#[utoipa::path(post, path = "/credentials/{id}/connection-tests", tag = "credentials",
    operation_id = "test_stored_credential",
    params(("id" = i64, Path, description = "The credential's id")),
    request_body = Option<ConnectionOverrides>,
    responses(
        (status = 200, description = "The test ran", body = ConnectionTestView),
        (status = 422, description = "Nothing to test: an override is of the wrong type, \
            unknown or breaks a rule (`validation_failed`, with `field`, `rule` and every broken \
            rule in `details`). Overrides that send the stored password elsewhere without a new \
            one: code `password_required`. An oauth2 credential tested with other values than its \
            sign-in was made for (OAuth app, host, port, security, login name or trust), unless \
            the app is of the client_credentials flow: `field` `oauth_app_id`, `rule` \
            `sign_in_required` (save and use Sign in first).", body = ErrorBody),
        (status = 429, description = "Too many tests: wait for Retry-After seconds", body = ErrorBody,
            headers(("Retry-After" = i64, description = "Seconds to wait"))),
    ))]
async fn test_stored(
    State(app): State<SharedApp>,
    Extension(who): Extension<Principal>,
    Path(id): Path<String>,
    request: Request,
) -> Result<Json<ConnectionTestView>, ApiError> {
    let id = path_id(&id, "Credential")?;
    // An empty body means "no overrides"; anything else must be a JSON object.
    let empty = request
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim() == "0")
        || (request.headers().get(CONTENT_LENGTH).is_none()
            && request.headers().get(CONTENT_TYPE).is_none());
    let overrides = if empty {
        ConnectionOverrides::default()
    } else {
        // `null` is "no overrides", as the document's `oneOf [overrides, null]` says.
        let JsonBody(o) =
            JsonBody::<Option<ConnectionOverrides>>::from_request(request, &app).await?;
        o.unwrap_or_default()
    };
    Ok(Json(
        app.test_stored_credential(&who.actor, id, &overrides)
            .await?,
    ))
}
