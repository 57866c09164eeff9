//! What each platform's apps and accounts may hold: the channels it serves, the settings and
//! secrets it knows. Anything else is refused by name, so a misspelt `app_secert` is an error at
//! registration rather than a 401 on the first webhook.

use tend_proto::v1::{Channel, Platform};

/// The channels an app of `platform` serves.
pub fn channels(platform: Platform) -> &'static [Channel] {
    match platform {
        Platform::X => &[Channel::X],
        Platform::Meta => &[Channel::Facebook, Channel::Instagram],
        Platform::Email => &[Channel::Email],
        Platform::Generic => &[Channel::Chat, Channel::Review],
        Platform::Unspecified => &[],
    }
}

/// The platform that serves `channel`.
pub fn of_channel(channel: Channel) -> Platform {
    match channel {
        Channel::X => Platform::X,
        Channel::Facebook | Channel::Instagram => Platform::Meta,
        Channel::Email => Platform::Email,
        Channel::Chat | Channel::Review => Platform::Generic,
        Channel::Unspecified => Platform::Unspecified,
    }
}

/// The settings an app of `platform` knows.
pub fn app_settings(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::Email => &[
            "imap_host",
            "imap_port",
            "imap_security",
            "smtp_host",
            "smtp_port",
            "smtp_security",
            "username",
            "ca_file",
            "from_name",
        ],
        _ => &[],
    }
}

/// The secrets an app of `platform` knows.
pub fn app_secrets(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::X => &["consumer_secret", "bearer_token"],
        Platform::Meta => &["app_secret", "verify_token"],
        Platform::Email => &["password", "signing_secret"],
        Platform::Generic => &["signing_secret"],
        Platform::Unspecified => &[],
    }
}

/// The settings an account of `platform` knows.
pub fn account_settings(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::X => &["poll_mentions", "poll_interval"],
        Platform::Email => &["folder", "poll", "poll_interval", "import_existing"],
        Platform::Generic => &["callback_url"],
        _ => &[],
    }
}

/// The secrets an account of `platform` knows (its own token for replies).
pub fn account_secrets(platform: Platform) -> &'static [&'static str] {
    match platform {
        Platform::X | Platform::Meta => &["access_token"],
        Platform::Generic => &["signing_secret"],
        _ => &[],
    }
}

/// The platform's name in messages and webhook paths.
pub fn name(platform: Platform) -> &'static str {
    match platform {
        Platform::X => "x",
        Platform::Meta => "meta",
        Platform::Email => "email",
        Platform::Generic => "generic",
        Platform::Unspecified => "unspecified",
    }
}

/// Checks the value of setting `key`: ports are numbers, securities one of `tls`, `starttls`,
/// `plain`, flags `true` or `false`, intervals durations ("30s", "5m"), URLs http(s).
pub fn check_value(key: &str, value: &str) -> Result<(), String> {
    match key {
        "imap_port" | "smtp_port" => match value.parse::<u16>() {
            Ok(port) if port > 0 => Ok(()),
            _ => Err("must be a port number, 1 to 65535".into()),
        },
        "imap_security" | "smtp_security" => match value {
            "tls" | "starttls" | "plain" => Ok(()),
            _ => Err("must be tls, starttls or plain (plain only to a loopback host)".into()),
        },
        "poll" | "poll_mentions" | "import_existing" => match value {
            "true" | "false" => Ok(()),
            _ => Err("must be true or false".into()),
        },
        "poll_interval" => match humantime::parse_duration(value) {
            Ok(interval) if interval >= std::time::Duration::from_secs(1) => Ok(()),
            _ => Err("must be a duration of at least 1s, e.g. 30s or 5m".into()),
        },
        "callback_url" if !(value.starts_with("https://") || value.starts_with("http://")) => {
            Err("must be an http:// or https:// URL".into())
        }
        "ca_file" if !value.starts_with('/') => Err("must be an absolute path to a PEM file".into()),
        _ => Ok(()),
    }
}
