//! What every Tend service needs in the same way, written once: configuration loading,
//! telemetry, the gRPC server bootstrap (health, reflection, layers, auth, graceful shutdown),
//! callers and tenants, the mapping from errors to gRPC statuses, and ids and clocks.
//!
//! No domain logic lives here.

pub mod auth;
pub mod component;
pub mod config;
pub mod error;
pub mod fuzz;
pub mod http;
pub mod ids;
pub mod metrics;
pub mod names;
pub mod paging;
pub mod proto_json;
pub mod server;
pub mod shutdown;
pub mod status;
pub mod telemetry;
pub mod tls;
pub mod validate;

pub use auth::{AuthConfig, Caller, Role, TenantId};
pub use error::ApiError;
pub use server::{GrpcServer, ServerConfig};
pub use telemetry::TelemetryConfig;
