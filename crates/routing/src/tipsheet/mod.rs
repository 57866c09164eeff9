//! The tip sheet: the desk's quick reference, assembled on each read from what is configured
//! now — the tenant's mission and quality standards, the rules in force, the monitored accounts
//! and their hours, the SLA policies and calendars, the escalation thresholds, the departments
//! (asked of cases) and the hot topics — so that it can never go stale.

pub mod storage;

use std::time::Duration;

use chrono::{DateTime, Utc};
use prost::Message as _;
use sea_orm::ConnectionTrait;
use tend_client::CaseClient;
use tend_kernel::names::ACCOUNT_CALENDAR_PREFIX;
use tend_kernel::{ApiError, TenantId};
use tend_proto::v1;
use tend_store::DbContext as _;

use crate::storage::config as stored;

/// Longest mission statement, in bytes.
pub const MAX_MISSION_BYTES: usize = 4_096;
/// Most quality standards.
pub const MAX_STANDARDS: usize = 50;
/// Longest quality standard, in bytes.
pub const MAX_STANDARD_BYTES: usize = 1_024;
/// How long the sheet waits for the cases service before leaving the departments out: a desk
/// tool would rather have the rest of the sheet now.
const DEPARTMENTS_TIMEOUT: Duration = Duration::from_secs(2);

/// Checks standards to save: trimmed, bounded, no empty standard.
pub fn checked_standards(given: v1::CareStandards, at: DateTime<Utc>) -> Result<v1::CareStandards, ApiError> {
    let mission = given.mission.trim().to_owned();
    if mission.len() > MAX_MISSION_BYTES {
        return Err(ApiError::invalid("standards.mission", format!("must be at most {MAX_MISSION_BYTES} bytes")));
    }
    if given.quality_standards.len() > MAX_STANDARDS {
        return Err(ApiError::invalid("standards.quality_standards", format!("at most {MAX_STANDARDS}")));
    }
    let mut quality_standards = Vec::with_capacity(given.quality_standards.len());
    for (index, standard) in given.quality_standards.iter().enumerate() {
        let standard = standard.trim();
        if standard.is_empty() || standard.len() > MAX_STANDARD_BYTES {
            return Err(ApiError::invalid(
                format!("standards.quality_standards[{index}]"),
                format!("must be 1 to {MAX_STANDARD_BYTES} bytes"),
            ));
        }
        quality_standards.push(standard.to_owned());
    }
    Ok(v1::CareStandards { mission, quality_standards, updated_at: Some(tend_kernel::ids::to_timestamp(at)) })
}

/// Where the sheet's sections come from besides routing's own tables.
pub struct Sources {
    /// The cases service, for the departments.
    pub cases: CaseClient,
    /// `trends.sla_percent`.
    pub hot_topic_sla_percent: u32,
}

/// Assembles the tenant's tip sheet as of `now`.
pub async fn assemble<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    sources: &Sources,
    now: DateTime<Utc>,
) -> Result<v1::TipSheet, ApiError> {
    let name = tenant.as_str();
    // Asked first so that the wait overlaps routing's own reads.
    let departments = tokio::spawn(departments(sources.cases.clone(), tenant.clone()));
    let standards = match storage::standards(conn, name).await.context("reading the care standards")? {
        Some(row) => Some(v1::CareStandards::decode(row.body.as_slice()).map_err(ApiError::internal)?),
        None => None,
    };
    let (rule_set_version, rules) = rules_in_force(conn, name).await?;
    // Accounts before calendars: an account and its hours are saved in one transaction, so an
    // account read is never missing hours saved with it.
    let account_rows = storage::accounts(conn, name).await.context("reading the accounts")?;
    let calendars = decoded_calendars(conn, name).await?;
    let accounts = account_rows
        .into_iter()
        .map(|row| {
            let hours = calendars.iter().find(|calendar| calendar.name == account_calendar(&row.account)).cloned();
            v1::MonitoredAccount {
                account: row.account,
                channel: row.channel,
                display_name: row.display_name,
                enabled: row.enabled,
                hours,
            }
        })
        .collect();
    let calendars =
        calendars.into_iter().filter(|calendar| !calendar.name.starts_with(ACCOUNT_CALENDAR_PREFIX)).collect();
    let mut sla_policies = Vec::new();
    for row in stored::sla_policies(conn, name).await.context("reading the SLA policies")? {
        sla_policies.push(v1::SlaPolicy::decode(row.body.as_slice()).map_err(ApiError::internal)?);
    }
    let thresholds = crate::trends::storage::thresholds(conn, name)
        .await
        .context("reading the escalation thresholds")?
        .into_iter()
        .map(crate::trends::threshold_to_proto)
        .collect();
    let hot_topics = crate::trends::list(conn, name, true).await?;
    let mut unavailable = Vec::new();
    let departments = match departments.await {
        Ok(Ok(departments)) => departments,
        Ok(Err(why)) => {
            tracing::warn!(tenant = name, %why, "tip sheet without departments");
            unavailable.push(format!("departments: {why}"));
            Vec::new()
        }
        Err(panicked) => return Err(ApiError::internal(panicked)),
    };
    Ok(v1::TipSheet {
        standards,
        rule_set_version,
        rules,
        accounts,
        sla_policies,
        calendars,
        hot_topic_sla_percent: sources.hot_topic_sla_percent,
        thresholds,
        departments,
        hot_topics,
        unavailable,
        generated_at: Some(tend_kernel::ids::to_timestamp(now)),
    })
}

/// The name of the calendar that holds `account`'s hours.
fn account_calendar(account: &str) -> String {
    format!("{ACCOUNT_CALENDAR_PREFIX}{account}")
}

/// The active rule set's version (0 for the built-in rules) and its rules, layer by layer.
async fn rules_in_force<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<(u32, Vec<v1::TipSheetRule>), ApiError> {
    let row = stored::tenant(conn, tenant).await.context("reading the tenant")?;
    let active = match row.active_version {
        Some(version) => stored::rule_set(conn, tenant, version).await.context("reading the active rule set")?,
        None => None,
    };
    let (version, spec) = match active {
        Some(row) => (
            u32::try_from(row.version).unwrap_or(0),
            v1::RuleSet::decode(row.body.as_slice()).map_err(ApiError::internal)?,
        ),
        None => (0, crate::rules::builtin_spec()),
    };
    let mut rules = spec.rules;
    // Stable: within a layer, the set's order, which is the evaluation order.
    rules.sort_by_key(|rule| rule.layer);
    let rules = rules
        .into_iter()
        .map(|rule| v1::TipSheetRule {
            summary: summary(&rule),
            name: rule.name,
            layer: rule.layer,
            description: rule.description,
        })
        .collect();
    Ok((version, rules))
}

/// Every stored calendar of the tenant (accounts' hours included), by name.
async fn decoded_calendars<C: ConnectionTrait>(conn: &C, tenant: &str) -> Result<Vec<v1::Calendar>, ApiError> {
    let rows = stored::calendars(conn, tenant).await.context("reading the calendars")?;
    rows.iter().map(|row| v1::Calendar::decode(row.body.as_slice()).map_err(ApiError::internal)).collect()
}

/// The tenant's departments that take escalations, from the cases service, or why not.
async fn departments(cases: CaseClient, tenant: TenantId) -> Result<Vec<v1::TipSheetDepartment>, String> {
    let asked =
        tokio::time::timeout(DEPARTMENTS_TIMEOUT, cases.list_departments(&tenant, v1::ListDepartmentsRequest {}));
    let listed = match asked.await {
        Ok(Ok(listed)) => listed,
        Ok(Err(status)) => return Err(format!("the cases service answered {:?}: {}", status.code(), status.message())),
        Err(_) => return Err(format!("the cases service did not answer within {DEPARTMENTS_TIMEOUT:?}")),
    };
    Ok(listed
        .departments
        .into_iter()
        .filter(|department| !department.disabled)
        .map(|department| v1::TipSheetDepartment {
            name: department.name,
            display_name: department.display_name,
            contact: department.contact,
            answer_within_seconds: department.answer_within_seconds,
        })
        .collect())
}

/// A rule in one line: its condition, then what it does.
pub fn summary(rule: &v1::Rule) -> String {
    let mut actions = Vec::new();
    if let Some(then) = &rule.then {
        if !then.department.is_empty() {
            actions.push(format!("department {}", then.department));
        }
        if !then.queue.is_empty() {
            actions.push(format!("queue {}", then.queue));
        }
        if then.priority_adjustment != 0 {
            let reason = if then.priority_reason.is_empty() { &rule.name } else { &then.priority_reason };
            actions.push(format!("{:+} priority ({reason})", then.priority_adjustment));
        }
        if !then.sla_policy.is_empty() {
            actions.push(format!("SLA {}", then.sla_policy));
        }
        for skill in &then.skills {
            actions.push(format!("skill {} ≥ {}", skill.skill, skill.level.max(1)));
        }
        if !then.language.is_empty() {
            actions.push(format!("speaks {}", then.language));
        }
        if !then.tags.is_empty() {
            actions.push(format!("tags {}", then.tags.join(", ")));
        }
        match then.actionable {
            Some(false) => actions.push("not actionable".to_owned()),
            Some(true) => actions.push("actionable".to_owned()),
            None => {}
        }
    }
    if rule.stop {
        actions.push("stop".to_owned());
    }
    let does = if actions.is_empty() { "nothing".to_owned() } else { actions.join(", ") };
    format!("when {} → {does}", rule.when.split_whitespace().collect::<Vec<_>>().join(" "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rule_reads_in_one_line() {
        let rule = v1::Rule {
            name: "vip".into(),
            layer: v1::RuleLayer::Segment.into(),
            when: "customer.segment ==\n  'vip'".into(),
            then: Some(v1::RuleActions {
                priority_adjustment: 20,
                queue: "vip".into(),
                sla_policy: "vip-2h".into(),
                skills: vec![v1::SkillRequirement { skill: "billing".into(), level: 0 }],
                ..v1::RuleActions::default()
            }),
            stop: true,
            description: String::new(),
        };
        assert_eq!(
            summary(&rule),
            "when customer.segment == 'vip' → queue vip, +20 priority (vip), SLA vip-2h, skill billing ≥ 1, stop"
        );
        let nothing = v1::Rule { when: "true".into(), ..v1::Rule::default() };
        assert_eq!(summary(&nothing), "when true → nothing");
    }

    #[test]
    fn standards_are_trimmed_and_bounded() {
        let at = tend_kernel::ids::now();
        let given = v1::CareStandards {
            mission: "  Help fast.  ".into(),
            quality_standards: vec![" Be kind ".into()],
            updated_at: None,
        };
        let checked = checked_standards(given, at).unwrap();
        assert_eq!(checked.mission, "Help fast.");
        assert_eq!(checked.quality_standards, ["Be kind"]);
        let empty = v1::CareStandards { quality_standards: vec!["  ".into()], ..v1::CareStandards::default() };
        let error = checked_standards(empty, at).unwrap_err();
        assert!(error.to_string().contains("quality_standards[0]"), "{error}");
        let long = v1::CareStandards { mission: "x".repeat(MAX_MISSION_BYTES + 1), ..v1::CareStandards::default() };
        assert!(checked_standards(long, at).is_err());
    }
}
