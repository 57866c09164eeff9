//! Surveys end to end: a post becomes a case, the case is resolved, feedback sends one survey on
//! the case's channel (ingest has its invitation in the delivery log), and the survey page
//! answers it once with the link's token over gRPC.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

use std::time::Duration;

use prost::Message as _;
use tend_proto::v1;
use tend_tests::{Backend, TestApp, as_tenant, envelopes, eventually, post, routed};
use tonic::Code;

tend_tests::on_both_backends!(
    a_resolved_case_is_surveyed_on_its_channel_and_answered_once,
    a_low_score_reopens_the_case_when_the_template_says_so,
);

const WAIT: Duration = Duration::from_secs(20);

async fn a_resolved_case_is_surveyed_on_its_channel_and_answered_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = v1::SurveyTemplate {
        name: "csat".into(),
        kind: v1::SurveyKind::Csat as i32,
        default_language: "en".into(),
        texts: vec![v1::SurveyText {
            language: "en".into(),
            invitation: "Thanks {first_name}! How did we do? {link}".into(),
            question: "How satisfied are you?".into(),
            free_text_question: "Anything to add?".into(),
        }],
        frequency_cap_days: 30,
        enabled: true,
        ..Default::default()
    };
    let request = v1::PutSurveyTemplateRequest { template: Some(template) };
    app.feedback().put_survey_template(as_tenant("acme", request)).await.unwrap();

    let interaction = app
        .ingest()
        .ingest_interaction(as_tenant("acme", post("jane", "My order #123 never arrived, please help")))
        .await
        .unwrap()
        .into_inner()
        .interaction
        .unwrap();
    let decision = routed(&app, "acme", &interaction.id).await;
    assert!(!decision.case_id.is_empty(), "the complaint is work: {decision:?}");
    let resolve =
        v1::ResolveCaseRequest { id: decision.case_id.clone(), note: "refunded".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap();

    let survey = eventually("the survey", WAIT, || async {
        let request = v1::ListSurveysRequest { case_id: decision.case_id.clone(), ..Default::default() };
        let page = app.feedback().list_surveys(as_tenant("acme", request)).await.unwrap().into_inner();
        page.surveys.into_iter().next()
    })
    .await;
    assert_eq!((survey.channel, survey.state.as_str()), (v1::Channel::X as i32, "sent"));
    // Ingest took the invitation: a reply on the case's interaction, on its channel.
    let delivery = eventually("the invitation's delivery", WAIT, || async {
        let request = v1::GetReplyDeliveryRequest { reply_id: survey.reply_id.clone() };
        app.channels().get_reply_delivery(as_tenant("acme", request)).await.ok().map(tonic::Response::into_inner)
    })
    .await;
    assert_eq!(
        (delivery.case_id.as_str(), delivery.interaction_id.as_str()),
        (decision.case_id.as_str(), interaction.id.as_str())
    );
    assert_eq!(delivery.channel, v1::Channel::X as i32);

    // The link, as the customer got it.
    let stream = app.event_stream().await;
    let requested = envelopes(stream.as_ref(), "replies.requested").await;
    let invitation = requested
        .iter()
        .filter(|envelope| envelope.tenant == "acme")
        .filter_map(|envelope| v1::ReplyRequested::decode(envelope.payload.as_slice()).ok())
        .find(|reply| reply.reply_id == survey.reply_id)
        .unwrap();
    let token = invitation.text.split("token=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned();

    let answer = |score: u32| v1::SubmitResponseRequest {
        token: token.clone(),
        score: Some(score),
        comment: "quick and kind".into(),
        opt_out: false,
    };
    let submitted = app.feedback().submit_response(as_tenant("acme", answer(5))).await.unwrap().into_inner();
    assert!(submitted.recorded && !submitted.low_score);
    let again = app.feedback().submit_response(as_tenant("acme", answer(4))).await.unwrap_err();
    assert_eq!(again.code(), Code::FailedPrecondition);
    let forged = v1::SubmitResponseRequest { token: format!("{token}x"), ..answer(5) };
    assert_eq!(
        app.feedback().submit_response(as_tenant("acme", forged)).await.unwrap_err().code(),
        Code::InvalidArgument
    );

    let responses = app
        .feedback()
        .list_survey_responses(as_tenant("acme", v1::ListSurveyResponsesRequest::default()))
        .await
        .unwrap()
        .into_inner()
        .responses;
    assert_eq!(responses.len(), 1);
    assert_eq!((responses[0].case_id.as_str(), responses[0].score), (decision.case_id.as_str(), 5));
    // The service report counts it, once, from the roll-ups kept with the response.
    let request = v1::GetServiceReportRequest { detailed: true, ..Default::default() };
    let report = app.feedback().get_service_report(as_tenant("acme", request)).await.unwrap().into_inner();
    let surveys = report.overall.unwrap().surveys.unwrap();
    assert_eq!((surveys.csat_responses, surveys.csat_percent), (1, 100.0), "{surveys:?}");
    assert_eq!(responses[0].channel, v1::Channel::X as i32);
    app.stop().await;
}

async fn a_low_score_reopens_the_case_when_the_template_says_so(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let template = v1::SurveyTemplate {
        name: "csat".into(),
        kind: v1::SurveyKind::Csat as i32,
        default_language: "en".into(),
        texts: vec![v1::SurveyText {
            language: "en".into(),
            invitation: "How did we do? {link}".into(),
            question: "How satisfied are you?".into(),
            free_text_question: String::new(),
        }],
        enabled: true,
        low_score_threshold: 2,
        low_score_action: v1::LowScoreAction::ReopenCase as i32,
        ..Default::default()
    };
    let request = v1::PutSurveyTemplateRequest { template: Some(template) };
    app.feedback().put_survey_template(as_tenant("acme", request)).await.unwrap();
    let interaction = app
        .ingest()
        .ingest_interaction(as_tenant("acme", post("sam", "Still no refund for order #77, this is a joke")))
        .await
        .unwrap()
        .into_inner()
        .interaction
        .unwrap();
    let decision = routed(&app, "acme", &interaction.id).await;
    let resolve =
        v1::ResolveCaseRequest { id: decision.case_id.clone(), note: "refunded".into(), ..Default::default() };
    app.cases().resolve_case(as_tenant("acme", resolve)).await.unwrap();
    let survey = eventually("the survey", WAIT, || async {
        let request = v1::ListSurveysRequest { case_id: decision.case_id.clone(), ..Default::default() };
        app.feedback().list_surveys(as_tenant("acme", request)).await.unwrap().into_inner().surveys.into_iter().next()
    })
    .await;
    let stream = app.event_stream().await;
    let token = eventually("the invitation", WAIT, || async {
        envelopes(stream.as_ref(), "replies.requested")
            .await
            .iter()
            .filter_map(|envelope| v1::ReplyRequested::decode(envelope.payload.as_slice()).ok())
            .find(|reply| reply.reply_id == survey.reply_id)
            .map(|reply| reply.text.split("token=").nth(1).unwrap().split_whitespace().next().unwrap().to_owned())
    })
    .await;
    let answer = v1::SubmitResponseRequest { token, score: Some(1), comment: String::new(), opt_out: false };
    let submitted = app.feedback().submit_response(as_tenant("acme", answer)).await.unwrap().into_inner();
    assert!(submitted.low_score);
    let reopened = eventually("the case reopened", WAIT, || async {
        let case = app
            .cases()
            .get_case(as_tenant("acme", v1::GetCaseRequest { id: decision.case_id.clone() }))
            .await
            .unwrap()
            .into_inner();
        (case.status == v1::CaseStatus::Reopened as i32).then_some(case)
    })
    .await;
    assert!(reopened.resolved_at.is_none());
    let timeline = app
        .cases()
        .list_case_timeline(as_tenant(
            "acme",
            v1::ListCaseTimelineRequest { case_id: decision.case_id.clone(), ..Default::default() },
        ))
        .await
        .unwrap()
        .into_inner();
    let entry = format!("{timeline:?}");
    assert!(entry.contains("low score (1)") && entry.contains("feedback"), "{entry}");
    app.stop().await;
}
