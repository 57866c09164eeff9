//! Posts that change after they were taken in: an edit (`interactions.updated`) or a deletion
//! on the channel (`interactions.deleted`) goes on the timeline of the case that holds the post,
//! and out on `cases.events`, so the agent answers what the customer says now. The case itself
//! does not change (no new version).

use async_trait::async_trait;
use sea_orm::ConnectionTrait;
use tend_kernel::TenantId;
use tend_kernel::ids::Clock;
use tend_proto::v1;
use tend_store::events::streams;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};

use crate::lifecycle::with_interactions;
use crate::storage;
use crate::timeline::{self, Draft};

/// Longest edited text kept on a timeline entry, in bytes (the interaction keeps it whole).
const MAX_EDIT_TEXT: usize = 16 * 1024;

/// The entry and event for a change of post `interaction_id` on the case holding it; `None`
/// when no case holds it (not actionable, or not routed yet).
async fn record<C: ConnectionTrait>(
    conn: &C,
    tenant: &TenantId,
    interaction_id: &str,
    draft: Draft,
    kind: v1::CaseEventKind,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<Option<v1::CaseEvent>, HandleError> {
    let held = storage::cases_holding(conn, tenant.as_str(), &[interaction_id]).await.context("finding the case")?;
    let Some(case_id) = held.get(interaction_id) else { return Ok(None) };
    let Some(row) = storage::find(conn, tenant.as_str(), case_id).await.context("reading the case")? else {
        return Ok(None);
    };
    let entry = timeline::insert(conn, draft.into_row(tenant.as_str(), case_id, "ingest", now, 0))
        .await
        .context("recording the post's change")?;
    let case = with_interactions(conn, tenant, row).await.map_err(HandleError::retry)?;
    Ok(Some(v1::CaseEvent {
        kind: kind.into(),
        case: Some(case),
        entry: Some(timeline::to_proto(entry)),
        ..Default::default()
    }))
}

/// The text of an edit as the timeline keeps it: cut on a character boundary.
fn kept_text(text: &str) -> String {
    if text.len() <= MAX_EDIT_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_EDIT_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &text[..end])
}

/// Consumes `interactions.updated`: an edited post shows on its case.
pub struct Edited {
    /// The clock entries are stamped on.
    pub clock: std::sync::Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for Edited {
    type Payload = v1::InteractionUpdated;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::InteractionUpdated>],
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        for event in events {
            let Some(interaction) = &event.payload.interaction else {
                return Err(HandleError::poison(event, "an InteractionUpdated without its interaction"));
            };
            let draft = Draft {
                interaction_id: interaction.id.clone(),
                text: kept_text(&interaction.text),
                reason: "edited on the channel".to_owned(),
                ..Draft::of(v1::CaseTimelineKind::InteractionEdited)
            };
            let kind = v1::CaseEventKind::InteractionEdited;
            if let Some(changed) = record(effects.db(), &event.tenant, &interaction.id, draft, kind, now).await? {
                effects.publish(streams::CASES_EVENTS, event, &changed);
            }
        }
        Ok(())
    }
}

/// Consumes `interactions.deleted`: a post deleted on its channel shows on its case.
pub struct Deleted {
    /// The clock entries are stamped on.
    pub clock: std::sync::Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for Deleted {
    type Payload = v1::InteractionDeleted;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::InteractionDeleted>],
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        for event in events {
            let interaction_id = &event.payload.interaction_id;
            let draft = Draft {
                interaction_id: interaction_id.clone(),
                reason: "deleted on the channel by its author".to_owned(),
                ..Draft::of(v1::CaseTimelineKind::InteractionDeleted)
            };
            let kind = v1::CaseEventKind::InteractionDeleted;
            if let Some(changed) = record(effects.db(), &event.tenant, interaction_id, draft, kind, now).await? {
                effects.publish(streams::CASES_EVENTS, event, &changed);
            }
        }
        Ok(())
    }
}
