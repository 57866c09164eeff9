//! The published testimonials as a JSON Feed (<https://jsonfeed.org/version/1.1>) and as an
//! HTML snippet a website embeds; `tend testimonials feed` prints either from
//! `ListPublishedTestimonials`. Both show exactly what that list shows: the words and the
//! author named as consented.

use tend_proto::v1;

/// A JSON Feed 1.1 document of `testimonials`, titled `title`, version `etag`.
pub fn json_feed(title: &str, etag: &str, testimonials: &[v1::PublishedTestimonial]) -> serde_json::Value {
    let items: Vec<serde_json::Value> = testimonials
        .iter()
        .map(|testimonial| {
            let mut item = serde_json::json!({
                "id": testimonial.id,
                "content_text": testimonial.quote,
            });
            if let Some(approved_at) = &testimonial.approved_at
                && let Some(at) = chrono::DateTime::from_timestamp(approved_at.seconds, 0)
            {
                item["date_published"] = at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true).into();
            }
            if !testimonial.attribution.is_empty() {
                item["authors"] = serde_json::json!([{ "name": testimonial.attribution }]);
            }
            item
        })
        .collect();
    serde_json::json!({
        "version": "https://jsonfeed.org/version/1.1",
        "title": title,
        "_tend": { "etag": etag },
        "items": items,
    })
}

/// `text` safe inside HTML text and attribute values.
fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\'' => escaped.push_str("&#39;"),
            _ => escaped.push(c),
        }
    }
    escaped
}

/// An HTML fragment of `testimonials` to paste into a page (styled by the site through the
/// `tend-testimonials` classes); every value is escaped.
pub fn html_snippet(testimonials: &[v1::PublishedTestimonial]) -> String {
    let mut html = String::from("<section class=\"tend-testimonials\">\n");
    for testimonial in testimonials {
        html.push_str(&format!(
            "  <figure class=\"tend-testimonial\" data-id=\"{}\">\n    <blockquote>{}</blockquote>\n",
            escape(&testimonial.id),
            escape(&testimonial.quote)
        ));
        if !testimonial.attribution.is_empty() {
            html.push_str(&format!("    <figcaption>{}</figcaption>\n", escape(&testimonial.attribution)));
        }
        html.push_str("  </figure>\n");
    }
    html.push_str("</section>\n");
    html
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn the_snippet_escapes_everything_and_names_only_the_attribution() {
        let testimonials = [
            v1::PublishedTestimonial {
                id: "t1".into(),
                quote: "Fast & kind <script>alert(1)</script>".into(),
                attribution: "Jane".into(),
                channel: v1::Channel::X as i32,
                approved_at: Some(prost_types::Timestamp { seconds: 1_800_000_000, nanos: 0 }),
            },
            v1::PublishedTestimonial { id: "t2".into(), quote: "\"Great\"".into(), ..Default::default() },
        ];
        let html = html_snippet(&testimonials);
        assert!(
            html.contains("<blockquote>Fast &amp; kind &lt;script&gt;alert(1)&lt;/script&gt;</blockquote>"),
            "{html}"
        );
        assert!(html.contains("<figcaption>Jane</figcaption>"));
        assert_eq!(html.matches("<figcaption>").count(), 1, "the anonymous one is not named");
        let feed = json_feed("Acme", "v3", &testimonials);
        assert_eq!(feed["items"][0]["authors"][0]["name"], "Jane");
        assert_eq!(feed["items"][0]["date_published"], "2027-01-15T08:00:00Z");
        assert!(feed["items"][1].get("authors").is_none());
    }
}
