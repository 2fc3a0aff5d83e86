//! Request authentication for the API: `Authorization: Bearer <token>`, else 401 JSON.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use super::SharedApp;
use super::error::ApiError;

pub async fn require_token(State(app): State<SharedApp>, mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            let (scheme, rest) = v.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| rest.trim().to_string())
        });
    let Some(token) = token else {
        return ApiError::unauthorized().into_response();
    };
    match app.authenticate_token(&token).await {
        Ok(Some(principal)) => {
            req.extensions_mut().insert(principal);
            next.run(req).await
        }
        Ok(None) => ApiError::new(
            axum::http::StatusCode::UNAUTHORIZED,
            "unauthorized",
            "The API token is not valid or has been revoked.",
        )
        .into_response(),
        Err(e) => ApiError::from(e).into_response(),
    }
}
