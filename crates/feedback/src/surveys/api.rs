//! The surveys' RPCs, as plain functions the gRPC adapter calls: templates (admin writes, read
//! access reads), opt-outs (write access) and the survey page's calls (public access: the
//! link's token is the authority).

use sea_orm::{ActiveModelTrait as _, DatabaseConnection, EntityTrait as _, TransactionTrait as _};
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, Caller};
use tend_kernel::ids::to_timestamp;
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::events::envelope;
use tend_store::{DbContext as _, OutboxWaker, outbox};

use super::consumer::SURVEYS_ANSWERED;
use super::storage::{self, opt_out, response, survey, template};
use super::token::{MAX_TOKEN_BYTES, Purpose, TokenError};
use super::{MAX_COMMENT, MAX_TEMPLATES, Surveys, kind_name, scale, split, template_row, template_to_proto};

/// `PutSurveyTemplate`: creates or replaces a template (admin).
pub async fn put_template(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::PutSurveyTemplateRequest,
) -> Result<v1::SurveyTemplate, ApiError> {
    caller.require(Access::Admin)?;
    let tenant = caller.tenant.as_str();
    let template = request.template.ok_or_else(|| ApiError::invalid("template", "is required"))?;
    let mut row = template_row(tenant, &template, surveys.clock.now())?;
    let txn = db.begin().await.context("starting a transaction")?;
    let existing = storage::templates(&txn, tenant).await.context("reading survey templates")?;
    let previous = existing.iter().find(|stored| stored.name == row.name);
    if previous.is_none() && existing.len() >= MAX_TEMPLATES {
        return Err(ApiError::quota("survey templates", MAX_TEMPLATES as u64));
    }
    row.version = previous.map_or(1, |stored| stored.version + 1);
    tend_store::query::save(&txn, template::ActiveModel::from(row.clone()), previous.is_none())
        .await
        .context("saving the survey template")?;
    txn.commit().await.context("committing the survey template")?;
    tracing::info!(template = %row.name, version = row.version, actor = %caller.actor, "survey template saved");
    Ok(template_to_proto(&row))
}

/// `GetSurveyTemplate`.
pub async fn get_template(
    db: &DatabaseConnection,
    caller: &Caller,
    request: v1::GetSurveyTemplateRequest,
) -> Result<v1::SurveyTemplate, ApiError> {
    caller.require(Access::Read)?;
    let name = request.name.trim();
    let row = storage::find_template(db, caller.tenant.as_str(), name).await.context("reading the survey template")?;
    row.map(|row| template_to_proto(&row)).ok_or_else(|| ApiError::not_found("survey template", name))
}

/// `ListSurveyTemplates`.
pub async fn list_templates(
    db: &DatabaseConnection,
    caller: &Caller,
) -> Result<v1::ListSurveyTemplatesResponse, ApiError> {
    caller.require(Access::Read)?;
    let rows = storage::templates(db, caller.tenant.as_str()).await.context("reading survey templates")?;
    Ok(v1::ListSurveyTemplatesResponse { templates: rows.iter().map(template_to_proto).collect() })
}

/// `DeleteSurveyTemplate` (admin).
pub async fn delete_template(
    db: &DatabaseConnection,
    caller: &Caller,
    request: v1::DeleteSurveyTemplateRequest,
) -> Result<v1::DeleteSurveyTemplateResponse, ApiError> {
    caller.require(Access::Admin)?;
    let name = request.name.trim();
    let deleted = template::Entity::delete_by_id((caller.tenant.as_str().to_owned(), name.to_owned()))
        .exec(db)
        .await
        .context("deleting the survey template")?;
    if deleted.rows_affected == 0 {
        return Err(ApiError::not_found("survey template", name));
    }
    tracing::info!(template = %name, actor = %caller.actor, "survey template deleted");
    Ok(v1::DeleteSurveyTemplateResponse {})
}

/// An id a person is known by: printable, no spaces, at most 128 bytes.
fn person_id(field: &str, value: &str) -> Result<String, ApiError> {
    let value = value.trim();
    if value.len() > 128 || value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(ApiError::invalid(field, "must be at most 128 bytes, printable, without spaces"));
    }
    Ok(value.to_owned())
}

fn opt_out_to_proto(row: Option<&opt_out::Model>, customer_id: &str, profile_id: &str) -> v1::SurveyOptOut {
    v1::SurveyOptOut {
        customer_id: customer_id.to_owned(),
        profile_id: profile_id.to_owned(),
        opted_out: row.is_some(),
        opted_out_at: row.map(|row| to_timestamp(row.opted_out_at)),
        source: row.map(|row| row.source.clone()).unwrap_or_default(),
    }
}

/// `SetSurveyOptOut` (write access).
pub async fn set_opt_out(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::SetSurveyOptOutRequest,
) -> Result<v1::SurveyOptOut, ApiError> {
    caller.require(Access::Write)?;
    let customer_id = person_id("customer_id", &request.customer_id)?;
    let profile_id = person_id("profile_id", &request.profile_id)?;
    if customer_id.is_empty() == profile_id.is_empty() {
        return Err(ApiError::invalid(
            "customer_id",
            "give the customer_id, or the profile_id of an unlinked author (one of them)",
        ));
    }
    let tenant = caller.tenant.as_str();
    let recipient = storage::recipient_of(&customer_id, &profile_id).unwrap_or_default();
    if !request.opted_out {
        storage::opt_in(db, tenant, &recipient).await.context("removing the opt-out")?;
        return Ok(opt_out_to_proto(None, &customer_id, &profile_id));
    }
    let row = opt_out::Model {
        tenant: tenant.to_owned(),
        recipient,
        customer_id: customer_id.clone(),
        profile_id: profile_id.clone(),
        opted_out_at: surveys.clock.now(),
        source: format!("api:{}", caller.actor),
    };
    let stored = storage::opt_out(db, row).await.context("recording the opt-out")?;
    Ok(opt_out_to_proto(Some(&stored), &customer_id, &profile_id))
}

/// The survey a link's token names, checked: genuine, for this tenant, not expired, still
/// waiting for its answer.
async fn open<C: sea_orm::ConnectionTrait>(
    conn: &C,
    surveys: &Surveys,
    caller: &Caller,
    token: &str,
) -> Result<survey::Model, ApiError> {
    caller.require(Access::Public)?;
    if token.trim().is_empty() {
        return Err(ApiError::invalid("token", "is required: the token from the survey's link"));
    }
    if token.len() > MAX_TOKEN_BYTES {
        return Err(ApiError::invalid("token", format!("must be at most {MAX_TOKEN_BYTES} bytes")));
    }
    let tenant = caller.tenant.as_str();
    let claims =
        surveys.signer.verify(tenant, Purpose::Survey, token, surveys.clock.now()).map_err(|error| match error {
            TokenError::Forged => ApiError::invalid("token", error.to_string()),
            TokenError::Expired(at) => ApiError::FailedPrecondition(format!(
                "this survey link expired at {}; the survey can no longer be answered",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        })?;
    let row = storage::find_survey(conn, tenant, &claims.id)
        .await
        .context("reading the survey")?
        .ok_or_else(|| ApiError::not_found("survey", claims.id.clone()))?;
    if row.state != storage::SENT {
        return Err(ApiError::FailedPrecondition(
            "this survey was already answered: a survey link works once".to_owned(),
        ));
    }
    Ok(row)
}

/// `OpenSurvey` (public access).
pub async fn open_survey(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::OpenSurveyRequest,
) -> Result<v1::SurveyForm, ApiError> {
    let row = open(db, surveys, caller, &request.token).await?;
    let kind = v1::SurveyKind::try_from(row.kind).unwrap_or(v1::SurveyKind::Csat);
    let (min_score, max_score) = scale(kind);
    Ok(v1::SurveyForm {
        survey_id: row.survey_id,
        kind: row.kind,
        min_score,
        max_score,
        language: row.language,
        question: row.question,
        free_text_question: row.free_text_question,
        expires_at: Some(to_timestamp(row.expires_at)),
    })
}

/// `SubmitResponse` (public access): checks everything, then in one transaction closes the
/// survey (only if still waiting: a link works once), records the response and the opt-out,
/// and publishes `SurveyAnswered`.
pub async fn submit_response(
    db: &DatabaseConnection,
    surveys: &Surveys,
    waker: &OutboxWaker,
    caller: &Caller,
    request: v1::SubmitResponseRequest,
) -> Result<v1::SubmitResponseResponse, ApiError> {
    caller.require(Access::Public)?;
    if request.comment.len() > MAX_COMMENT {
        return Err(ApiError::invalid("comment", format!("must be at most {MAX_COMMENT} bytes")));
    }
    if request.score.is_none() && !request.opt_out {
        return Err(ApiError::invalid("score", "is required (or set opt_out to only opt out of surveys)"));
    }
    let txn = db.begin().await.context("starting a transaction")?;
    let row = open(&txn, surveys, caller, &request.token).await?;
    let kind = v1::SurveyKind::try_from(row.kind).unwrap_or(v1::SurveyKind::Csat);
    let (min, max) = scale(kind);
    if let Some(score) = request.score
        && !(min..=max).contains(&score)
    {
        return Err(ApiError::invalid(
            "score",
            format!("must be from {min} to {max} for a {} survey", kind_name(kind).to_uppercase()),
        ));
    }
    let tenant = caller.tenant.as_str();
    let now = surveys.clock.now();
    let state = if request.score.is_some() { storage::ANSWERED } else { storage::OPTED_OUT };
    if !storage::close_survey(&txn, tenant, &row.survey_id, state, now).await.context("closing the survey")? {
        return Err(ApiError::FailedPrecondition(
            "this survey was already answered: a survey link works once".to_owned(),
        ));
    }
    let threshold = u32::try_from(row.low_score_threshold).unwrap_or(0);
    let low_score = request.score.is_some_and(|score| {
        // NPS starts at 0: its threshold counts from there; CSAT and CES start at 1, so 0 is off.
        (kind == v1::SurveyKind::Nps || threshold > 0) && score <= threshold
    });
    if let Some(score) = request.score {
        let comment = if row.free_text_question.is_empty() { String::new() } else { request.comment.trim().to_owned() };
        let answer = response::Model {
            tenant: tenant.to_owned(),
            survey_id: row.survey_id.clone(),
            case_id: row.case_id.clone(),
            template: row.template.clone(),
            kind: kind_name(kind).to_owned(),
            score: i32::try_from(score).unwrap_or(0),
            comment,
            responded_at: now,
            channel: row.channel,
            segment: row.segment.clone(),
            team: row.team.clone(),
            agent: row.agent.clone(),
            topics: row.topics.clone(),
            low_score,
            customer_id: row.customer_id.clone(),
            profile_id: row.profile_id.clone(),
        };
        let topics: Vec<String> =
            answer.topics.split(',').filter(|topic| !topic.is_empty()).map(str::to_owned).collect();
        let dims =
            crate::report::Dims::of_survey(answer.channel, &answer.segment, &answer.team, &answer.agent, &topics);
        let scale_score = u8::try_from(score).unwrap_or(u8::MAX);
        let scored = crate::report::SurveyScore {
            tenant: tenant.to_owned(),
            response_id: answer.survey_id.clone(),
            received_at: now,
            dims,
            score: match kind {
                v1::SurveyKind::Nps => crate::report::SurveyKind::Nps(scale_score),
                v1::SurveyKind::Ces => crate::report::SurveyKind::Ces(scale_score),
                _ => crate::report::SurveyKind::Csat(scale_score),
            },
        };
        response::ActiveModel::from(answer).insert(&txn).await.context("recording the response")?;
        // The service report's CSAT, NPS and CES, in the same transaction.
        crate::report::record_survey_scores(&txn, &[scored]).await.context("adding the score to the report")?;
        let action = if low_score { row.low_score_action } else { v1::LowScoreAction::Unspecified as i32 };
        let answered = v1::SurveyAnswered {
            survey_id: row.survey_id.clone(),
            case_id: row.case_id.clone(),
            customer_id: row.customer_id.clone(),
            profile_id: row.profile_id.clone(),
            kind: row.kind,
            score,
            low_score,
            action,
            agent: row.agent.clone(),
            channel: row.channel,
            topics: row.topics.split(',').filter(|topic| !topic.is_empty()).map(str::to_owned).collect(),
        };
        outbox::enqueue(&txn, SURVEYS_ANSWERED, &envelope(crate::SERVICE, &caller.tenant, &answered)).await?;
    }
    if request.opt_out {
        let opt_out = opt_out::Model {
            tenant: tenant.to_owned(),
            recipient: row.recipient.clone(),
            customer_id: row.customer_id.clone(),
            profile_id: row.profile_id.clone(),
            opted_out_at: now,
            source: "link".to_owned(),
        };
        storage::opt_out(&txn, opt_out).await.context("recording the opt-out")?;
    }
    txn.commit().await.context("committing the response")?;
    waker.wake();
    let testimonial_token = match request.score {
        Some(score) if asks_for_testimonial(&row, score, &request.comment) => {
            surveys.signer.sign(tenant, Purpose::Testimonial, &row.survey_id, now + surveys.expires_after)
        }
        _ => String::new(),
    };
    tracing::info!(survey_id = %row.survey_id, case_id = %row.case_id, low_score, opted_out = request.opt_out, "survey answered");
    Ok(v1::SubmitResponseResponse {
        recorded: request.score.is_some(),
        opted_out: request.opt_out,
        low_score,
        testimonial_token,
    })
}

/// Whether an answer of `score` with `comment` to `survey` earns a testimonial request: the
/// template asks for one at this score, and the comment, if any, does not read negative.
fn asks_for_testimonial(survey: &survey::Model, score: u32, comment: &str) -> bool {
    let min = u32::try_from(survey.testimonial_min_score).unwrap_or(0);
    if min == 0 || score < min {
        return false;
    }
    comment.trim().is_empty() || tend_text::sentiment(comment).label != tend_text::SentimentLabel::Negative
}

/// A stored response on the wire.
pub fn response_to_proto(row: response::Model) -> v1::SurveyResponse {
    let kind = match row.kind.as_str() {
        "nps" => v1::SurveyKind::Nps,
        "ces" => v1::SurveyKind::Ces,
        _ => v1::SurveyKind::Csat,
    };
    v1::SurveyResponse {
        topics: split(&row.topics).map(str::to_owned).collect(),
        survey_id: row.survey_id,
        case_id: row.case_id,
        template: row.template,
        kind: kind as i32,
        score: u32::try_from(row.score).unwrap_or(0),
        comment: row.comment,
        responded_at: Some(to_timestamp(row.responded_at)),
        channel: row.channel,
        segment: row.segment,
        team: row.team,
        agent: row.agent,
        low_score: row.low_score,
    }
}

/// `ListSurveyResponses` (read access).
pub async fn list_responses(
    db: &DatabaseConnection,
    caller: &Caller,
    request: v1::ListSurveyResponsesRequest,
) -> Result<v1::ListSurveyResponsesResponse, ApiError> {
    caller.require(Access::Read)?;
    let page = Page::parse(request.page_size, &request.page_token)?;
    let rows = storage::list_responses(db, caller.tenant.as_str(), &page).await.context("listing survey responses")?;
    let responses = rows.into_iter().map(response_to_proto).collect();
    let (responses, next_page_token) = page.fit(responses, |response| response.survey_id.as_str());
    Ok(v1::ListSurveyResponsesResponse { responses, next_page_token })
}

/// `ListSurveys` (read access).
pub async fn list_surveys(
    db: &DatabaseConnection,
    caller: &Caller,
    request: v1::ListSurveysRequest,
) -> Result<v1::ListSurveysResponse, ApiError> {
    caller.require(Access::Read)?;
    let page = Page::parse(request.page_size, &request.page_token)?;
    let case_id = request.case_id.trim();
    let case_id = if case_id.is_empty() { None } else { Some(tend_kernel::ids::parse_id("case_id", case_id)?) };
    let rows = storage::list_surveys(db, caller.tenant.as_str(), case_id.as_deref(), &page)
        .await
        .context("listing surveys")?;
    let surveys = rows
        .into_iter()
        .map(|row| v1::Survey {
            reply_id: super::consumer::reply_id(&row.survey_id),
            survey_id: row.survey_id,
            case_id: row.case_id,
            template: row.template,
            kind: row.kind,
            channel: row.channel,
            language: row.language,
            sent_at: Some(to_timestamp(row.sent_at)),
            expires_at: Some(to_timestamp(row.expires_at)),
            state: row.state,
            answered_at: row.answered_at.map(to_timestamp),
        })
        .collect();
    let (surveys, next_page_token) = page.fit(surveys, |survey| survey.survey_id.as_str());
    Ok(v1::ListSurveysResponse { surveys, next_page_token })
}

/// What the surveys hold of a person, for a subject access export: the surveys sent to them
/// (never the links' tokens), their answers and their opt-outs.
pub fn export(held: &storage::OfPerson) -> serde_json::Value {
    let time = |at: chrono::DateTime<chrono::Utc>| at.to_rfc3339_opts(chrono::SecondsFormat::AutoSi, true);
    let surveys: Vec<serde_json::Value> = held
        .surveys
        .iter()
        .map(|row| {
            serde_json::json!({
                "survey_id": row.survey_id, "case_id": row.case_id, "template": row.template,
                "language": row.language, "sent_at": time(row.sent_at), "expires_at": time(row.expires_at),
                "state": row.state, "answered_at": row.answered_at.map(time),
            })
        })
        .collect();
    let responses: Vec<serde_json::Value> = held
        .responses
        .iter()
        .map(|row| {
            serde_json::json!({
                "survey_id": row.survey_id, "case_id": row.case_id, "kind": row.kind, "score": row.score,
                "comment": row.comment, "responded_at": time(row.responded_at),
            })
        })
        .collect();
    let opt_outs: Vec<serde_json::Value> = held
        .opt_outs
        .iter()
        .map(|row| serde_json::json!({ "opted_out_at": time(row.opted_out_at), "source": row.source }))
        .collect();
    serde_json::json!({ "sent": surveys, "responses": responses, "opt_outs": opt_outs })
}
