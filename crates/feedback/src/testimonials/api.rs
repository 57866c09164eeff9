//! The testimonials' RPCs, as plain functions the gRPC adapter calls.

use sea_orm::{DatabaseConnection, EntityTrait as _, TransactionTrait as _};
use tend_kernel::ApiError;
use tend_kernel::auth::{Access, Caller};
use tend_kernel::ids::{new_id, parse_id};
use tend_kernel::paging::Page;
use tend_proto::v1;
use tend_store::DbContext as _;

use super::storage::{self, FROM_CANDIDATE, FROM_SURVEY, testimonial};
use super::{consent, give, method, reason, to_proto, to_published, words};
use crate::surveys::Surveys;
use crate::surveys::token::{MAX_TOKEN_BYTES, Purpose, TokenError};

/// Who records a consent given on the survey page, and how it was given.
const SURVEY_PAGE: &str = "survey_page";

/// A new testimonial row, pending moderation, without consent.
fn new_row(tenant: &str, source: &str, source_id: &str, now: chrono::DateTime<chrono::Utc>) -> testimonial::Model {
    testimonial::Model {
        tenant: tenant.to_owned(),
        testimonial_id: new_id(),
        source: source.to_owned(),
        source_id: source_id.to_owned(),
        case_id: String::new(),
        customer_id: String::new(),
        profile_id: String::new(),
        channel: 0,
        quote: String::new(),
        first_name: String::new(),
        handle: String::new(),
        consent_display: 0,
        consent_uses: String::new(),
        for_website: false,
        consent_wording: String::new(),
        consent_method: String::new(),
        consent_given_at: None,
        consent_recorded_by: String::new(),
        withdrawn_at: None,
        withdrawal_reason: String::new(),
        moderation: v1::ModerationState::Pending as i32,
        rejection_reason: String::new(),
        moderated_by: String::new(),
        moderated_at: None,
        created_at: now,
    }
}

/// `GiveTestimonial` (public access): the token from SubmitResponse names the survey; the
/// testimonial is unique per survey, so the token works once.
pub async fn give_testimonial(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::GiveTestimonialRequest,
) -> Result<v1::Testimonial, ApiError> {
    caller.require(Access::Public)?;
    if request.token.trim().is_empty() {
        return Err(ApiError::invalid("token", "is required: the testimonial token SubmitResponse gave"));
    }
    if request.token.len() > MAX_TOKEN_BYTES {
        return Err(ApiError::invalid("token", format!("must be at most {MAX_TOKEN_BYTES} bytes")));
    }
    let (quote, first_name, handle) = words(&request.quote, &request.first_name, &request.handle)?;
    let agreed = consent(request.consent.as_ref(), &first_name, &handle)?;
    let tenant = caller.tenant.as_str();
    let now = surveys.clock.now();
    let claims =
        surveys.signer.verify(tenant, Purpose::Testimonial, &request.token, now).map_err(|error| match error {
            TokenError::Forged => ApiError::invalid("token", error.to_string()),
            TokenError::Expired(at) => ApiError::FailedPrecondition(format!(
                "this testimonial link expired at {}",
                at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
            )),
        })?;
    let txn = db.begin().await.context("starting a transaction")?;
    let survey = crate::surveys::storage::find_survey(&txn, tenant, &claims.id)
        .await
        .context("reading the survey")?
        .ok_or_else(|| ApiError::not_found("survey", claims.id.clone()))?;
    let mut row = new_row(tenant, FROM_SURVEY, &survey.survey_id, now);
    row.case_id = survey.case_id;
    row.customer_id = survey.customer_id;
    row.profile_id = survey.profile_id;
    row.channel = survey.channel;
    row.quote = quote;
    row.first_name = first_name;
    row.handle = handle;
    give(&mut row, agreed, SURVEY_PAGE, SURVEY_PAGE, now);
    if !storage::insert(&txn, row.clone()).await.context("recording the testimonial")? {
        return Err(ApiError::FailedPrecondition(
            "a testimonial was given with this link already: it works once".to_owned(),
        ));
    }
    txn.commit().await.context("committing the testimonial")?;
    tracing::info!(testimonial_id = %row.testimonial_id, survey_id = %row.source_id, "testimonial given");
    Ok(to_proto(&row))
}

/// `ProposeTestimonial` (write access).
pub async fn propose(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::ProposeTestimonialRequest,
) -> Result<v1::Testimonial, ApiError> {
    caller.require(Access::Write)?;
    let interaction_id = parse_id("interaction_id", &request.interaction_id)?;
    let (quote, first_name, handle) = words(&request.quote, &request.first_name, &request.handle)?;
    let tenant = caller.tenant.as_str();
    let txn = db.begin().await.context("starting a transaction")?;
    use crate::storage::routed::testimonial_candidate;
    let candidate = testimonial_candidate::Entity::find_by_id((tenant.to_owned(), interaction_id.clone()))
        .one(&txn)
        .await
        .context("reading the testimonial candidate")?
        .ok_or_else(|| ApiError::not_found("testimonial candidate", interaction_id.clone()))?;
    let mut row = new_row(tenant, FROM_CANDIDATE, &interaction_id, surveys.clock.now());
    row.customer_id = candidate.customer_id;
    row.profile_id = candidate.profile_id;
    row.channel = candidate.channel;
    row.quote = quote;
    row.first_name = first_name;
    row.handle = handle;
    if !storage::insert(&txn, row.clone()).await.context("recording the testimonial")? {
        return Err(ApiError::FailedPrecondition(format!("interaction {interaction_id} was proposed already")));
    }
    storage::mark_candidate_proposed(&txn, tenant, &interaction_id).await.context("marking the candidate")?;
    txn.commit().await.context("committing the testimonial")?;
    tracing::info!(testimonial_id = %row.testimonial_id, %interaction_id, actor = %caller.actor, "testimonial proposed");
    Ok(to_proto(&row))
}

/// Reads a testimonial of the caller's tenant for a change, in `txn`.
async fn load(txn: &sea_orm::DatabaseTransaction, caller: &Caller, id: &str) -> Result<testimonial::Model, ApiError> {
    let id = parse_id("testimonial_id", id)?;
    storage::find(txn, caller.tenant.as_str(), &id)
        .await
        .context("reading the testimonial")?
        .ok_or_else(|| ApiError::not_found("testimonial", id))
}

/// Saves a changed testimonial and raises the tenant's published version, then commits.
async fn store(txn: sea_orm::DatabaseTransaction, row: &testimonial::Model) -> Result<(), ApiError> {
    storage::save(&txn, row.clone()).await.context("saving the testimonial")?;
    storage::bump(&txn, &row.tenant).await.context("raising the published version")?;
    txn.commit().await.context("committing the testimonial")?;
    Ok(())
}

/// `RecordTestimonialConsent` (write access).
pub async fn record_consent(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::RecordTestimonialConsentRequest,
) -> Result<v1::Testimonial, ApiError> {
    caller.require(Access::Write)?;
    let how = method(request.consent.as_ref().map(|consent| consent.method.as_str()).unwrap_or_default())?;
    let txn = db.begin().await.context("starting a transaction")?;
    let mut row = load(&txn, caller, &request.testimonial_id).await?;
    if row.withdrawn_at.is_some() {
        return Err(ApiError::FailedPrecondition(
            "the author withdrew their consent to this testimonial; propose their words again to ask anew".to_owned(),
        ));
    }
    let agreed = consent(request.consent.as_ref(), &row.first_name, &row.handle)?;
    give(&mut row, agreed, &how, &caller.actor, surveys.clock.now());
    store(txn, &row).await?;
    tracing::info!(testimonial_id = %row.testimonial_id, actor = %caller.actor, "testimonial consent recorded");
    Ok(to_proto(&row))
}

/// `ModerateTestimonial` (write access).
pub async fn moderate(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::ModerateTestimonialRequest,
) -> Result<v1::Testimonial, ApiError> {
    caller.require(Access::Write)?;
    let decision = v1::ModerationState::try_from(request.decision).unwrap_or(v1::ModerationState::Unspecified);
    let why = match decision {
        v1::ModerationState::Approved => reason("reason", &request.reason, false)?,
        v1::ModerationState::Rejected => reason("reason", &request.reason, true)?,
        _ => {
            return Err(ApiError::invalid(
                "decision",
                "must be MODERATION_STATE_APPROVED or MODERATION_STATE_REJECTED",
            ));
        }
    };
    let txn = db.begin().await.context("starting a transaction")?;
    let mut row = load(&txn, caller, &request.testimonial_id).await?;
    row.moderation = decision as i32;
    row.rejection_reason = if decision == v1::ModerationState::Rejected { why } else { String::new() };
    row.moderated_by.clone_from(&caller.actor);
    row.moderated_at = Some(surveys.clock.now());
    store(txn, &row).await?;
    tracing::info!(testimonial_id = %row.testimonial_id, decision = decision.as_str_name(), actor = %caller.actor, "testimonial moderated");
    Ok(to_proto(&row))
}

/// `WithdrawTestimonial` (write access): idempotent; the first withdrawal's time and reason
/// stay.
pub async fn withdraw(
    db: &DatabaseConnection,
    surveys: &Surveys,
    caller: &Caller,
    request: v1::WithdrawTestimonialRequest,
) -> Result<v1::Testimonial, ApiError> {
    caller.require(Access::Write)?;
    let why = reason("reason", &request.reason, false)?;
    let txn = db.begin().await.context("starting a transaction")?;
    let mut row = load(&txn, caller, &request.testimonial_id).await?;
    if row.withdrawn_at.is_none() {
        row.withdrawn_at = Some(surveys.clock.now());
        row.withdrawal_reason = why;
        store(txn, &row).await?;
        tracing::info!(testimonial_id = %row.testimonial_id, actor = %caller.actor, "testimonial withdrawn");
    }
    Ok(to_proto(&row))
}

/// `ListTestimonials` (read access).
pub async fn list(
    db: &DatabaseConnection,
    caller: &Caller,
    request: v1::ListTestimonialsRequest,
) -> Result<v1::ListTestimonialsResponse, ApiError> {
    caller.require(Access::Read)?;
    let page = Page::parse(request.page_size, &request.page_token)?;
    let rows = storage::list(db, caller.tenant.as_str(), &page).await.context("listing testimonials")?;
    let testimonials = rows.iter().map(to_proto).collect();
    let (testimonials, next_page_token) = page.fit(testimonials, |testimonial| testimonial.id.as_str());
    Ok(v1::ListTestimonialsResponse { testimonials, next_page_token })
}

/// `ListPublishedTestimonials` (public access). The etag is the tenant's published version
/// (`"v<n>"`), read in the same transaction as the page, so a page never comes with a newer
/// etag than its content.
pub async fn list_published(
    db: &DatabaseConnection,
    caller: &Caller,
    request: v1::ListPublishedTestimonialsRequest,
) -> Result<v1::ListPublishedTestimonialsResponse, ApiError> {
    caller.require(Access::Public)?;
    let page = Page::parse(request.page_size, &request.page_token)?;
    let tenant = caller.tenant.as_str();
    let txn = db.begin().await.context("starting a transaction")?;
    let etag = format!("v{}", storage::version(&txn, tenant).await.context("reading the published version")?);
    if request.if_none_match.trim() == etag {
        return Ok(v1::ListPublishedTestimonialsResponse { etag, not_modified: true, ..Default::default() });
    }
    let rows = storage::list_published(&txn, tenant, &page).await.context("listing published testimonials")?;
    txn.commit().await.context("ending the read")?;
    let testimonials = rows.iter().map(to_published).collect();
    let (testimonials, next_page_token) = page.fit(testimonials, |testimonial| testimonial.id.as_str());
    Ok(v1::ListPublishedTestimonialsResponse { testimonials, next_page_token, etag, not_modified: false })
}
