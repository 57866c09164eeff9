//! `tend departments …` and the escalation commands of `tend cases`: a direct line into every
//! department (docs/CASES.md).

use tend_proto::v1;

use crate::cli::{self, DepartmentsCommand, RetentionArg};
use crate::commands::{connect, failed, one_line, or_dash, time};

/// Runs one `tend departments` command.
pub async fn departments(command: DepartmentsCommand) -> anyhow::Result<()> {
    match command {
        DepartmentsCommand::Put(args) => {
            let client = connect(&args.connection).await?;
            let answer_within_seconds = u32::try_from(args.answer_within.as_secs())
                .map_err(|_| anyhow::anyhow!("--answer-within: at most 30 days"))?;
            let department = v1::Department {
                name: args.name,
                display_name: args.display_name,
                contact: args.contact,
                answer_within_seconds,
                disabled: args.disabled,
                ..Default::default()
            };
            let request = v1::UpsertDepartmentRequest { department: Some(department) };
            let saved = client.cases().upsert_department(request).await.map_err(failed)?.into_inner();
            println!("department {} saved", saved.name);
            print_department(&saved);
        }
        DepartmentsCommand::List(connection) => {
            let client = connect(&connection).await?;
            let request = v1::ListDepartmentsRequest {};
            let listed = client.cases().list_departments(request).await.map_err(failed)?.into_inner().departments;
            listed.iter().for_each(print_department);
            if listed.is_empty() {
                println!("no departments yet: `tend departments put billing --contact billing@example.com`");
            }
        }
    }
    Ok(())
}

fn print_department(department: &v1::Department) {
    let within = humantime::format_duration(std::time::Duration::from_secs(department.answer_within_seconds.into()));
    let disabled = if department.disabled { "  (disabled)" } else { "" };
    println!(
        "{:<16} answers within {:<10} {:<24} {}{disabled}",
        department.name,
        within.to_string(),
        department.display_name,
        or_dash(&department.contact)
    );
}

/// `tend cases escalate`.
pub async fn escalate(args: cli::EscalateArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::EscalateToDepartmentRequest {
        case_id: args.id,
        department: args.department,
        reason: args.reason,
        root_cause: args.root_cause,
        expected_version: args.expected.expected_version,
    };
    print_escalation(&client.cases().escalate_to_department(request).await.map_err(failed)?.into_inner());
    Ok(())
}

/// `tend cases answer`.
pub async fn answer(args: cli::AnswerArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::AnswerEscalationRequest {
        case_id: args.id,
        answer: args.answer,
        retention_outcome: args.retention.map_or(v1::RetentionOutcome::Unspecified, retention).into(),
    };
    print_escalation(&client.cases().answer_escalation(request).await.map_err(failed)?.into_inner());
    Ok(())
}

/// `tend cases escalations`.
pub async fn escalations(args: cli::EscalationsArgs) -> anyhow::Result<()> {
    let client = connect(&args.list.connection).await?;
    let state = match args.state {
        None => v1::EscalationState::Unspecified,
        Some(cli::EscalationStateArg::Open) => v1::EscalationState::Open,
        Some(cli::EscalationStateArg::Answered) => v1::EscalationState::Answered,
        Some(cli::EscalationStateArg::Withdrawn) => v1::EscalationState::Withdrawn,
    };
    let request = v1::ListEscalationsRequest {
        department: args.department,
        case_id: args.case_id,
        state: state.into(),
        page_size: args.list.limit,
        page_token: args.list.page_token,
    };
    let page = client.cases().list_escalations(request).await.map_err(failed)?.into_inner();
    for escalation in &page.escalations {
        println!(
            "{}  {:<10} {:<12} case {}  due {}  {}",
            escalation.id,
            state_name(escalation),
            escalation.department,
            escalation.case_id,
            time(escalation.due_at.as_ref()),
            one_line(&escalation.reason)
        );
    }
    if page.escalations.is_empty() {
        println!("no such escalations");
    }
    crate::commands::print_next(&page.next_page_token);
    Ok(())
}

/// The contract's retention outcome.
pub fn retention(outcome: RetentionArg) -> v1::RetentionOutcome {
    match outcome {
        RetentionArg::Pending => v1::RetentionOutcome::Pending,
        RetentionArg::Saved => v1::RetentionOutcome::Saved,
        RetentionArg::Lost => v1::RetentionOutcome::Lost,
    }
}

/// A retention outcome as one word; `None` when none was recorded.
pub fn retention_label(outcome: i32) -> Option<String> {
    match v1::RetentionOutcome::try_from(outcome) {
        Ok(v1::RetentionOutcome::Unspecified) | Err(_) => None,
        Ok(outcome) => Some(outcome.as_str_name().trim_start_matches("RETENTION_OUTCOME_").to_lowercase()),
    }
}

/// Where an escalation stands, as one word; "overdue" for an open one past its time.
fn state_name(escalation: &v1::Escalation) -> String {
    match v1::EscalationState::try_from(escalation.state) {
        Ok(v1::EscalationState::Open) if escalation.overdue_at.is_some() => "overdue".to_owned(),
        Ok(state) => state.as_str_name().trim_start_matches("ESCALATION_STATE_").to_lowercase(),
        Err(_) => "-".to_owned(),
    }
}

fn print_escalation(escalation: &v1::Escalation) {
    println!("escalation:  {}", escalation.id);
    println!("case:        {}", escalation.case_id);
    println!("department:  {}", escalation.department);
    println!("state:       {}", state_name(escalation));
    println!("reason:      {}", escalation.reason);
    println!("root cause:  {}", escalation.root_cause);
    println!("escalated:   {} by {}", time(escalation.escalated_at.as_ref()), escalation.escalated_by);
    println!("due at:      {}", time(escalation.due_at.as_ref()));
    if !escalation.answer.is_empty() {
        println!("answer:      {}", escalation.answer);
        println!("answered:    {} by {}", time(escalation.ended_at.as_ref()), escalation.answered_by);
    }
    let spent = humantime::format_duration(std::time::Duration::from_secs(escalation.seconds_in_department));
    println!("in dept:     {spent}");
}
