//! Request rates per credential and per tenant, so that one runaway client (a retry loop, a
//! leaked key) cannot take the service from everyone else.
//!
//! Each limit is a GCRA bucket (`governor`): a sustained rate and a burst above it. A request
//! over either limit is refused with RESOURCE_EXHAUSTED before it reaches a handler, saying
//! when to retry (also as `retry-after-ms` metadata). Tend's own services (role `service`) are
//! not limited: they carry work the limits already admitted.

use std::num::NonZeroU32;

use governor::clock::{Clock as _, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota};
use serde::{Deserialize, Serialize};
use tonic::Status;

use super::{Caller, Role};
use crate::config::ConfigError;

/// `[auth.rate_limits]`: requests per second per credential and per tenant.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct RateLimitConfig {
    /// Requests per second one credential (an API key by its name, a JWT by its subject) may
    /// make, sustained; 0: no limit.
    pub per_key: u32,
    /// Requests one credential may make at once above that rate.
    pub per_key_burst: u32,
    /// Requests per second all of a tenant's callers together may make; 0: no limit.
    pub per_tenant: u32,
    /// Requests a tenant's callers may make at once above that rate.
    pub per_tenant_burst: u32,
}

impl Default for RateLimitConfig {
    /// Generous enough for a care team's worst day through one integration (a batch call
    /// carries up to 500 posts), low enough that a client stuck in a loop is stopped.
    fn default() -> Self {
        Self { per_key: 2_000, per_key_burst: 4_000, per_tenant: 10_000, per_tenant_burst: 20_000 }
    }
}

impl RateLimitConfig {
    /// Checks that every limit that is on has a burst of at least one request.
    pub fn check(&self) -> Result<(), ConfigError> {
        for (rate, burst, field) in [
            (self.per_key, self.per_key_burst, "auth.rate_limits.per_key_burst"),
            (self.per_tenant, self.per_tenant_burst, "auth.rate_limits.per_tenant_burst"),
        ] {
            if rate > 0 && burst == 0 {
                return Err(ConfigError::invalid(field, "must be at least 1 when its rate is on"));
            }
        }
        Ok(())
    }
}

/// The buckets of every credential and tenant seen.
#[derive(Debug)]
pub(super) struct RateLimits {
    per_key: Option<DefaultKeyedRateLimiter<String>>,
    per_tenant: Option<DefaultKeyedRateLimiter<String>>,
}

impl RateLimits {
    /// Buckets as configured (checked already).
    pub fn new(config: &RateLimitConfig) -> Self {
        let limiter = |rate: u32, burst: u32| {
            let rate = NonZeroU32::new(rate)?;
            let burst = NonZeroU32::new(burst).unwrap_or(rate);
            Some(DefaultKeyedRateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)))
        };
        Self {
            per_key: limiter(config.per_key, config.per_key_burst),
            per_tenant: limiter(config.per_tenant, config.per_tenant_burst),
        }
    }

    /// Takes one request of `caller` from its buckets, or says when to retry.
    pub fn admit(&self, caller: &Caller) -> Result<(), Status> {
        if caller.role == Role::Service {
            return Ok(());
        }
        let checks = [
            (&self.per_key, caller.actor.as_str(), "this credential"),
            (&self.per_tenant, caller.tenant.as_str(), "this tenant"),
        ];
        for (limiter, key, whose) in checks {
            let Some(limiter) = limiter else { continue };
            if let Err(not_until) = limiter.check_key(&key.to_owned()) {
                let wait = not_until.wait_time_from(DefaultClock::default().now());
                let wait_ms = wait.as_millis().max(1);
                let mut status = Status::resource_exhausted(format!(
                    "rate limit of {whose} reached; retry in {wait_ms} ms (auth.rate_limits)"
                ));
                if let Ok(value) = wait_ms.to_string().parse() {
                    status.metadata_mut().insert("retry-after-ms", value);
                }
                return Err(status);
            }
        }
        Ok(())
    }

    /// Forgets buckets that are full again, so that the maps do not grow with every
    /// credential ever seen.
    pub fn forget_idle(&self) {
        for limiter in [&self.per_key, &self.per_tenant].into_iter().flatten() {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TenantId;

    fn caller(tenant: &str, actor: &str, role: Role) -> Caller {
        Caller { tenant: TenantId::parse(tenant).unwrap(), role, actor: actor.to_owned(), agent: None }
    }

    #[test]
    fn a_credential_over_its_burst_waits_and_others_do_not() {
        let limits =
            RateLimits::new(&RateLimitConfig { per_key: 1, per_key_burst: 3, per_tenant: 0, per_tenant_burst: 0 });
        let ana = caller("acme", "ana", Role::Agent);
        for _ in 0..3 {
            limits.admit(&ana).unwrap();
        }
        let status = limits.admit(&ana).unwrap_err();
        assert_eq!(status.code(), tonic::Code::ResourceExhausted);
        assert!(status.message().contains("retry in"), "{}", status.message());
        let wait: u64 = status.metadata().get("retry-after-ms").unwrap().to_str().unwrap().parse().unwrap();
        assert!((1..=1_000).contains(&wait), "{wait}");
        limits.admit(&caller("acme", "bo", Role::Agent)).unwrap();
        limits.admit(&caller("acme", "ana", Role::Service)).unwrap();
    }

    #[test]
    fn a_tenant_shares_one_bucket() {
        let limits =
            RateLimits::new(&RateLimitConfig { per_key: 0, per_key_burst: 0, per_tenant: 1, per_tenant_burst: 2 });
        limits.admit(&caller("acme", "ana", Role::Agent)).unwrap();
        limits.admit(&caller("acme", "bo", Role::Agent)).unwrap();
        assert!(limits.admit(&caller("acme", "cy", Role::Agent)).is_err());
        limits.admit(&caller("globex", "ana", Role::Agent)).unwrap();
    }
}
