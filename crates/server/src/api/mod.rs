//! The cloud service API (`/api/v1`) handlers, one module per resource.

pub mod admins;
pub mod audit;
pub mod cluster;
pub mod ops;
pub mod roles;
pub mod routes;
pub mod servers;
pub mod session;
