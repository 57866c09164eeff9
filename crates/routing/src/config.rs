//! A tenant's routing configuration as the consumer uses it: the active rule set compiled, the
//! SLA policies and calendars checked; and the conversions from the contract's messages, which
//! the API uses to validate what it saves.
//!
//! [`Configs`] keeps each tenant's configuration in memory and reloads it when the tenant's
//! generation (bumped in the transaction of every change) moves: one small read per batch, and
//! a batch after an activation's commit always sees the new version, on every replica.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use chrono::{DateTime, TimeDelta, Utc};
use prost::Message as _;
use sea_orm::ConnectionTrait;
use tend_calendar::Calendar;
use tend_kernel::ids::to_timestamp;
use tend_kernel::names::{ACCOUNT_CALENDAR, ACCOUNT_CALENDAR_PREFIX};
use tend_proto::v1;
use tend_store::DbContext as _;

use crate::rules::{self, RuleSet, check_name};
use crate::sla::{DEFAULT_WARN_AT_PERCENT, MAX_TARGET, SlaPolicy};
use crate::storage::config as stored;

/// What routing decides with for one tenant.
#[derive(Debug, Clone)]
pub struct TenantRouting {
    /// The generation it was loaded at.
    pub generation: i64,
    /// The active rule set (the built-in one when none is active).
    pub rules: RuleSet,
    /// The SLA policies, by name.
    pub policies: Vec<SlaPolicy>,
    /// The calendars, by name.
    pub calendars: HashMap<String, Calendar>,
}

impl TenantRouting {
    /// Loads the tenant's configuration as of generation `generation`. A stored item that no
    /// longer reads (written by a version of Tend with other rules) is left out and logged:
    /// routing goes on with the rest rather than stopping.
    pub async fn load<C: ConnectionTrait>(
        conn: &C,
        tenant: &str,
        generation: i64,
        active: Option<i32>,
    ) -> Result<Self, tend_store::Error> {
        let rules = match active {
            Some(version) => {
                match stored::rule_set(conn, tenant, version).await.context("reading the active rule set")? {
                    Some(row) => compile_stored(tenant, &row),
                    None => rules::builtin(),
                }
            }
            None => rules::builtin(),
        };
        let mut policies = Vec::new();
        for row in stored::sla_policies(conn, tenant).await.context("reading SLA policies")? {
            match v1::SlaPolicy::decode(row.body.as_slice())
                .map_err(|error| error.to_string())
                .and_then(|policy| sla_policy(&policy).map_err(|(field, message)| format!("{field}: {message}")))
            {
                Ok(policy) => policies.push(policy),
                Err(error) => {
                    tracing::error!(tenant, policy = %row.name, %error, "a stored SLA policy does not read; left out")
                }
            }
        }
        let mut calendars = HashMap::new();
        for row in stored::calendars(conn, tenant).await.context("reading calendars")? {
            match v1::Calendar::decode(row.body.as_slice())
                .map_err(|error| error.to_string())
                // Its name was checked when it was saved (accounts' hours have reserved names).
                .and_then(|proto| {
                    tend_calendar::contract::from_contract(&proto)
                        .map_err(|(field, message)| format!("{field}: {message}"))
                }) {
                Ok(calendar) => {
                    calendars.insert(row.name, calendar);
                }
                Err(error) => {
                    tracing::error!(tenant, calendar = %row.name, %error, "a stored calendar does not read; left out")
                }
            }
        }
        Ok(TenantRouting { generation, rules, policies, calendars })
    }

    /// The calendar a policy counts on for a post that came in on `account`: its own; the
    /// account's hours when it names [`ACCOUNT_CALENDAR`]; around the clock when it names none
    /// (or one that is gone, which saving a policy prevents), or the account has no hours.
    pub fn calendar_of(&self, policy: &SlaPolicy, account: &str) -> &Calendar {
        static ALWAYS: std::sync::OnceLock<Calendar> = std::sync::OnceLock::new();
        let found = match policy.calendar.as_deref() {
            Some(ACCOUNT_CALENDAR) if !account.is_empty() => {
                self.calendars.get(&format!("{ACCOUNT_CALENDAR_PREFIX}{account}"))
            }
            Some(name) => self.calendars.get(name),
            None => None,
        };
        found.unwrap_or_else(|| ALWAYS.get_or_init(Calendar::always))
    }
}

fn compile_stored(tenant: &str, row: &stored::rule_set::Model) -> RuleSet {
    let version = u32::try_from(row.version).unwrap_or(0);
    let compiled = v1::RuleSet::decode(row.body.as_slice())
        .map_err(|error| error.to_string())
        .and_then(|spec| RuleSet::compile(version, &spec).map_err(|problems| format!("{problems:?}")));
    compiled.unwrap_or_else(|error| {
        tracing::error!(tenant, version, %error, "the active rule set no longer compiles; the built-in rules apply");
        rules::builtin()
    })
}

/// Each tenant's configuration, reloaded when its generation moves.
#[derive(Debug, Default)]
pub struct Configs {
    tenants: Mutex<HashMap<String, Arc<TenantRouting>>>,
}

impl Configs {
    /// The tenant's current configuration, read in `conn` (the batch's transaction).
    pub async fn current<C: ConnectionTrait>(
        &self,
        conn: &C,
        tenant: &str,
    ) -> Result<Arc<TenantRouting>, tend_store::Error> {
        let row = stored::tenant(conn, tenant).await.context("reading the tenant's configuration")?;
        if let Some(held) = self.held(tenant)
            && held.generation == row.generation
        {
            return Ok(held);
        }
        let loaded = Arc::new(TenantRouting::load(conn, tenant, row.generation, row.active_version).await?);
        tracing::info!(
            tenant,
            generation = row.generation,
            rule_set_version = loaded.rules.version,
            "routing configuration loaded"
        );
        self.tenants
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .insert(tenant.to_owned(), loaded.clone());
        Ok(loaded)
    }

    fn held(&self, tenant: &str) -> Option<Arc<TenantRouting>> {
        self.tenants.lock().unwrap_or_else(std::sync::PoisonError::into_inner).get(tenant).cloned()
    }
}

/// A field and what is wrong with it.
pub use tend_calendar::contract::FieldError;

fn duration(field: &'static str, value: Option<&prost_types::Duration>) -> Result<Option<TimeDelta>, FieldError> {
    let Some(value) = value else { return Ok(None) };
    let delta = TimeDelta::new(value.seconds, u32::try_from(value.nanos).unwrap_or(u32::MAX))
        .filter(|delta| *delta > TimeDelta::zero() && *delta <= MAX_TARGET)
        .ok_or((field, format!("must be more than 0 and at most {} days", MAX_TARGET.num_days())))?;
    Ok(Some(delta))
}

/// Checks an SLA policy of the contract.
pub fn sla_policy(policy: &v1::SlaPolicy) -> Result<SlaPolicy, FieldError> {
    check_name(&policy.name).map_err(|message| ("policy.name", message))?;
    for channel in &policy.channels {
        if v1::Channel::try_from(*channel).unwrap_or_default() == v1::Channel::Unspecified {
            return Err(("policy.channels", format!("{channel} is not a channel")));
        }
    }
    if policy.segments.len() > 100 || policy.segments.iter().any(|segment| segment.is_empty() || segment.len() > 64) {
        return Err(("policy.segments", "at most 100 segments of 1 to 64 bytes".into()));
    }
    if !policy.calendar.is_empty() {
        check_name(&policy.calendar).map_err(|message| ("policy.calendar", message))?;
    }
    let first_response = duration("policy.first_response", policy.first_response.as_ref())?
        .ok_or(("policy.first_response", "required: the first-response target, e.g. 1h".to_owned()))?;
    if policy.warn_at_percent > 99 {
        return Err(("policy.warn_at_percent", format!("{} is above 99", policy.warn_at_percent)));
    }
    Ok(SlaPolicy {
        name: policy.name.clone(),
        channels: policy.channels.clone(),
        segments: policy.segments.clone(),
        calendar: (!policy.calendar.is_empty()).then(|| policy.calendar.clone()),
        first_response,
        next_response: duration("policy.next_response", policy.next_response.as_ref())?,
        resolution: duration("policy.resolution", policy.resolution.as_ref())?,
        warn_at_percent: if policy.warn_at_percent == 0 { DEFAULT_WARN_AT_PERCENT } else { policy.warn_at_percent },
    })
}

/// A calendar in the contract's terms.
pub fn calendar_to_proto(name: &str, calendar: &Calendar, updated_at: Option<DateTime<Utc>>) -> v1::Calendar {
    tend_calendar::contract::to_contract(name, calendar, updated_at.map(to_timestamp))
}

/// Checks a calendar of the contract.
pub fn calendar(proto: &v1::Calendar) -> Result<Calendar, FieldError> {
    check_name(&proto.name).map_err(|message| ("calendar.name", message))?;
    if proto.name == ACCOUNT_CALENDAR || proto.name.starts_with(ACCOUNT_CALENDAR_PREFIX) {
        return Err((
            "calendar.name",
            format!(
                "{ACCOUNT_CALENDAR:?} and names starting {ACCOUNT_CALENDAR_PREFIX:?} are the accounts' hours, set on each account"
            ),
        ));
    }
    tend_calendar::contract::from_contract(proto)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn period(weekday: &str, start: &str, end: &str) -> v1::WorkingPeriod {
        v1::WorkingPeriod { weekday: weekday.into(), start: start.into(), end: end.into() }
    }

    #[test]
    fn a_calendar_of_the_contract_round_trips_and_bad_periods_are_named() {
        let proto = v1::Calendar {
            name: "uk".into(),
            time_zone: "Europe/London".into(),
            periods: vec![
                period("mon", "09:00", "12:00"),
                period("mon", "13:00", "17:30"),
                period("sat", "10:00", "24:00"),
            ],
            holidays: vec![v1::Holiday { date: "2026-12-25".into(), name: "Christmas Day".into() }],
            updated_at: None,
        };
        let checked = calendar(&proto).unwrap();
        assert_eq!(calendar_to_proto("uk", &checked, None), proto);

        let padded = v1::Calendar {
            periods: vec![period("tue", &format!("09:00{}", " ".repeat(40)), "17:00")],
            ..proto.clone()
        };
        let (field, message) = calendar(&padded).unwrap_err();
        assert_eq!(field, "calendar.periods");
        assert!(message.contains("HH:MM"), "{message}");
        let (_, message) =
            calendar(&v1::Calendar { periods: vec![period("funday", "09:00", "17:00")], ..proto.clone() }).unwrap_err();
        assert!(message.contains("funday"), "{message}");
        let (_, message) =
            calendar(&v1::Calendar { periods: vec![period("wed", "17:00", "09:00")], ..proto }).unwrap_err();
        assert!(message.contains("wed"), "{message}");
    }

    #[test]
    fn an_sla_policy_names_the_field_to_fix() {
        let hour = Some(prost_types::Duration { seconds: 3600, nanos: 0 });
        let policy = v1::SlaPolicy { name: "social".into(), first_response: hour, ..v1::SlaPolicy::default() };
        assert_eq!(sla_policy(&policy).unwrap().warn_at_percent, 80);
        let no_target = v1::SlaPolicy { first_response: None, ..policy.clone() };
        assert_eq!(sla_policy(&no_target).unwrap_err().0, "policy.first_response");
        let zero = v1::SlaPolicy { resolution: Some(prost_types::Duration::default()), ..policy.clone() };
        assert_eq!(sla_policy(&zero).unwrap_err().0, "policy.resolution");
        let warn = v1::SlaPolicy { warn_at_percent: 100, ..policy.clone() };
        assert_eq!(sla_policy(&warn).unwrap_err().0, "policy.warn_at_percent");
        let channel = v1::SlaPolicy { channels: vec![99], ..policy };
        assert_eq!(sla_policy(&channel).unwrap_err().0, "policy.channels");
    }
}
