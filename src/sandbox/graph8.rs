use super::Core;
use super::limits::Keyring;
use axum::Router;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use std::sync::Arc;
pub(crate) struct State {
    pub(crate) keys: Keyring,
}
impl State {
    pub(crate) fn new(_u: &super::Universe, _c: &super::config::Graph8Config) -> Self {
        Self {
            keys: Keyring::new(),
        }
    }
    pub(crate) fn reset(&self, _u: &super::Universe, _c: &super::config::Graph8Config) {}
}
pub(crate) fn routes(_core: &Arc<Core>) -> Router<Arc<Core>> {
    Router::new()
}
pub(crate) fn error(status: StatusCode, message: &str) -> Response {
    (status, message.to_string()).into_response()
}
impl State {
    pub(crate) fn rebuild_keys(&self, _c: &super::config::Graph8Config, _carry: bool) {}
}
