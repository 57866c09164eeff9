//! Follows `surveys.answered` (published by feedback): a low score whose survey template asks
//! for it (`LOW_SCORE_ACTION_REOPEN_CASE`) reopens the resolved case it was about, for the team
//! to follow up; the timeline says why, and `cases.events` carries the REOPENED change. Other
//! answers change nothing here. A case that is not resolved any more (reopened, closed, gone)
//! is left as it is, so a redelivered answer reopens nothing twice.

use async_trait::async_trait;
use tend_kernel::ApiError;
use tend_kernel::ids::Clock;
use tend_proto::v1;
use tend_store::events::streams;
use tend_store::{Effects, Event, EventHandler, HandleError};

use crate::domain::Status;
use crate::lifecycle::{Attempt, Change, apply_change};
use crate::timeline::Draft;

/// Who the reopening is recorded as.
const ACTOR: &str = "feedback";

/// Consumes `surveys.answered`.
pub struct LowScores {
    /// The clock changes are stamped on.
    pub clock: std::sync::Arc<dyn Clock>,
}

#[async_trait]
impl EventHandler for LowScores {
    type Payload = v1::SurveyAnswered;

    fn wants(&self, event: &Event<v1::SurveyAnswered>) -> bool {
        event.payload.low_score && event.payload.action() == v1::LowScoreAction::ReopenCase
    }

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::SurveyAnswered>],
    ) -> Result<(), HandleError> {
        let now = self.clock.now();
        for event in events.iter().filter(|event| self.wants(event)) {
            let answered = &event.payload;
            let reason = format!(
                "survey {} answered with a low score ({}): reopened to follow up",
                answered.survey_id, answered.score
            );
            let mut apply = |row: &mut crate::storage::case::Model, _: &crate::lifecycle::Seen| {
                if Status::parse(&row.status) != Some(Status::Resolved) {
                    return Ok(None);
                }
                let draft = Draft {
                    reason: reason.clone(),
                    moved: Some((Status::Resolved, Status::Reopened)),
                    ..Draft::of(v1::CaseTimelineKind::StatusChanged)
                };
                row.status = Status::Reopened.as_str().to_owned();
                row.resolved_at = None;
                row.resolution_note = None;
                Ok(Some(Change::new(v1::CaseEventKind::Reopened, draft)))
            };
            match apply_change(effects.db(), &event.tenant, ACTOR, &answered.case_id, 0, now, &mut apply).await {
                Ok(Attempt::Changed(changed)) => {
                    tracing::info!(case_id = %answered.case_id, survey_id = %answered.survey_id, "case reopened after a low survey score");
                    effects.publish(streams::CASES_EVENTS, event, changed.as_ref());
                }
                Ok(Attempt::Unchanged(_)) | Err(ApiError::NotFound { .. } | ApiError::InvalidArgument { .. }) => {}
                Ok(Attempt::Lost) => {
                    return Err(HandleError::Contended(format!("case {} changed meanwhile", answered.case_id)));
                }
                Err(error) => return Err(HandleError::retry(error)),
            }
        }
        Ok(())
    }
}
