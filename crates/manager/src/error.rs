//! Errors as the API answers them: a status and a JSON [`ApiError`] body.

use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use groupcast_api::ApiError;
use serde::de::DeserializeOwned;

/// A failed request: what the client did wrong (4xx) or that the manager failed (5xx).
#[derive(Debug)]
pub(crate) struct ApiErr {
    /// The HTTP status.
    pub(crate) status: StatusCode,
    /// The message for a person (never a secret, never SQL).
    pub(crate) message: String,
    /// The database chose this transaction as a deadlock's or a serialization conflict's
    /// victim and rolled it back: running it again from the start may well succeed.
    pub(crate) retry: bool,
}

impl ApiErr {
    /// An error with this status and message.
    pub(crate) fn new(status: StatusCode, message: impl Into<String>) -> Self {
        ApiErr {
            status,
            message: message.into(),
            retry: false,
        }
    }

    /// 400.
    pub(crate) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    /// 404.
    pub(crate) fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, message)
    }

    /// 403.
    pub(crate) fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, message)
    }

    /// 409.
    pub(crate) fn conflict(message: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, message)
    }
}

impl From<sqlx::Error> for ApiErr {
    fn from(e: sqlx::Error) -> Self {
        if crate::db::is_conflict(&e) {
            // Two instances' transactions locked rows in different orders: transient.
            tracing::warn!("database conflict: {e}");
            let mut err = Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "the database was busy with a conflicting change; try again",
            );
            err.retry = true;
            return err;
        }
        tracing::error!("database error: {e}");
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal database error")
    }
}

impl IntoResponse for ApiErr {
    fn into_response(self) -> Response {
        let body = axum::Json(ApiError {
            error: self.message,
        });
        (self.status, body).into_response()
    }
}

/// A JSON body whose rejections are [`ApiErr`]s (JSON, with the reason), not plain text.
pub(crate) struct Body<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Body<T> {
    type Rejection = ApiErr;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Body(v)),
            Err(e) => Err(rejection(e)),
        }
    }
}

fn rejection(e: JsonRejection) -> ApiErr {
    ApiErr::new(e.status(), format!("bad request body: {}", e.body_text()))
}

/// True when a name is 1..=64 of `[A-Za-z0-9._-]` (users, channels, metros).
pub(crate) fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// Checks a name, or says which field is wrong and why.
pub(crate) fn check_name(what: &str, name: &str) -> Result<(), ApiErr> {
    if valid_name(name) {
        Ok(())
    } else {
        Err(ApiErr::bad(format!(
            "{what} must be 1 to 64 of A-Z a-z 0-9 . _ -"
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(valid_name("news-1.hd_x"));
        assert!(!valid_name(""));
        assert!(!valid_name("a b"));
        assert!(!valid_name(&"x".repeat(65)));
        assert!(!valid_name("é"));
    }
}
