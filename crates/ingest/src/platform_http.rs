//! The HTTP client every call to a platform API uses (replies, polls, lookups).

use std::time::Duration;

/// A client whose calls and connections time out after `timeout`, that follows no redirect (a
/// platform API never needs one; following one could carry a token elsewhere) and names Tend
/// as its user agent.
pub fn platform_client(timeout: Duration) -> Result<reqwest::Client, reqwest::Error> {
    reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent(concat!("tend/", env!("CARGO_PKG_VERSION")))
        .build()
}
