//! The cloud service API (`/api/v1`) handlers, one module per resource.

pub mod activation;
pub mod admins;
pub mod api_key;
pub mod audit;
pub mod cluster;
pub mod legacy_session;
pub mod ops;
pub mod org_settings;
pub mod roles;
pub mod routes;
pub mod sandbox_tokens;
pub mod servers;
pub mod session;
