//! Client sub-commands: call a running Tend over gRPC and print what it says.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail};
use tend_proto::v1;

use crate::cli::{self, Connection, StatusArg};

/// A connection to a running Tend: every call carries the API key and tenant of `--api-key`
/// and `--tenant`.
pub type Client = tend_client::Connection;

/// Connects to `connection.endpoint`, failing at once with a clear message if nothing answers.
pub async fn connect(connection: &Connection) -> anyhow::Result<Client> {
    let channel = tonic::transport::Endpoint::from_shared(connection.endpoint.clone())
        .with_context(|| format!("{:?} is not an endpoint like http://127.0.0.1:50051", connection.endpoint))?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .with_context(|| format!("cannot reach Tend at {} (is `tend dev` running?)", connection.endpoint))?;
    let credentials = tend_client::Credentials { api_key: connection.api_key.clone() };
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
        let decision = wait_for_case(&client, &interaction.id, Duration::from_secs(15)).await?;
        let case =
            client.cases().get_case(v1::GetCaseRequest { id: decision.case_id }).await.map_err(failed)?.into_inner();
        println!("routed with priority {} ({})", decision.priority, decision.reasons.join(", "));
        print_case(&case);
    }
    Ok(())
}

async fn wait_for_case(client: &Client, interaction_id: &str, limit: Duration) -> anyhow::Result<v1::RoutingDecision> {
    let started = Instant::now();
    loop {
        let request = v1::GetRoutingDecisionRequest { interaction_id: interaction_id.to_owned() };
        match client.routing().get_routing_decision(request).await {
            Ok(decision) => return Ok(decision.into_inner()),
            Err(status) if status.code() == tonic::Code::NotFound && started.elapsed() < limit => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(status) if status.code() == tonic::Code::NotFound => {
                bail!("no case for interaction {interaction_id} after {limit:?}; is routing running?")
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
            let status = match args.status {
                None => v1::CaseStatus::Unspecified,
                Some(StatusArg::Open) => v1::CaseStatus::Open,
                Some(StatusArg::Resolved) => v1::CaseStatus::Resolved,
            };
            let request = v1::ListCasesRequest {
                status: status.into(),
                page_size: args.list.limit,
                page_token: args.list.page_token,
            };
            let page = client.cases().list_cases(request).await.map_err(failed)?.into_inner();
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
        cli::CasesCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let case = client.cases().get_case(v1::GetCaseRequest { id: args.id }).await.map_err(failed)?.into_inner();
            print_case(&case);
        }
        cli::CasesCommand::Resolve(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::ResolveCaseRequest { id: args.id, note: args.note };
            let case = client.cases().resolve_case(request).await.map_err(failed)?.into_inner();
            print_case(&case);
        }
    }
    Ok(())
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
                println!("{}  case {}  p{}", decision.interaction_id, decision.case_id, decision.priority);
            }
            print_next(&page.next_page_token);
        }
        cli::DecisionsCommand::Get(args) => {
            let client = connect(&args.connection).await?;
            let request = v1::GetRoutingDecisionRequest { interaction_id: args.id };
            let decision = client.routing().get_routing_decision(request).await.map_err(failed)?.into_inner();
            println!("interaction: {}", decision.interaction_id);
            println!("case:        {}", decision.case_id);
            println!("priority:    {}", decision.priority);
            for reason in &decision.reasons {
                println!("  {reason}");
            }
        }
    }
    Ok(())
}

/// `tend report`.
pub async fn report(args: cli::ReportArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::GetServiceReportRequest {
        from: args.from.map(tend_kernel::ids::to_timestamp),
        to: args.to.map(tend_kernel::ids::to_timestamp),
    };
    let report = client.feedback().get_service_report(request).await.map_err(failed)?.into_inner();
    println!("cases opened:    {}", report.cases_opened);
    println!("cases resolved:  {}", report.cases_resolved);
    println!("mean to resolve: {:.1}s", report.mean_seconds_to_resolve);
    Ok(())
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

fn print_case(case: &v1::Case) {
    println!("case:        {}", case.id);
    println!("status:      {}", status_name(case.status));
    println!("priority:    {}", case.priority);
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

pub fn print_next(token: &str) {
    if !token.is_empty() {
        println!("(more: --page-token {token})");
    }
}

fn channel_name(channel: i32) -> &'static str {
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
        Ok(v1::CaseStatus::Open) => "open",
        Ok(v1::CaseStatus::Resolved) => "resolved",
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

fn time(timestamp: Option<&prost_types::Timestamp>) -> String {
    timestamp
        .and_then(|at| tend_kernel::ids::from_timestamp("", at).ok())
        .map(|at| at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_else(|| "-".to_owned())
}

fn or_dash(value: &str) -> &str {
    if value.is_empty() { "-" } else { value }
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 80 { format!("{}…", line.chars().take(79).collect::<String>()) } else { line }
}
