//! `tend channels` with the real binary: register an app and an account, list and show them
//! (secrets named, never shown), post to the default account, disable it and see posts refused.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Stdio;

use common::{run, start_dev, tend};

#[tokio::test]
async fn register_list_post_and_disable() {
    let dev = start_dev(
        &[("RUST_LOG", "off"), ("TEND__CHANNELS__SECRETS_KEY", "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=")],
        Stdio::inherit(),
    )
    .await;
    let endpoint = dev.endpoint.clone();
    tokio::task::spawn_blocking(move || {
        let endpoint = endpoint.as_str();
        let added = tend(
            endpoint,
            &[
                "channels",
                "add",
                "--platform",
                "generic",
                "--app",
                "widget",
                "--secret",
                "signing_secret=s3cret-value",
                "--channel",
                "chat",
                "--account-id",
                "widget-1",
                "--name",
                "Web chat",
                "--default",
                "--public-quota",
                "10/1m",
            ],
        );
        assert!(added.contains("app widget saved (secrets set: signing_secret)"), "{added}");
        let id =
            added.lines().find_map(|line| line.strip_prefix("account ")).unwrap().split(' ').next().unwrap().to_owned();
        assert!(added.contains(&format!("/webhooks/generic/{id}")), "{added}");

        let listed = tend(endpoint, &["channels", "list"]);
        assert!(
            listed.contains("widget-1") && listed.contains("default") && listed.contains("PLATFORM_GENERIC"),
            "{listed}"
        );
        assert!(!listed.contains("s3cret-value"), "a secret was shown: {listed}");
        let shown = tend(endpoint, &["channels", "get", &id]);
        assert!(shown.contains("public quota: 10 per 1m"), "{shown}");

        let posted = tend(endpoint, &["post", "--channel", "chat", "--handle", "ana", "--text", "Where is my order?"]);
        assert!(posted.contains("stored"), "{posted}");

        tend(endpoint, &["channels", "disable", &id]);
        let (ok, _, stderr) =
            run(endpoint, &["post", "--channel", "chat", "--account", &id, "--handle", "ana", "--text", "Hello?"]);
        assert!(!ok && stderr.contains("NotFound"), "{stderr}");

        let (ok, _, stderr) = run(
            endpoint,
            &["channels", "add", "--app", "widget", "--channel", "chat", "--account-id", "w2", "--public-quota", "ten"],
        );
        assert!(!ok && stderr.contains("REPLIES/PERIOD"), "{stderr}");
    })
    .await
    .unwrap();
}
