//! Client sub-commands: call a running Tend over gRPC and print what it says.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tend_proto::v1;

use crate::cli::{self, Connection, StatusArg};

/// A connection to a running Tend: every call carries the API key and tenant of `--api-key`
/// and `--tenant`.
pub type Client = tend_client::Connection;

/// Connects to `connection.endpoint`, failing at once with a clear message if nothing answers.
pub async fn connect(connection: &Connection) -> anyhow::Result<Client> {
    let tls = connection.tls_ca.clone().map(|ca_file| tend_client::ClientTls {
        ca_file,
        cert_file: connection.tls_cert.clone(),
        key_file: connection.tls_key.clone(),
    });
    let channel = tend_client::endpoint_of(&connection.endpoint, tls.as_ref())
        .with_context(|| format!("{:?} is not an endpoint like http://127.0.0.1:50051", connection.endpoint))?
        .connect()
        .await
        .with_context(|| format!("cannot reach Tend at {} (is `tend dev` running?)", connection.endpoint))?;
    let credentials = tend_client::Credentials { api_key: connection.api_key.clone(), tls };
    let metadata = tend_client::CallMetadata::new(&credentials, connection.tenant.as_deref())
        .context("the API key or tenant cannot be sent as a header")?;
    Ok(Client::over(channel, metadata))
}

/// Turns a gRPC error into one line a person can act on.
pub fn failed(status: tonic::Status) -> anyhow::Error {
    anyhow::anyhow!("{:?}: {}", status.code(), status.message())
}

/// `tend post`.
pub async fn post(args: cli::PostArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let channel = v1::Channel::from(args.channel);
    let request = v1::IngestInteractionRequest {
        channel: channel.into(),
        external_id: args.external_id.unwrap_or_else(tend_kernel::ids::new_id),
        author: Some(v1::Author {
            external_id: args.author_id.unwrap_or_else(|| args.handle.clone()),
            handle: args.handle,
            display_name: args.name,
            followers: args.followers,
            verified: args.verified,
            email: String::new(),
            location: args.location,
        }),
        text: args.text,
        account: args.account.unwrap_or_default(),
        ..Default::default()
    };
    let response = client.ingest().ingest_interaction(request).await.map_err(failed)?.into_inner();
    let interaction = response.interaction.context("the server returned no interaction")?;
    if response.duplicate {
        println!("duplicate of interaction {} (nothing new stored)", interaction.id);
    } else {
        println!("interaction {} stored", interaction.id);
    }
    if args.wait {
        let decision = wait_for_decision(&client, &interaction.id, Duration::from_secs(15)).await?;
        println!("routed with priority {} ({})", decision.priority, decision.reasons.join(", "));
        if decision.case_id.is_empty() {
            println!("not actionable ({}): no case opened", decision.not_actionable_reason);
        } else {
            let case = client.cases().get_case(v1::GetCaseRequest { id: decision.case_id }).await.map_err(failed)?;
            print_case(&case.into_inner());
        }
    }
    Ok(())
}

async fn wait_for_decision(
    client: &Client,
    interaction_id: &str,
    limit: Duration,
) -> anyhow::Result<v1::RoutingDecision> {
    let started = Instant::now();
    loop {
        let request = v1::GetRoutingDecisionRequest { interaction_id: interaction_id.to_owned() };
        match client.routing().get_routing_decision(request).await {
            Ok(decision) => return Ok(decision.into_inner()),
            Err(status) if status.code() == tonic::Code::NotFound && started.elapsed() < limit => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                bail!("no routing decision for interaction {interaction_id} after {limit:?}; is routing running?")
            }
            Err(status) => return Err(failed(status)),
        }
    }
}

/// `tend interactions …`.
pub async fn interactions(command: cli::InteractionsCommand) -> anyhow::Result<()> {
    match command {
        cli::InteractionsCommand::List(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListInteractionsRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.ingest().list_interactions(request).await.map_err(failed)?.into_inner();
            for interaction in &page.interactions {
                let handle = interaction.author.as_ref().map(|author| author.handle.as_str()).unwrap_or("");
                println!(
                    "{}  {:<9}  @{:<16}  {}",
                    interaction.id,
                    channel_name(interaction.channel),
                    handle,
                    one_line(&interaction.text)
                );
            }
            print_next(&page.next_page_token);
        }
        cli::InteractionsCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetInteractionRequest { id: args.id };
            let interaction = client.ingest().get_interaction(request).await.map_err(failed)?.into_inner();
            let author = interaction.author.unwrap_or_default();
            println!("id:         {}", interaction.id);
            println!("channel:    {} ({})", channel_name(interaction.channel), interaction.external_id);
            println!("author:     @{} {} ({} followers)", author.handle, author.display_name, author.followers);
            println!("posted at:  {}", time(interaction.posted_at.as_ref()));
            println!("text:       {}", interaction.text);
        }
    }
    Ok(())
}

/// `tend cases …`.
pub async fn cases(command: cli::CasesCommand) -> anyhow::Result<()> {
    match command {
        cli::CasesCommand::List(args) => {
            let client = connect(&args.list.connection).await?;
            let status = args.status.map_or(v1::CaseStatus::Unspecified, StatusArg::to_proto);
            let request = v1::ListCasesRequest {
                status: status.into(),
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.cases().list_cases(request).await.map_err(failed)?.into_inner();
            print_case_lines(&page);
        }
        cli::CasesCommand::Search(args) => {
            let client = connect(&args.list.connection).await?;
            let request = v1::SearchCasesRequest {
                statuses: args.statuses.iter().map(|status| status.to_proto().into()).collect(),
                queue: args.queue,
                assignee: args.assignee,
                unassigned: args.unassigned,
                customer_id: args.customer,
                tag: args.tag,
                topic: args.topic,
                department: args.department,
                with_open_promises: args.with_promises,
                sla: match args.sla {
                    None => v1::SlaFilter::Unspecified,
                    Some(cli::SlaArg::AtRisk) => v1::SlaFilter::AtRisk,
                    Some(cli::SlaArg::Breached) => v1::SlaFilter::Breached,
                    Some(cli::SlaArg::Paused) => v1::SlaFilter::Paused,
                }
                .into(),
                page_size: args.list.limit,
                page_token: args.list.page_token,
                ..Default::default()
            };
            let page = client.cases().search_cases(request).await.map_err(failed)?.into_inner();
            if page.cases.is_empty() {
                println!("no cases found");
            }
            print_case_lines(&page);
        }
        cli::CasesCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let case = client.cases().get_case(v1::GetCaseRequest { id: args.id }).await.map_err(failed)?.into_inner();
            print_case(&case);
        }
        cli::CasesCommand::Resolve(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ResolveCaseRequest {
                id: args.id,
                note: args.note,
                expected_version: args.expected.expected_version,
                release_promises_reason: args.release_promises,
            };
            let case = client.cases().resolve_case(request).await.map_err(failed)?.into_inner();
            print_case(&case);
        }
        cli::CasesCommand::Reply(args) => {
            let client = connect(&args.connection).await?;
            let visibility = if args.private { v1::ReplyVisibility::Private } else { v1::ReplyVisibility::Unspecified };
            let request = v1::ReplyToCaseRequest {
                case_id: args.id,
                text: args.text,
                interaction_id: args.interaction,
                visibility: visibility.into(),
                reply_id: args.reply_id,
                subject: String::new(),
                keeps_promise_id: args.keeps_promise,
            };
            let reply = client.cases().reply_to_case(request).await.map_err(failed)?.into_inner();
            println!("reply {} requested (answers interaction {})", reply.reply_id, reply.interaction_id);
        }
        cli::CasesCommand::Replies(args) => {
            let client = connect(&args.connection).await?;
            let mut replies = Vec::new();
            let mut page_token = String::new();
            loop {
                let request = v1::ListCaseRepliesRequest { case_id: args.id.clone(), page_size: 500, page_token };
                let page = client.cases().list_case_replies(request).await.map_err(failed)?.into_inner();
                replies.extend(page.replies);
                if page.next_page_token.is_empty() {
                    break;
                }
                page_token = page.next_page_token;
            }
            for reply in &replies {
                let status = v1::CaseReplyStatus::try_from(reply.status)
                    .map(|status| status.as_str_name().trim_start_matches("CASE_REPLY_STATUS_").to_lowercase())
                    .unwrap_or_default();
                let detail = if reply.reason.is_empty() { &reply.platform_message_id } else { &reply.reason };
                println!("{}  {:<9}  {}  {}", reply.reply_id, status, detail, reply.text);
            }
            if replies.is_empty() {
                println!("no replies on this case yet: `tend cases reply {{case}} --text …`");
            }
        }
        cli::CasesCommand::Move(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::TransitionCaseRequest {
                id: args.id,
                to: args.to.to_proto().into(),
                reason: args.reason,
                expected_version: args.expected.expected_version,
                release_promises_reason: args.release_promises,
            };
            print_case(&client.cases().transition_case(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Assign(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::AssignCaseRequest {
                id: args.id,
                agent_id: args.agent,
                reason: args.reason,
                expected_version: args.expected.expected_version,
            };
            print_case(&client.cases().assign_case(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Tag(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::TagCaseRequest {
                id: args.id,
                add: args.add,
                remove: args.remove,
                expected_version: args.expected.expected_version,
            };
            print_case(&client.cases().tag_case(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Priority(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::SetCasePriorityRequest {
                id: args.id,
                priority: args.priority,
                reason: args.reason,
                expected_version: args.expected.expected_version,
            };
            print_case(&client.cases().set_case_priority(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Note(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::AddCaseNoteRequest { case_id: args.id, text: args.text };
            print_entry(&client.cases().add_case_note(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Timeline(args) => {
            let client = connect(&args.list.connection).await?;
            let request = v1::ListCaseTimelineRequest {
                case_id: args.id,
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.cases().list_case_timeline(request).await.map_err(failed)?.into_inner();
            page.entries.iter().for_each(print_entry);
            print_next(&page.next_page_token);
        }
        cli::CasesCommand::History(args) => {
            let client = connect(&args.list.connection).await?;
            let request = v1::ListCustomerTimelineRequest {
                customer_id: args.customer,
                profile_id: args.profile,
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.cases().list_customer_timeline(request).await.map_err(failed)?.into_inner();
            for item in &page.items {
                let Some(entry) = &item.entry else { continue };
                print!("{:<9} case {}  ", channel_name(item.channel), entry.case_id);
                print_entry(entry);
            }
            if page.items.is_empty() {
                println!("no history: no cases of this customer yet");
            }
            print_next(&page.next_page_token);
        }
        cli::CasesCommand::Promise(args) => {
            let client = connect(&args.connection).await?;
            let due_at = parse_due(&args.by, chrono::Utc::now()).context("--by")?;
            let request = v1::PromiseFollowUpRequest {
                case_id: args.id,
                what: args.what,
                due_at: Some(tend_kernel::ids::to_timestamp(due_at)),
                expected_version: args.expected.expected_version,
            };
            print_promise(&client.cases().promise_follow_up(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Keep(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::KeepPromiseRequest { id: args.promise, note: args.note };
            print_promise(&client.cases().keep_promise(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Release(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ReleasePromiseRequest { id: args.promise, reason: args.reason };
            print_promise(&client.cases().release_promise(request).await.map_err(failed)?.into_inner());
        }
        cli::CasesCommand::Promises(args) => {
            let client = connect(&args.list.connection).await?;
            let view = match args.view {
                cli::PromiseViewArg::Open => v1::PromiseView::Open,
                cli::PromiseViewArg::DueSoon => v1::PromiseView::DueSoon,
                cli::PromiseViewArg::Overdue => v1::PromiseView::Overdue,
                cli::PromiseViewArg::Kept => v1::PromiseView::Kept,
                cli::PromiseViewArg::Released => v1::PromiseView::Released,
                cli::PromiseViewArg::All => v1::PromiseView::All,
            };
            let request = v1::ListPromisesRequest {
                view: view.into(),
                owner: args.owner,
                case_id: args.case_id,
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.cases().list_promises(request).await.map_err(failed)?.into_inner();
            for promise in &page.promises {
                println!(
                    "{}  {:<8}  due {}  case {}  {:<12}  {}",
                    promise.id,
                    promise_state(promise),
                    time(promise.due_at.as_ref()),
                    promise.case_id,
                    or_dash(&promise.owner),
                    one_line(&promise.what)
                );
            }
            if page.promises.is_empty() {
                println!("no such promises");
            }
            print_next(&page.next_page_token);
        }
        cli::CasesCommand::Escalate(args) => crate::departments_cmd::escalate(args).await?,
        cli::CasesCommand::Guide(args) => crate::guides_cmd::step(args).await?,
        cli::CasesCommand::Watch(args) => watch(args).await?,
        cli::CasesCommand::Answer(args) => crate::departments_cmd::answer(args).await?,
        cli::CasesCommand::Escalations(args) => crate::departments_cmd::escalations(args).await?,
        cli::CasesCommand::Retention(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::RecordRetentionOutcomeRequest {
                case_id: args.id,
                outcome: crate::departments_cmd::retention(args.outcome).into(),
                note: args.note,
                expected_version: args.expected.expected_version,
            };
            print_case(&client.cases().record_retention_outcome(request).await.map_err(failed)?.into_inner());
        }
    }
    Ok(())
}

/// `tend cases watch`: prints events as they come, until interrupted or the stream ends.
async fn watch(args: cli::WatchArgs) -> anyhow::Result<()> {
    let kinds = args
        .kinds
        .iter()
        .map(|kind| {
            let name = format!("CASE_EVENT_KIND_{}", kind.trim().to_uppercase().replace('-', "_"));
            v1::CaseEventKind::from_str_name(&name).map(i32::from).with_context(|| {
                format!("--kind {kind:?}: not a kind of case event (e.g. sla-breached, promise-overdue)")
            })
        })
        .collect::<anyhow::Result<Vec<_>>>()?;
    let start = if args.from_start { v1::WatchStart::Earliest } else { v1::WatchStart::Latest };
    let request = v1::WatchCasesRequest {
        cursor: args.cursor,
        start: start.into(),
        kinds,
        assignee: args.assignee,
        queue: args.queue,
        case_id: args.case_id,
        ..Default::default()
    };
    let client = connect(&args.connection).await?;
    let mut stream = client.cases().watch_cases(request).await.map_err(failed)?.into_inner();
    while let Some(update) = stream.message().await.map_err(failed)? {
        let Some(event) = &update.event else { continue };
        let kind = event.kind().as_str_name().trim_start_matches("CASE_EVENT_KIND_").to_lowercase();
        let Some(case) = &event.case else { continue };
        println!(
            "{}  {:<20} case {} v{:<3} {:<18} {}",
            update.cursor,
            kind,
            case.id,
            case.version,
            status_name(case.status),
            event.entry.as_ref().map(|entry| one_line(&entry.text)).unwrap_or_default()
        );
    }
    Ok(())
}

/// One line per case, then the next page's token.
pub fn print_case_lines(page: &v1::ListCasesResponse) {
    for case in &page.cases {
        println!(
            "{}  {:<8}  p{:<3}  {:<9}  {}",
            case.id,
            status_name(case.status),
            case.priority,
            channel_name(case.channel),
            case.subject
        );
    }
    print_next(&page.next_page_token);
}

/// When a promise is due: an RFC 3339 time, or a duration from `now` ("2h", "1d 4h").
fn parse_due(text: &str, now: chrono::DateTime<chrono::Utc>) -> anyhow::Result<chrono::DateTime<chrono::Utc>> {
    let text = text.trim();
    if let Ok(at) = chrono::DateTime::parse_from_rfc3339(text) {
        return Ok(at.with_timezone(&chrono::Utc));
    }
    let span = humantime::parse_duration(text.strip_prefix("in ").unwrap_or(text)).map_err(|error| {
        anyhow::anyhow!(
            "{text:?} is neither an RFC 3339 time (2026-12-04T17:00:00Z) nor a duration such as 2h ({error})"
        )
    })?;
    chrono::Duration::from_std(span)
        .ok()
        .and_then(|span| now.checked_add_signed(span))
        .with_context(|| format!("{text:?} is too far ahead"))
}

/// Where a promise stands, as one word; "overdue" for an open one found overdue.
fn promise_state(promise: &v1::Promise) -> String {
    match v1::PromiseState::try_from(promise.state) {
        Ok(v1::PromiseState::Open) if promise.overdue_at.is_some() => "overdue".to_owned(),
        Ok(v1::PromiseState::Open) if promise.due_soon_at.is_some() => "due-soon".to_owned(),
        Ok(state) => state.as_str_name().trim_start_matches("PROMISE_STATE_").to_lowercase(),
        Err(_) => "-".to_owned(),
    }
}

fn print_promise(promise: &v1::Promise) {
    println!("promise:     {}", promise.id);
    println!("case:        {}", promise.case_id);
    println!("state:       {}", promise_state(promise));
    println!("what:        {}", promise.what);
    println!("due at:      {}", time(promise.due_at.as_ref()));
    println!("promised by: {}", promise.promised_by);
    println!("owner:       {}", or_dash(&promise.owner));
    if promise.settled_at.is_some() {
        println!("settled at:  {} by {}", time(promise.settled_at.as_ref()), promise.settled_by);
    }
    if !promise.reply_id.is_empty() {
        println!("reply:       {}", promise.reply_id);
    }
    if !promise.note.is_empty() {
        println!("note:        {}", promise.note);
    }
}

/// `tend profiles …`.
pub async fn profiles(command: cli::ProfilesCommand) -> anyhow::Result<()> {
    match command {
        cli::ProfilesCommand::List(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListProfilesRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.identity().list_profiles(request).await.map_err(failed)?.into_inner();
            for profile in &page.profiles {
                println!(
                    "{}  {:<9}  @{:<16}  {}",
                    profile.id,
                    channel_name(profile.channel),
                    profile.handle,
                    identity_name(profile.status)
                );
            }
            print_next(&page.next_page_token);
        }
        cli::ProfilesCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetProfileRequest { id: args.id };
            let profile = client.identity().get_profile(request).await.map_err(failed)?.into_inner();
            println!("id:         {}", profile.id);
            println!("channel:    {} ({})", channel_name(profile.channel), profile.external_id);
            println!("handle:     @{} {}", profile.handle, profile.display_name);
            println!("status:     {}", identity_name(profile.status));
            println!("customer:   {}", or_dash(&profile.customer_id));
            println!("first seen: {}", time(profile.first_seen_at.as_ref()));
            println!("last seen:  {}", time(profile.last_seen_at.as_ref()));
        }
    }
    Ok(())
}

/// `tend decisions …`.
pub async fn decisions(command: cli::DecisionsCommand) -> anyhow::Result<()> {
    match command {
        cli::DecisionsCommand::List(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ListRoutingDecisionsRequest { page_size: args.limit, page_token: args.page_token };
            let page = client.routing().list_routing_decisions(request).await.map_err(failed)?.into_inner();
            for decision in &page.decisions {
                println!("{}", describe_decision_line(decision));
            }
            print_next(&page.next_page_token);
        }
        cli::DecisionsCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetRoutingDecisionRequest { interaction_id: args.id };
            let decision = client.routing().get_routing_decision(request).await.map_err(failed)?.into_inner();
            print!("{}", describe_decision(&decision, &chrono::Local));
        }
    }
    Ok(())
}

/// One line of `tend decisions list`: interaction, priority, queue, and the case or why there is
/// none.
fn describe_decision_line(decision: &v1::RoutingDecision) -> String {
    let queue = decision.outcome.as_ref().map_or("-", |outcome| or_dash(&outcome.queue));
    let case = if decision.actionable || !decision.case_id.is_empty() {
        format!("case {}", decision.case_id)
    } else {
        format!("not actionable ({})", or_dash(&decision.not_actionable_reason))
    };
    format!("{}  p{:<3}  {queue:<16}  {case}", decision.interaction_id, decision.priority)
}

/// A routing decision as `tend decisions get` prints it: the priority term by term, where the
/// work goes, its SLA deadlines in `zone`, and the rules behind it.
fn describe_decision<Tz>(decision: &v1::RoutingDecision, zone: &Tz) -> String
where
    Tz: chrono::TimeZone,
    Tz::Offset: std::fmt::Display,
{
    let mut out = String::new();
    field(&mut out, "interaction", &decision.interaction_id);
    if decision.actionable || !decision.case_id.is_empty() {
        field(&mut out, "case", or_dash(&decision.case_id));
    } else {
        let reason = or_dash(&decision.not_actionable_reason);
        field(&mut out, "actionable", &format!("no ({reason}); no case opened"));
    }
    field(&mut out, "decided at", &time_in(decision.decided_at.as_ref(), zone));
    field(&mut out, "priority", &decision.priority.to_string());
    let Some(outcome) = &decision.outcome else {
        // A decision recorded before routing kept its outcome: only the reasons are known.
        for reason in &decision.reasons {
            let _ = writeln!(out, "  {reason}");
        }
        return out;
    };
    let width = outcome.priority_terms.iter().map(|term| term.name.chars().count()).max().unwrap_or(0);
    for term in &outcome.priority_terms {
        let text = format!("  {:>+4} {:<width$}  {}", term.points, term.name, term.detail);
        let _ = writeln!(out, "{}", text.trim_end());
    }
    field(&mut out, "queue", or_dash(&outcome.queue));
    field(&mut out, "department", or_dash(&outcome.department));
    let skills: Vec<String> =
        outcome.skills.iter().map(|skill| format!("{}:{}", skill.skill, skill.level.max(1))).collect();
    field(&mut out, "skills", or_dash(&skills.join(", ")));
    field(&mut out, "language", or_dash(&outcome.language));
    field(&mut out, "tags", or_dash(&outcome.tags.join(", ")));
    match outcome.sla.as_ref().filter(|sla| !sla.policy.is_empty()) {
        None => field(&mut out, "sla policy", "none"),
        Some(sla) => {
            let calendar = if sla.calendar.is_empty() {
                "around the clock".to_owned()
            } else {
                format!("calendar {}", sla.calendar)
            };
            field(&mut out, "sla policy", &format!("{} ({calendar})", sla.policy));
            let due = |due: Option<&prost_types::Timestamp>, warn: Option<&prost_types::Timestamp>| {
                format!("due {}, warn {}", time_in(due, zone), time_in(warn, zone))
            };
            let first_response = due(sla.first_response_due.as_ref(), sla.first_response_warn.as_ref());
            field(&mut out, "  first reply", &first_response);
            field(&mut out, "  resolution", &due(sla.resolution_due.as_ref(), sla.resolution_warn.as_ref()));
            if sla.next_response_seconds > 0 {
                let within = humantime::format_duration(Duration::from_secs(sla.next_response_seconds));
                field(&mut out, "  next reply", &format!("within {within} of each customer message"));
            }
        }
    }
    if outcome.rule_set_version == 0 {
        field(&mut out, "rule set", "built-in defaults");
    } else {
        field(&mut out, "rule set", &format!("version {}", outcome.rule_set_version));
    }
    field(&mut out, "rules fired", or_dash(&outcome.rules_fired.join(", ")));
    if decision.rule_errors.is_empty() {
        field(&mut out, "rule errors", "none");
    } else {
        field(&mut out, "rule errors", &decision.rule_errors.len().to_string());
        for error in &decision.rule_errors {
            let _ = writeln!(out, "  {error}");
        }
    }
    out
}

/// Appends one `label:  value` line, the values aligned.
fn field(out: &mut String, label: &str, value: &str) {
    let _ = writeln!(out, "{:<15}{value}", format!("{label}:"));
}

/// `tend health`: the status of the server and each Tend service.
pub async fn health(connection: Connection) -> anyhow::Result<()> {
    let client = connect(&connection).await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(client.channel());
    let mut all_serving = true;
    for service in [
        "",
        "tend.v1.IngestService",
        "tend.v1.EnrichmentService",
        "tend.v1.IdentityService",
        "tend.v1.RoutingService",
        "tend.v1.QueueService",
        "tend.v1.CaseService",
        "tend.v1.FeedbackService",
    ] {
        let request = tonic_health::pb::HealthCheckRequest { service: service.to_owned() };
        let status = match health.check(request).await {
            Ok(response) => format!("{:?}", response.into_inner().status()),
            Err(status) if status.code() == tonic::Code::NotFound => "not running here".to_owned(),
            Err(status) => return Err(failed(status)),
        };
        all_serving &= status == "Serving" || status == "not running here";
        println!("{:<24} {status}", if service.is_empty() { "(server)" } else { service });
    }
    if !all_serving {
        bail!("not every service is serving");
    }
    Ok(())
}

pub fn print_case(case: &v1::Case) {
    println!("case:        {}", case.id);
    println!("version:     {}", case.version);
    println!("status:      {}", status_name(case.status));
    println!("priority:    {}", case.priority);
    println!("assignee:    {}", or_dash(&case.assignee));
    println!("tags:        {}", if case.tags.is_empty() { "-".to_owned() } else { case.tags.join(", ") });
    if case.open_promises > 0 {
        println!("promises:    {} open, next due {}", case.open_promises, time(case.next_promise_due_at.as_ref()));
    }
    if !case.department.is_empty() {
        println!("department:  {} (waiting for its answer)", case.department);
    }
    if case.department_seconds > 0 {
        println!("in depts:    {}", humantime::format_duration(Duration::from_secs(case.department_seconds)));
    }
    if let Some(outcome) = crate::departments_cmd::retention_label(case.retention_outcome) {
        println!("retention:   {outcome}");
    }
    println!("channel:     {}", channel_name(case.channel));
    println!("subject:     {}", case.subject);
    println!("profile:     {}", or_dash(&case.profile_id));
    println!("customer:    {}", or_dash(&case.customer_id));
    println!("opened at:   {}", time(case.opened_at.as_ref()));
    if case.resolved_at.is_some() {
        println!("resolved at: {}", time(case.resolved_at.as_ref()));
        println!("note:        {}", case.resolution_note);
    }
    println!("interactions: {}", case.interaction_ids.join(", "));
}

/// One line per timeline entry: when, who, what, and why.
fn print_entry(entry: &v1::CaseTimelineEntry) {
    let kind = v1::CaseTimelineKind::try_from(entry.kind)
        .map(|kind| kind.as_str_name().trim_start_matches("CASE_TIMELINE_KIND_").to_lowercase())
        .unwrap_or_default();
    let what = match v1::CaseTimelineKind::try_from(entry.kind) {
        Ok(v1::CaseTimelineKind::StatusChanged) => {
            format!("{} -> {}", status_name(entry.from_status), status_name(entry.to_status))
        }
        Ok(v1::CaseTimelineKind::Assigned) => format!("to {}", or_dash(&entry.assignee)),
        Ok(v1::CaseTimelineKind::PriorityChanged) => format!("to {}", entry.priority),
        Ok(v1::CaseTimelineKind::Tagged) => {
            let added = entry.tags_added.iter().map(|tag| format!("+{tag}"));
            added.chain(entry.tags_removed.iter().map(|tag| format!("-{tag}"))).collect::<Vec<_>>().join(" ")
        }
        Ok(v1::CaseTimelineKind::Opened) => format!("by {}", entry.interaction_id),
        Ok(v1::CaseTimelineKind::PromiseOverdue) => format!("{} (priority to {})", entry.text, entry.priority),
        _ => entry.text.clone(),
    };
    // A change that also moved the case (an assignment taking a new case) says so.
    let what = if entry.to_status != 0 && entry.kind != i32::from(v1::CaseTimelineKind::StatusChanged) {
        format!("{what} ({} -> {})", status_name(entry.from_status), status_name(entry.to_status))
    } else {
        what
    };
    let why = if entry.reason.is_empty() { String::new() } else { format!("  ({})", entry.reason) };
    println!("{}  v{:<3} {:<18} {:<16} {what}{why}", time(entry.at.as_ref()), entry.version, kind, entry.actor);
}

pub fn print_next(token: &str) {
    if !token.is_empty() {
        println!("(more: --page-token {token})");
    }
}

/// The name the command line (and its files) use for a channel.
pub fn channel_name(channel: i32) -> &'static str {
    match v1::Channel::try_from(channel) {
        Ok(v1::Channel::X) => "x",
        Ok(v1::Channel::Facebook) => "facebook",
        Ok(v1::Channel::Instagram) => "instagram",
        Ok(v1::Channel::Email) => "email",
        Ok(v1::Channel::Chat) => "chat",
        Ok(v1::Channel::Review) => "review",
        _ => "?",
    }
}

fn status_name(status: i32) -> &'static str {
    match v1::CaseStatus::try_from(status) {
        Ok(v1::CaseStatus::New) => "new",
        Ok(v1::CaseStatus::Open) => "open",
        Ok(v1::CaseStatus::PendingCustomer) => "pending-customer",
        Ok(v1::CaseStatus::PendingDepartment) => "pending-department",
        Ok(v1::CaseStatus::Resolved) => "resolved",
        Ok(v1::CaseStatus::Closed) => "closed",
        Ok(v1::CaseStatus::Reopened) => "reopened",
        _ => "?",
    }
}

fn identity_name(status: i32) -> &'static str {
    match v1::IdentityStatus::try_from(status) {
        Ok(v1::IdentityStatus::Linked) => "linked",
        Ok(v1::IdentityStatus::Candidate) => "candidate",
        Ok(v1::IdentityStatus::Unknown) => "unknown",
        _ => "?",
    }
}

pub fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|at| tend_kernel::ids::from_timestamp("", at).ok())
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_owned())
}

/// A time in `zone`, RFC 3339 to the second; "-" when unset.
pub fn time_in<Tz>(timestamp: Option<&prost_types::Timestamp>, zone: &Tz) -> String
where
    Tz: chrono::TimeZone,
    Tz::Offset: std::fmt::Display,
{
    timestamp
        .and_then(|at| tend_kernel::ids::from_timestamp("", at).ok())
        .map(|at| at.with_timezone(zone).to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_owned())
}

pub fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

pub fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 80 { format!("{}…", line.chars().take(79).collect::<String>()) } else { line }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decision() -> v1::RoutingDecision {
        let at = |seconds| Some(prost_types::Timestamp { seconds, nanos: 0 });
        v1::RoutingDecision {
            interaction_id: "i-1".into(),
            case_id: "c-1".into(),
            priority: 72,
            reasons: vec!["+15 influence (25000 followers)".into()],
            decided_at: at(1_800_000_000),
            outcome: Some(v1::RoutingOutcome {
                queue: "retention".into(),
                department: "retention".into(),
                skills: vec![
                    v1::SkillRequirement { skill: "retention".into(), level: 0 },
                    v1::SkillRequirement { skill: "billing".into(), level: 3 },
                ],
                language: "es".into(),
                tags: vec!["vip".into()],
                sla: Some(v1::SlaDeadlines {
                    policy: "social-vip".into(),
                    calendar: "uk-support".into(),
                    first_response_due: at(1_800_003_600),
                    first_response_warn: at(1_800_002_880),
                    resolution_due: at(1_800_086_400),
                    resolution_warn: at(1_800_069_120),
                    next_response_seconds: 7200,
                    warn_at_percent: 80,
                    hours: None,
                }),
                priority_terms: vec![
                    v1::PriorityTerm { name: "base".into(), points: 30, detail: String::new() },
                    v1::PriorityTerm { name: "influence".into(), points: 15, detail: "25000 followers".into() },
                    v1::PriorityTerm { name: "sentiment".into(), points: -3, detail: "mildly negative".into() },
                ],
                rule_set_version: 4,
                rules_fired: vec!["vip-tier".into(), "churn-to-retention".into()],
                segment: "enterprise".into(),
                lifetime_value: 0.0,
            }),
            actionable: true,
            not_actionable_reason: String::new(),
            rule_errors: vec!["broken: no such key: teir".into()],
        }
    }

    #[test]
    fn a_decision_shows_its_terms_and_deadlines() {
        let text = describe_decision(&decision(), &chrono::Utc);
        for expected in [
            "case:          c-1\n",
            "priority:      72\n",
            "   +30 base\n",
            "   +15 influence  25000 followers\n",
            "    -3 sentiment  mildly negative\n",
            "queue:         retention\n",
            "skills:        retention:1, billing:3\n",
            "language:      es\n",
            "tags:          vip\n",
            "sla policy:    social-vip (calendar uk-support)\n",
            "  first reply: due 2027-01-15T09:00:00Z, warn 2027-01-15T08:48:00Z\n",
            "  resolution:  due 2027-01-16T08:00:00Z, warn 2027-01-16T03:12:00Z\n",
            "  next reply:  within 2h of each customer message\n",
            "rule set:      version 4\n",
            "rules fired:   vip-tier, churn-to-retention\n",
            "rule errors:   1\n  broken: no such key: teir\n",
        ] {
            assert!(text.contains(expected), "{expected:?} in\n{text}");
        }
    }

    #[test]
    fn a_decision_without_a_case_says_why() {
        let mut decision = decision();
        decision.case_id.clear();
        decision.actionable = false;
        decision.not_actionable_reason = "rule spam-filter".into();
        if let Some(outcome) = decision.outcome.as_mut() {
            outcome.rule_set_version = 0;
            outcome.sla = None;
        }
        let text = describe_decision(&decision, &chrono::Utc);
        assert!(text.contains("actionable:    no (rule spam-filter); no case opened\n"), "{text}");
        assert!(text.contains("rule set:      built-in defaults\n"), "{text}");
        assert!(text.contains("sla policy:    none\n"), "{text}");
        assert_eq!(describe_decision_line(&decision), "i-1  p72   retention         not actionable (rule spam-filter)");
        decision.outcome = None;
        let text = describe_decision(&decision, &chrono::Utc);
        assert!(text.ends_with("priority:      72\n  +15 influence (25000 followers)\n"), "{text}");
        assert_eq!(describe_decision_line(&decision), "i-1  p72   -                 not actionable (rule spam-filter)");
    }
}
