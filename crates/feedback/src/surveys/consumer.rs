//! Sends a survey for each resolved case that a template asks about (consumer group
//! `feedback-surveys` on `cases.events`).

use std::collections::HashMap;

use async_trait::async_trait;
use tend_kernel::ids::new_id;
use tend_proto::v1;
use tend_store::events::streams;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};

use super::storage::{self, survey, template};
use super::token::Purpose;
use super::{Surveys, fits, pick_texts, tagged, texts_of};

/// The consumer group (and inbox name) of the survey sender.
pub const GROUP: &str = "feedback-surveys";

/// The stream `SurveyAnswered` is published on.
pub const SURVEYS_ANSWERED: &str = streams::SURVEYS_ANSWERED;

/// The reply id of a survey's invitation.
pub fn reply_id(survey_id: &str) -> String {
    format!("survey.{survey_id}")
}

/// Who the invitations are requested by, in ingest's delivery log.
const REQUESTED_BY: &str = "feedback";

/// For each `RESOLVED` case event: the first enabled template of the tenant (by name) that fits
/// the case's channel and segment sends one survey, unless the case has one already, the case
/// is in an incident and the template waits for those, the person opted out, or they were
/// surveyed within the template's frequency cap. The survey row, the cap's slot and the
/// invitation (`replies.requested`) are written in the batch's transaction: all or none.
///
/// Idempotent: the inbox drops a redelivered event, and a case has at most one survey (a unique
/// key), so a replayed resolution, or the case resolved again after a reopening, sends nothing
/// more.
pub struct SendSurveys {
    /// Links, clock and settings.
    pub surveys: Surveys,
}

/// Why a resolved case got no survey (for the debug log; ids only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Skipped {
    /// No enabled template fits its channel and segment.
    NoTemplate,
    /// It is a member of an incident and the template waits for those.
    InIncident,
    /// Neither a customer nor a profile to send to, or no interaction to answer.
    NoRecipient,
    /// The person opted out.
    OptedOut,
    /// The case was surveyed already.
    AlreadySurveyed,
    /// The person was surveyed within the frequency cap.
    Capped,
}

#[async_trait]
impl EventHandler for SendSurveys {
    type Payload = v1::CaseEvent;

    fn wants(&self, event: &Event<v1::CaseEvent>) -> bool {
        event.payload.kind() == v1::CaseEventKind::Resolved
    }

    async fn handle(&self, effects: &mut Effects<'_>, events: &[&Event<v1::CaseEvent>]) -> Result<(), HandleError> {
        let mut templates: HashMap<String, Vec<template::Model>> = HashMap::new();
        let mut sent = 0;
        for event in events {
            if !self.wants(event) {
                continue;
            }
            let tenant = event.tenant.as_str();
            if !templates.contains_key(tenant) {
                let rows = storage::templates(effects.db(), tenant).await.context("reading survey templates")?;
                templates.insert(tenant.to_owned(), rows);
            }
            let tenant_templates = templates.get(tenant).map(Vec::as_slice).unwrap_or_default();
            match self.survey(effects, event, tenant_templates).await? {
                Ok(()) => sent += 1,
                Err(skipped) => {
                    let case_id = event.payload.case.as_ref().map(|case| case.id.as_str()).unwrap_or_default();
                    tracing::debug!(case_id, ?skipped, "no survey for the resolved case");
                }
            }
        }
        if sent > 0 {
            tracing::info!(sent, "survey invitations requested");
        }
        Ok(())
    }
}

impl SendSurveys {
    /// Surveys the case of `event` if it should be, in the batch's transaction.
    async fn survey(
        &self,
        effects: &mut Effects<'_>,
        event: &Event<v1::CaseEvent>,
        templates: &[template::Model],
    ) -> Result<Result<(), Skipped>, HandleError> {
        let Some(case) = &event.payload.case else { return Ok(Err(Skipped::NoRecipient)) };
        let tenant = event.tenant.as_str();
        // The CRM's segment routing saw, else a `segment:<x>` tag an agent or a rule added.
        let routing = case.routing.as_ref();
        let segment = routing.map(|routing| routing.segment.clone()).filter(|segment| !segment.is_empty());
        let segment = segment.unwrap_or_else(|| tagged(&case.tags, "segment"));
        let Some(template) = templates.iter().find(|row| fits(row, case.channel, &segment)) else {
            return Ok(Err(Skipped::NoTemplate));
        };
        if template.skip_during_incident && !case.incident_id.is_empty() {
            return Ok(Err(Skipped::InIncident));
        }
        let (Some(recipient), Some(interaction_id)) =
            (storage::recipient_of(&case.customer_id, &case.profile_id), case.interaction_ids.last())
        else {
            return Ok(Err(Skipped::NoRecipient));
        };
        let Some(texts) = pick_texts(&texts_of(template), &case.language, &template.default_language) else {
            return Ok(Err(Skipped::NoTemplate));
        };
        let db = effects.db();
        if storage::opted_out(db, tenant, &recipient).await.context("reading opt-outs")?.is_some() {
            return Ok(Err(Skipped::OptedOut));
        }
        if storage::survey_of_case(db, tenant, &case.id).await.context("reading the case's survey")?.is_some() {
            return Ok(Err(Skipped::AlreadySurveyed));
        }
        let now = self.surveys.clock.now();
        let cutoff = now - chrono::Duration::days(i64::from(template.frequency_cap_days));
        if !storage::take_slot(db, tenant, &recipient, now, cutoff).await.context("taking a survey slot")? {
            return Ok(Err(Skipped::Capped));
        }
        let survey_id = new_id();
        let expires_at = now + self.surveys.expires_after;
        let token = self.surveys.signer.sign(tenant, Purpose::Survey, &survey_id, expires_at);
        let url = if template.survey_url.is_empty() { &self.surveys.survey_url } else { &template.survey_url };
        let link = url.replace("{token}", &token);
        let row = survey::Model {
            tenant: tenant.to_owned(),
            survey_id: survey_id.clone(),
            case_id: case.id.clone(),
            template: template.name.clone(),
            kind: template.kind,
            language: texts.language.clone(),
            question: texts.question.clone(),
            free_text_question: texts.free_text_question.clone(),
            low_score_threshold: template.low_score_threshold,
            low_score_action: template.low_score_action,
            recipient,
            customer_id: case.customer_id.clone(),
            profile_id: case.profile_id.clone(),
            interaction_id: interaction_id.clone(),
            channel: case.channel,
            segment,
            // The team is the queue the case waited in (as the service report has it), else a
            // `team:<x>` tag.
            team: routing
                .map(|routing| routing.queue.clone())
                .filter(|queue| !queue.is_empty())
                .unwrap_or_else(|| tagged(&case.tags, "team")),
            agent: case.assignee.clone(),
            topics: case.topics.join(","),
            sent_at: now,
            expires_at,
            state: storage::SENT.to_owned(),
            answered_at: None,
            testimonial_min_score: template.testimonial_min_score,
        };
        if !storage::insert_survey(db, row).await.context("recording the survey")? {
            return Ok(Err(Skipped::AlreadySurveyed));
        }
        let requested = v1::ReplyRequested {
            reply_id: reply_id(&survey_id),
            case_id: case.id.clone(),
            interaction_id: interaction_id.clone(),
            text: texts.invitation.replace("{link}", &link),
            visibility: template.visibility,
            requested_by: REQUESTED_BY.to_owned(),
            subject: String::new(),
            // Fills in {first_name}, {name} and {handle}; the link holds no braces.
            personalize: true,
            // An answer on the case's thread, not a direct message.
            recipient: None,
        };
        effects.publish(streams::REPLIES_REQUESTED, event, &requested);
        tracing::debug!(case_id = %case.id, survey_id, template = %template.name, "survey sent");
        Ok(Ok(()))
    }
}
