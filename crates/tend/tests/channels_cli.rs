//! `tend channels` with the real binary: register an app and an account, list and show them
//! (secrets named, never shown), post to the default account, disable it and see posts refused.

// Test code: a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::panic)]

mod common;

use std::process::Stdio;

use common::{run, start_dev, tend};

#[tokio::test]
async fn register_list_post_and_disable() {
    // No channels.secrets_key: tend dev makes its own, so a secret can be given by value.
    let dev = start_dev(&[("RUST_LOG", "off")], Stdio::inherit()).await;
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

        let posted =
            tend(endpoint, &["post", "--channel", "chat", "--handle", "ana", "--text", "Where is my order?", "--wait"]);
        let case = posted.lines().find_map(|line| line.strip_prefix("case:")).unwrap().trim().to_owned();

        // The widget has no callback_url: the reply is requested, then reported failed, saying why.
        let replied = tend(endpoint, &["cases", "reply", &case, "--text", "It ships tomorrow.", "--reply-id", "r-1"]);
        assert!(replied.contains("reply r-1 requested"), "{replied}");
        let mut replies = String::new();
        for _ in 0..100 {
            replies = tend(endpoint, &["cases", "replies", &case]);
            if replies.contains("failed") {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
        assert!(replies.contains("r-1") && replies.contains("failed") && replies.contains("callback"), "{replies}");

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
    dev.stop().await;
}
