//! Email accounts: their app's settings read as IMAP and SMTP configurations, the mailbox
//! poller that takes new mail in, and the SMTP send of email replies.

pub mod cursors;
mod poller;

use std::path::PathBuf;
use std::time::Duration;

use tend_mailbox::{ImapConfig, Security, SmtpConfig};

use crate::registry::{Account, App, Channels};

pub use poller::wanted as wanted_pollers;

/// The default IMAPS and SMTPS ports (implicit TLS, RFC 8314).
const IMAPS_PORT: u16 = 993;
const SMTPS_PORT: u16 = 465;

fn security(value: Option<&String>) -> Security {
    match value.map(String::as_str) {
        Some("starttls") => Security::StartTls,
        Some("plain") => Security::Plain,
        _ => Security::Tls,
    }
}

fn port(value: Option<&String>, default: u16) -> u16 {
    value.and_then(|port| port.parse().ok()).unwrap_or(default)
}

/// The mailbox login: the app's `username`, else the account's address.
fn username(app: &App, account: &Account) -> String {
    app.settings.get("username").cloned().unwrap_or_else(|| account.platform_account_id.clone())
}

/// The password secret, or why there is none.
fn password(channels: &Channels, account: &Account) -> Result<String, String> {
    match channels.secret(account, "password") {
        Ok(Some(password)) => Ok(password),
        Ok(None) => Err("the email app has no password set".into()),
        Err(error) => Err(error.to_string()),
    }
}

/// The IMAP configuration of `account`, `None` when its app has no `imap_host` or the account
/// says `poll = false`.
pub fn imap_config(channels: &Channels, app: &App, account: &Account) -> Option<Result<ImapConfig, String>> {
    let host = app.settings.get("imap_host")?;
    if account.setting("poll", "true") == "false" {
        return None;
    }
    Some(password(channels, account).map(|password| {
        let mut config = ImapConfig::new(host.clone(), username(app, account), password);
        config.port = port(app.settings.get("imap_port"), IMAPS_PORT);
        config.security = security(app.settings.get("imap_security"));
        config.ca_file = app.settings.get("ca_file").map(PathBuf::from);
        config.folder = account.setting("folder", "INBOX").to_owned();
        config.poll_interval =
            humantime::parse_duration(account.setting("poll_interval", "60s")).unwrap_or(Duration::from_secs(60));
        config
    }))
}

/// The SMTP configuration replies from `account` go out through, or why there is none.
pub fn smtp_config(channels: &Channels, app: &App, account: &Account, timeout: Duration) -> Result<SmtpConfig, String> {
    let host = app.settings.get("smtp_host").ok_or("the email app has no smtp_host set")?;
    let mut config = SmtpConfig::new(host.clone());
    config.port = port(app.settings.get("smtp_port"), SMTPS_PORT);
    config.security = security(app.settings.get("smtp_security"));
    config.ca_file = app.settings.get("ca_file").map(PathBuf::from);
    config.username = Some(username(app, account));
    config.password = Some(password(channels, account)?);
    config.timeout = timeout;
    Ok(config)
}

/// The From of replies: `Name <address>` with the app's `from_name`, else the address.
pub fn from_address(app: &App, account: &Account) -> String {
    match app.settings.get("from_name").filter(|name| !name.is_empty()) {
        Some(name) => format!("{} <{}>", name.replace(['<', '>', '"'], ""), account.platform_account_id),
        None => account.platform_account_id.clone(),
    }
}
