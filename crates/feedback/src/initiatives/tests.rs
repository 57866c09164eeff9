//! Initiatives: their API and their before-vs-after report on a generated history.

#![allow(clippy::unwrap_used, clippy::panic)]

use chrono::Duration;
use tend_kernel::Role;
use tend_kernel::ids::to_timestamp;
use tend_proto::v1;
use tend_proto::v1::feedback_service_server::FeedbackService as _;
use tend_store::testing::Backend;
use tonic::Code;

use super::stats;
use crate::FeedbackApi;
use crate::consumer::RecordCaseFacts;
use crate::report::tests::{
    Dice, Sim, caller, consumer, database, delivery, expected, generate, handle_all, request, t0,
};

fn initiative(name: &str, topics: &[&str], channels: &[v1::Channel]) -> v1::Initiative {
    v1::Initiative {
        name: name.into(),
        kind: v1::InitiativeKind::ProductFix as i32,
        description: "the refund flow fixed".into(),
        starts_at: Some(to_timestamp(t0() + Duration::days(3) + Duration::minutes(25))),
        scope: Some(v1::InitiativeScope {
            topics: topics.iter().map(|topic| (*topic).to_owned()).collect(),
            channels: channels.iter().map(|channel| *channel as i32).collect(),
            segments: Vec::new(),
        }),
        team: "payments".into(),
        ..Default::default()
    }
}

fn find<'a>(changes: &'a [v1::InitiativeChange], metric: &str) -> &'a v1::InitiativeChange {
    changes.iter().find(|change| change.metric == metric).unwrap()
}

pub(crate) async fn initiative_report(backend: Backend) {
    let (store, db) = database(backend).await;
    let api = FeedbackApi::new(db.clone());
    let admin = || caller("acme", Role::Admin);
    let viewer = || caller("acme", Role::Viewer);

    // Create, idempotently; read, list, update; bad input; viewers may not write.
    let create = |key: &str, initiative: v1::Initiative| v1::CreateInitiativeRequest {
        idempotency_key: key.into(),
        initiative: Some(initiative),
    };
    let fix = api
        .create_initiative(request(admin(), create("k1", initiative("refund fix", &["billing"], &[v1::Channel::X]))))
        .await
        .unwrap()
        .into_inner();
    let again = api
        .create_initiative(request(admin(), create("k1", initiative("other", &[], &[]))))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(again, fix);
    let email = api
        .create_initiative(request(admin(), create("k2", initiative("email push", &[], &[v1::Channel::Email]))))
        .await
        .unwrap()
        .into_inner();
    let denied = api.create_initiative(request(viewer(), create("k3", initiative("x", &[], &[])))).await.unwrap_err();
    assert_eq!(denied.code(), Code::PermissionDenied);
    for (broken, field) in [
        (v1::Initiative { name: " ".into(), ..initiative("x", &[], &[]) }, "initiative.name"),
        (v1::Initiative { kind: 0, ..initiative("x", &[], &[]) }, "initiative.kind"),
        (v1::Initiative { starts_at: None, ..initiative("x", &[], &[]) }, "initiative.starts_at"),
        (initiative("x", &["a|b"], &[]), "initiative.scope.topics"),
        (initiative("x", &[], &[v1::Channel::Unspecified]), "initiative.scope.channels"),
    ] {
        let error = api.create_initiative(request(admin(), create("k4", broken))).await.unwrap_err();
        assert_eq!(error.code(), Code::InvalidArgument);
        assert!(error.message().contains(field), "{field}: {error:?}");
    }
    let got = api
        .get_initiative(request(viewer(), v1::GetInitiativeRequest { id: fix.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(got, fix);
    let other_tenant = api
        .get_initiative(request(caller("globex", Role::Viewer), v1::GetInitiativeRequest { id: fix.id.clone() }))
        .await
        .unwrap_err();
    assert_eq!(other_tenant.code(), Code::NotFound);
    let listed = api
        .list_initiatives(request(viewer(), v1::ListInitiativesRequest { page_size: 1, page_token: String::new() }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(listed.initiatives, vec![email.clone()]);
    let next = api
        .list_initiatives(request(
            viewer(),
            v1::ListInitiativesRequest { page_size: 1, page_token: listed.next_page_token },
        ))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(next.initiatives, vec![fix.clone()]);
    let renamed = v1::Initiative {
        id: fix.id.clone(),
        name: "refund fix v2".into(),
        ..initiative("", &["billing"], &[v1::Channel::X])
    };
    let updated = api
        .update_initiative(request(admin(), v1::UpdateInitiativeRequest { initiative: Some(renamed) }))
        .await
        .unwrap()
        .into_inner();
    assert_eq!((updated.name.as_str(), updated.created_at), ("refund fix v2", fix.created_at));

    // The history: 3 days before the start, 3 days after, with more cases after.
    let start = t0() + Duration::days(3);
    let mut dice = Dice(11);
    let mut sims = generate(&mut dice, 80, t0(), 72);
    sims.extend(generate(&mut dice, 160, start, 72));
    let cases = consumer(RecordCaseFacts, &db);
    let deliveries: Vec<_> = sims.iter().flat_map(Sim::events).map(|event| delivery("acme", &event)).collect();
    handle_all(&cases, &deliveries).await;

    let report = |id: String, window_days: u32| {
        let api = &api;
        async move {
            api.get_initiative_report(request(
                caller("acme", Role::Viewer),
                v1::GetInitiativeReportRequest { id, window_days },
            ))
            .await
            .map(tonic::Response::into_inner)
        }
    };
    let fixed = report(fix.id.clone(), 3).await.unwrap();
    assert_eq!(fixed.starts_at_hour, Some(to_timestamp(start)));
    assert_eq!(fixed.before_from, Some(to_timestamp(t0())));
    assert_eq!(fixed.after_to, Some(to_timestamp(start + Duration::days(3))));
    let scoped: Vec<&Sim> =
        sims.iter().filter(|sim| sim.channel == v1::Channel::X as i32 && sim.topics.contains(&"billing")).collect();
    let before = expected(&scoped, t0(), start);
    let after = expected(&scoped, start, start + Duration::days(3));
    let opened = find(&fixed.changes, "cases_opened");
    assert_eq!((opened.before, opened.after), (before.opened as f64, after.opened as f64));
    let test = stats::poisson(before.opened, after.opened);
    assert_eq!((opened.z, opened.p_value, opened.significant), (test.z, test.p_value, test.significant));
    assert_eq!(opened.test, "poisson");
    assert_eq!(
        opened.relative_change_percent,
        (after.opened as f64 - before.opened as f64) / before.opened as f64 * 100.0
    );
    let interactions = find(&fixed.changes, "interactions");
    assert_eq!((interactions.before_n, interactions.after_n), (before.opened, after.opened));
    let negative = find(&fixed.changes, "negative_share");
    assert_eq!((negative.before_n, negative.after_n), (before.opened, after.opened));
    assert_eq!(negative.before, before.negative as f64 * 100.0 / before.opened as f64);
    let test = stats::two_proportions(before.negative, before.opened, after.negative, after.opened);
    assert_eq!((negative.z, negative.test.as_str()), (test.z, "two_proportion_z"));
    let churn = find(&fixed.changes, "churn_risk_posts");
    assert_eq!((churn.before, churn.after), (before.churn as f64, after.churn as f64));
    let first = find(&fixed.changes, "first_response_attainment");
    assert_eq!(
        (first.before_n, first.after_n),
        (before.fr_within + before.fr_breached, after.fr_within + after.fr_breached)
    );
    let test = stats::two_proportions(
        before.fr_within,
        before.fr_within + before.fr_breached,
        after.fr_within,
        after.fr_within + after.fr_breached,
    );
    assert_eq!(first.z, test.z);
    let resolution = find(&fixed.changes, "resolution_attainment");
    assert_eq!(
        (resolution.before_n, resolution.after_n),
        (before.res_within + before.res_breached, after.res_within + after.res_breached)
    );
    // No surveys yet: empty, and said to be no evidence.
    let csat = find(&fixed.changes, "csat_satisfied_share");
    assert_eq!((csat.before_n, csat.after_n, csat.p_value, csat.significant), (0, 0, 1.0, false));
    assert_eq!(find(&fixed.changes, "nps").test, "welch_z");
    assert_eq!(fixed.cases_by_topic.len(), 1);
    assert_eq!(fixed.cases_by_topic[0].metric, "billing");
    assert_eq!(fixed.cases_by_topic[0].after, after.opened as f64);
    // Twice as many cases after: more than noise.
    let all_x: Vec<&Sim> = sims.iter().filter(|sim| sim.channel == v1::Channel::Email as i32).collect();
    let by_email = report(email.id.clone(), 3).await.unwrap();
    let (b, a) = (expected(&all_x, t0(), start), expected(&all_x, start, start + Duration::days(3)));
    let opened = find(&by_email.changes, "cases_opened");
    assert_eq!((opened.before, opened.after), (b.opened as f64, a.opened as f64));
    assert!(opened.significant, "{opened:?}");
    // Without topics in scope: the topics with the most cases, each counted.
    let billing = by_email.cases_by_topic.iter().find(|change| change.metric == "billing").unwrap();
    let billing_after = all_x
        .iter()
        .filter(|sim| {
            sim.topics.contains(&"billing") && sim.opened_at >= start && sim.opened_at < start + Duration::days(3)
        })
        .count();
    assert_eq!(billing.after, billing_after as f64);

    // Bad windows and unknown initiatives; deletion.
    assert_eq!(report(fix.id.clone(), 366).await.unwrap_err().code(), Code::InvalidArgument);
    assert_eq!(report("nope".into(), 3).await.unwrap_err().code(), Code::NotFound);
    let deleted = api
        .delete_initiative(request(admin(), v1::DeleteInitiativeRequest { id: fix.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(deleted.deleted);
    let gone = api
        .delete_initiative(request(admin(), v1::DeleteInitiativeRequest { id: fix.id.clone() }))
        .await
        .unwrap()
        .into_inner();
    assert!(!gone.deleted);
    store.cleanup().await;
}
