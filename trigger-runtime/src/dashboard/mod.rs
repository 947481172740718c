//! The dashboard at `/`: server-rendered HTML of the endpoints, jobs, runs and events, guarded
//! like the API.

use std::sync::Arc;

use axum::Router;

use crate::server::AppState;

/// The dashboard's routes, merged into the server's router.
pub(crate) fn router(_state: Arc<AppState>) -> Router<Arc<AppState>> {
    Router::new()
}
