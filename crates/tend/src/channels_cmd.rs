//! `tend channels …`: the monitored-channels registry from the command line (docs/CHANNELS.md).

use std::collections::HashMap;
use std::fmt::Write as _;

use anyhow::bail;
use tend_proto::v1;

use crate::cli::{self, ChannelsCommand};
use crate::commands::{channel_name, connect, failed};
use crate::rules_cmd::{CalendarFile, read_file};

/// Runs one `tend channels` command.
pub async fn channels(command: ChannelsCommand) -> anyhow::Result<()> {
    match command {
        ChannelsCommand::Add(args) => add(args).await,
        ChannelsCommand::List(connection) => list(connection).await,
        ChannelsCommand::Get(args) => get(args).await,
        ChannelsCommand::Disable(args) => disable(args).await,
    }
}

/// `KEY=VALUE` pairs, each key once.
fn pairs(flag: &str, given: &[String]) -> anyhow::Result<HashMap<String, String>> {
    let mut pairs = HashMap::new();
    for pair in given {
        let Some((key, value)) = pair.split_once('=') else {
            bail!("--{flag} {pair:?}: write it as KEY=VALUE");
        };
        if pairs.insert(key.trim().to_owned(), value.to_owned()).is_some() {
            bail!("--{flag}: {key} is given twice");
        }
    }
    Ok(pairs)
}

/// Secrets from `KEY=VALUE`: `env:NAME` and `file:/path` are references the server resolves,
/// anything else a value it stores encrypted.
fn secrets(flag: &str, given: &[String]) -> anyhow::Result<HashMap<String, v1::SecretValue>> {
    Ok(pairs(flag, given)?
        .into_iter()
        .map(|(key, value)| {
            let source = if value.starts_with("env:") || value.starts_with("file:") {
                v1::secret_value::Source::Reference(value)
            } else {
                v1::secret_value::Source::Value(value)
            };
            (key, v1::SecretValue { source: Some(source) })
        })
        .collect())
}

/// A quota written `REPLIES/PERIOD`, e.g. `100/15m`.
fn quota(flag: &str, text: Option<&str>) -> anyhow::Result<Option<v1::ReplyQuota>> {
    let Some(text) = text else { return Ok(None) };
    let quota = tend_channels::outbound::Quota::parse(text)
        .map_err(|problem| anyhow::anyhow!("--{flag} {text:?}: {problem}"))?;
    Ok(Some(v1::ReplyQuota { burst: quota.burst(), per: prost_types::Duration::try_from(quota.per()).ok() }))
}

/// Account hours from a calendar file (docs/examples/calendar.yaml; its name is not used).
fn hours(path: Option<&std::path::Path>) -> anyhow::Result<Option<v1::AccountHours>> {
    let Some(path) = path else { return Ok(None) };
    let calendar = read_file::<CalendarFile>(path)?.into_proto();
    Ok(Some(v1::AccountHours {
        time_zone: calendar.time_zone,
        periods: calendar
            .periods
            .into_iter()
            .map(|period| v1::StaffedPeriod { weekday: period.weekday, start: period.start, end: period.end })
            .collect(),
        closed_days: calendar
            .holidays
            .into_iter()
            .map(|day| v1::ClosedDay { date: day.date, name: day.name })
            .collect(),
    }))
}

/// `tend channels add`: the app (when `--platform` is given) and the account.
async fn add(args: Box<cli::ChannelsAddArgs>) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    if let Some(platform) = args.platform {
        let request = v1::UpsertAppRequest {
            name: args.app.clone(),
            platform: v1::Platform::from(platform).into(),
            settings: pairs("setting", &args.settings)?,
            secrets: secrets("secret", &args.secrets)?,
        };
        let app = client.channels().upsert_app(request).await.map_err(failed)?.into_inner();
        println!("app {} saved (secrets set: {})", app.name, list_or_none(&app.secrets));
    } else if !args.settings.is_empty() || !args.secrets.is_empty() {
        bail!("--setting and --secret belong to the app: give --platform too, to create or replace it");
    }
    let request = v1::UpsertAccountRequest {
        app: args.app,
        channel: v1::Channel::from(args.channel).into(),
        platform_account_id: args.account_id,
        display_name: args.name.unwrap_or_default(),
        enabled: Some(true),
        is_default: args.default,
        hours: hours(args.hours.as_deref())?,
        public_quota: quota("public-quota", args.public_quota.as_deref())?,
        private_quota: quota("private-quota", args.private_quota.as_deref())?,
        settings: pairs("account-setting", &args.account_settings)?,
        secrets: secrets("account-secret", &args.account_secrets)?,
    };
    let account = client.channels().upsert_account(request).await.map_err(failed)?.into_inner();
    println!("account {} saved: {} {}", account.id, channel_name(account.channel), account.platform_account_id);
    println!("{}", webhook_hint(&account));
    Ok(())
}

/// Where the platform should deliver to.
fn webhook_hint(account: &v1::ChannelAccount) -> String {
    match v1::Channel::try_from(account.channel) {
        Ok(v1::Channel::X) => "  webhook: /webhooks/x (see docs/CHANNELS.md)".to_owned(),
        Ok(v1::Channel::Facebook | v1::Channel::Instagram) => "  webhook: /webhooks/meta".to_owned(),
        Ok(v1::Channel::Email) => format!("  polled over IMAP, or POST raw mail to /webhooks/email/{}", account.id),
        _ => format!("  webhook: /webhooks/generic/{}", account.id),
    }
}

fn list_or_none(names: &[String]) -> String {
    if names.is_empty() { "none".to_owned() } else { names.join(", ") }
}

fn describe(account: &v1::ChannelAccount) -> String {
    let mut text = format!(
        "{}  {:<9} {:<28} app {}{}{}",
        account.id,
        channel_name(account.channel),
        account.platform_account_id,
        account.app,
        if account.is_default { "  default" } else { "" },
        if account.enabled { "" } else { "  DISABLED" },
    );
    if !account.display_name.is_empty() {
        let _ = write!(text, "  ({})", account.display_name);
    }
    text
}

/// `tend channels list`.
async fn list(connection: cli::Connection) -> anyhow::Result<()> {
    let client = connect(&connection).await?;
    let listed = client.channels().list_channels(v1::ListChannelsRequest {}).await.map_err(failed)?.into_inner();
    if listed.apps.is_empty() {
        println!("no channels registered: `tend channels add --help` says how");
        return Ok(());
    }
    println!("apps:");
    for app in &listed.apps {
        let platform = v1::Platform::try_from(app.platform).map(|p| p.as_str_name()).unwrap_or("?");
        println!("  {:<20} {:<16} secrets: {}", app.name, platform, list_or_none(&app.secrets));
    }
    println!("accounts:");
    for account in &listed.accounts {
        println!("  {}", describe(account));
    }
    Ok(())
}

/// `tend channels get`.
async fn get(args: cli::ChannelIdArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let account = client.channels().get_channel(v1::GetChannelRequest { id: args.id }).await.map_err(failed)?;
    let account = account.into_inner();
    println!("{}", describe(&account));
    println!("  secrets: {}", list_or_none(&account.secrets));
    let mut settings: Vec<_> = account.settings.iter().collect();
    settings.sort();
    for (key, value) in settings {
        println!("  {key} = {value}");
    }
    for (kind, quota) in [("public", &account.public_quota), ("private", &account.private_quota)] {
        if let Some(quota) = quota {
            let per = quota.per.as_ref().map(|per| per.seconds).unwrap_or(0);
            println!(
                "  {kind} quota: {} per {}",
                quota.burst,
                humantime::format_duration(std::time::Duration::from_secs(per.unsigned_abs()))
            );
        }
    }
    if let Some(hours) = &account.hours {
        println!(
            "  hours: {}, {} periods a week, {} closed days",
            hours.time_zone,
            hours.periods.len(),
            hours.closed_days.len()
        );
    }
    println!("{}", webhook_hint(&account));
    Ok(())
}

/// `tend channels disable`.
async fn disable(args: cli::ChannelIdArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::DisableAccountRequest { id: args.id };
    let account = client.channels().disable_account(request).await.map_err(failed)?.into_inner();
    println!("account {} disabled: its deliveries are refused", account.id);
    Ok(())
}
