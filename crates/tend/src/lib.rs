//! The `tend` binary's library half: configuration and the wiring of services, shared by the
//! binary and by end-to-end tests.

pub mod app;
pub mod config;

pub use app::ServiceName;
pub use config::TendConfig;
