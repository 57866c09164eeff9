//! Consumes `replies.requested`: each new reply id becomes a queued row of the delivery log,
//! aimed at the interaction's account, channel and thread; a request that cannot be sent (no
//! such interaction, no account, an empty text) is logged failed and `replies.failed` published.
//! A request with a `recipient` answers no interaction: it is aimed by [`super::direct`].

use async_trait::async_trait;
use sea_orm::ActiveModelTrait;
use tend_proto::v1;
use tend_store::events::streams;
use tend_store::{DbContext as _, Effects, Event, EventHandler, HandleError};
use tokio::sync::Notify;

use super::storage::{self, LogEntry, reply};
use crate::storage::{self as interactions, Details};

/// Longest reply text taken, in bytes (each channel's own limit is checked when sending).
const MAX_REPLY_BYTES: usize = 64 * 1024;

/// Turns reply requests into queued deliveries and wakes the worker.
pub struct RequestReplies {
    /// Woken after a batch queued something.
    pub wake: std::sync::Arc<Notify>,
    /// The registry, for the account a direct message goes from.
    pub channels: std::sync::Arc<crate::registry::Channels>,
}

#[async_trait]
impl EventHandler for RequestReplies {
    type Payload = v1::ReplyRequested;

    async fn handle(
        &self,
        effects: &mut Effects<'_>,
        events: &[&Event<v1::ReplyRequested>],
    ) -> Result<(), HandleError> {
        let mut queued = 0;
        for event in events {
            let request = &event.payload;
            let tenant = event.tenant.as_str();
            let reply_id = request.reply_id.trim();
            if reply_id.is_empty() {
                tracing::warn!(event_id = %event.id, "reply request without a reply id: dropped");
                continue;
            }
            if storage::find(effects.db(), tenant, reply_id).await.context("reading the reply")?.is_some() {
                tracing::debug!(reply_id, "reply requested again: already in the delivery log");
                crate::metrics::metrics().reply("duplicate");
                continue;
            }
            let now = tend_kernel::ids::now();
            let interaction = match &request.recipient {
                Some(_) => None,
                None => interactions::find(effects.db(), tenant, request.interaction_id.trim())
                    .await
                    .context("reading the interaction answered")?,
            };
            let mut row = reply::Model {
                tenant: tenant.to_owned(),
                reply_id: reply_id.to_owned(),
                case_id: request.case_id.clone(),
                interaction_id: request.interaction_id.clone(),
                account: String::new(),
                channel: 0,
                private: false,
                in_reply_to: String::new(),
                recipient: String::new(),
                thread_id: String::new(),
                text: request.text.trim().to_owned(),
                subject: request.subject.trim().to_owned(),
                status: v1::DeliveryStatus::Queued.into(),
                platform_message_id: String::new(),
                reason: String::new(),
                attempts: 0,
                log: "[]".into(),
                next_attempt_at: now,
                lease_until: None,
                requested_at: now,
                updated_at: now,
            };
            let problem = match &interaction {
                None if request.recipient.is_some() => {
                    let recipient = request.recipient.as_ref().unwrap_or(&v1::ReplyRecipient::default()).clone();
                    let registry = self.channels.snapshot();
                    match super::direct::aim(effects.db(), &registry, tenant, &recipient, &mut row)
                        .await
                        .context("aiming the message")?
                    {
                        Some(problem) => Some(problem),
                        None if row.text.is_empty() => Some("the message's text is empty".into()),
                        None if row.text.len() > MAX_REPLY_BYTES => {
                            Some(format!("the text is over {MAX_REPLY_BYTES} bytes"))
                        }
                        None => None,
                    }
                }
                None => Some(format!("interaction {:?} is not known to ingest", request.interaction_id)),
                Some(found) if found.account.is_empty() => {
                    Some("the interaction came in on no registered account, so there is nowhere to reply from".into())
                }
                Some(found) if found.deleted_at.is_some() => Some("the interaction was deleted on its channel".into()),
                Some(_) if row.text.is_empty() => Some("the reply's text is empty".into()),
                Some(_) if row.text.len() > MAX_REPLY_BYTES => {
                    Some(format!("the text is over {MAX_REPLY_BYTES} bytes"))
                }
                Some(_) => None,
            };
            if let Some(found) = &interaction {
                aim(&mut row, found, request.visibility());
                if request.personalize {
                    row.text = personalize(&row.text, &found.author_display_name, &found.author_handle);
                }
            }
            match problem {
                Some(reason) => {
                    row.status = v1::DeliveryStatus::Failed.into();
                    row.log = storage::with_entry(
                        &row,
                        LogEntry { at: now, outcome: "failed".into(), detail: reason.clone() },
                    );
                    row.reason = reason.clone();
                    let failed = v1::ReplyFailed {
                        reply_id: row.reply_id.clone(),
                        case_id: row.case_id.clone(),
                        interaction_id: row.interaction_id.clone(),
                        reason,
                        attempts: 0,
                    };
                    effects.publish(streams::REPLIES_FAILED, event, &failed);
                    crate::metrics::metrics().reply("failed");
                }
                None => {
                    row.log = storage::with_entry(
                        &row,
                        LogEntry { at: now, outcome: "queued".into(), detail: String::new() },
                    );
                    queued += 1;
                }
            }
            reply::ActiveModel::from(row).insert(effects.db()).await.context("queueing the reply")?;
        }
        if queued > 0 {
            self.wake.notify_one();
        }
        Ok(())
    }
}

/// Points `row` at the interaction's account, channel and thread: a public reply answers the
/// post itself, a private one goes to its author (email: threaded under the message).
fn aim(row: &mut reply::Model, found: &interactions::interaction::Model, visibility: v1::ReplyVisibility) {
    row.account = found.account.clone();
    row.channel = found.channel;
    row.private = match visibility {
        v1::ReplyVisibility::Public => false,
        v1::ReplyVisibility::Private => true,
        v1::ReplyVisibility::Unspecified => found.private,
    };
    row.in_reply_to = found.external_id.clone();
    row.thread_id = found.thread_external_id.clone();
    if found.channel == i32::from(v1::Channel::Email) {
        row.recipient =
            if found.author_email.is_empty() { found.author_external_id.clone() } else { found.author_email.clone() };
        row.private = true;
        if row.subject.is_empty() {
            let subject = Details::from_column(found.details.as_deref()).subject;
            let lower = subject.to_lowercase();
            row.subject = if lower.starts_with("re:") { subject } else { format!("Re: {subject}") };
        }
    } else {
        row.recipient = found.author_external_id.clone();
    }
}

/// `text` with `{name}` (the display name, else the handle), `{first_name}` (its first word)
/// and `{handle}` filled in for the author answered: an incident's one answer, made personal
/// per member. Other braces are left as written; a placeholder with nothing to fill becomes "".
pub fn personalize(text: &str, display_name: &str, handle: &str) -> String {
    let handle = handle.trim().trim_start_matches('@');
    let name = match display_name.trim() {
        "" => handle,
        name => name,
    };
    let first_name = name.split_whitespace().next().unwrap_or("");
    text.replace("{first_name}", first_name).replace("{name}", name).replace("{handle}", handle)
}

#[cfg(test)]
mod tests {
    use super::personalize;

    #[test]
    fn placeholders_are_filled_from_the_author() {
        let text = "Hi {first_name} (@{handle}), {name}: sorry! {other}";
        assert_eq!(personalize(text, "Ann Lee", "@annlee"), "Hi Ann (@annlee), Ann Lee: sorry! {other}");
        // No display name: the handle stands in.
        assert_eq!(personalize("Hi {name}, {first_name}", "", "bob"), "Hi bob, bob");
        assert_eq!(personalize("Hi {name}", "", ""), "Hi ");
        assert_eq!(personalize("no placeholders", "Ann", "ann"), "no placeholders");
    }
}
