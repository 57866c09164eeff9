//! Subject access (`ExportSubjectData`): the records cases keeps on a person's cases.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use sea_orm::{ColumnTrait, ConnectionTrait, DbErr, EntityTrait, QueryFilter, QueryOrder};
use tend_client::export;
use tend_kernel::proto_json::Value;

use crate::departments::{self, escalation};
use crate::promises::{self, promise};
use crate::replies::{self, reply};
use crate::timeline::{self, entry};

/// What cases keeps on some cases besides the cases themselves, as JSON records by case id.
#[derive(Default)]
pub struct CaseRecords {
    /// Timeline entries (interactions, notes, changes), oldest first.
    pub timeline: HashMap<String, Vec<Value>>,
    /// Replies sent or queued.
    pub replies: HashMap<String, Vec<Value>>,
    /// Follow-up promises.
    pub promises: HashMap<String, Vec<Value>>,
    /// Department escalations.
    pub escalations: HashMap<String, Vec<Value>>,
}

/// The timeline entries, replies, promises and escalations of `case_ids` in `tenant`, read in
/// one query per table; escalations' time in department counted up to `now`.
pub async fn records_of<C: ConnectionTrait>(
    conn: &C,
    tenant: &str,
    case_ids: &[&str],
    now: DateTime<Utc>,
) -> Result<CaseRecords, DbErr> {
    let mut records = CaseRecords::default();
    if case_ids.is_empty() {
        return Ok(records);
    }
    let ids = || case_ids.iter().copied();
    for row in entry::Entity::find()
        .filter(entry::Column::Tenant.eq(tenant))
        .filter(entry::Column::CaseId.is_in(ids()))
        .order_by_asc(entry::Column::Id)
        .all(conn)
        .await?
    {
        let case_id = row.case_id.clone();
        records
            .timeline
            .entry(case_id)
            .or_default()
            .push(export::record("CaseTimelineEntry", &timeline::to_proto(row)));
    }
    for row in reply::Entity::find()
        .filter(reply::Column::Tenant.eq(tenant))
        .filter(reply::Column::CaseId.is_in(ids()))
        .all(conn)
        .await?
    {
        let case_id = row.case_id.clone();
        records.replies.entry(case_id).or_default().push(export::record("CaseReply", &replies::to_proto(row)));
    }
    for row in promise::Entity::find()
        .filter(promise::Column::Tenant.eq(tenant))
        .filter(promise::Column::CaseId.is_in(ids()))
        .order_by_asc(promise::Column::Id)
        .all(conn)
        .await?
    {
        let case_id = row.case_id.clone();
        records.promises.entry(case_id).or_default().push(export::record("Promise", &promises::to_proto(row)));
    }
    for row in escalation::Entity::find()
        .filter(escalation::Column::Tenant.eq(tenant))
        .filter(escalation::Column::CaseId.is_in(ids()))
        .order_by_asc(escalation::Column::Id)
        .all(conn)
        .await?
    {
        let case_id = row.case_id.clone();
        let escalation = departments::escalation_to_proto(row, now);
        records.escalations.entry(case_id).or_default().push(export::record("Escalation", &escalation));
    }
    Ok(records)
}
