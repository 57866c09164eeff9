//! Email: every fixture read field by field, the stripping rules, the HTML reduction, reply
//! threading, the bounds and the errors.

use chrono::{DateTime, TimeZone, Utc};
use tend_channels::email::{self, MAX_ATTACHMENTS, MAX_RAW_BYTES, MAX_REPLY_REFERENCES, MAX_TEXT_BYTES, ReplyHeaders};
use tend_channels::{Attachment, Author, Change, Channel, Inbound};

const ACCOUNT: &str = "support@acme-shop.example";

fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/email/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

fn parse_fixture(name: &str) -> Inbound {
    email::parse(ACCOUNT, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// What every email has in common: created, Email, private, for ACCOUNT.
fn expected(external_id: &str) -> Inbound {
    let mut inbound = Inbound::new(Channel::Email, ACCOUNT, external_id);
    inbound.private = true;
    inbound
}

fn author(email: &str, name: &str) -> Author {
    Author { id: email.into(), email: email.into(), display_name: name.into(), ..Author::default() }
}

fn at(rfc3339: &str) -> Option<DateTime<Utc>> {
    Some(DateTime::parse_from_rfc3339(rfc3339).expect("test timestamp").with_timezone(&Utc))
}

fn ids(ids: &[&str]) -> Vec<String> {
    ids.iter().map(|id| id.to_string()).collect()
}

/// A minimal message with `headers` (CRLF-joined) and `body`.
fn message(headers: &[&str], body: &str) -> Vec<u8> {
    format!("{}\r\n\r\n{}", headers.join("\r\n"), body.replace('\n', "\r\n")).into_bytes()
}

// ---- Fixtures, every field ----

#[test]
fn fixtures_use_crlf_line_endings() {
    let dir = format!("{}/tests/fixtures/email", env!("CARGO_MANIFEST_DIR"));
    let mut count = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let raw = std::fs::read(&path).unwrap();
        let bare_lf = raw.iter().enumerate().any(|(i, &b)| b == b'\n' && (i == 0 || raw[i - 1] != b'\r'));
        assert!(!bare_lf, "{} has a bare LF", path.display());
        count += 1;
    }
    assert_eq!(count, 10);
}

#[test]
fn plain_complaint() {
    let mut want = expected("CAHx7Lk2o8vF1q@mail.example.net");
    want.thread_id = "CAHx7Lk2o8vF1q@mail.example.net".into();
    // The address is lower-cased; the name kept as written.
    want.author = author("maria.schmidt@example.net", "Maria Schmidt");
    // Trailing spaces trimmed, the three blank lines made one.
    want.text =
        "Hello,\n\nMy order #48213 arrived this morning and the box was crushed. The\nceramic teapot inside is \
                 broken into three pieces.\n\nI paid for express delivery and expected it to be packed properly.\n\
                 Please send a replacement or refund me.\n\nRegards,\nMaria Schmidt"
            .into();
    want.subject = "Order #48213 arrived damaged".into();
    want.language_hint = "en-GB".into();
    want.posted_at = at("2026-12-03T09:14:05Z");
    assert_eq!(parse_fixture("plain_complaint.eml"), want);
}

#[test]
fn gmail_reply_drops_signature_and_quoted_history() {
    let mut want = expected("CAJ9pQ+v3n1X0dYk=5aLr8F-Tq@mail.gmail.com");
    want.thread_id = "CAHx7Lk2o8vF1q@mail.example.net".into();
    want.in_reply_to = "20261203101500.ab12cd@acme-shop.example".into();
    want.references = ids(&["CAHx7Lk2o8vF1q@mail.example.net", "20261203101500.ab12cd@acme-shop.example"]);
    want.author = author("jane.doe@gmail.com", "Jane Doe");
    want.text =
        "Hi Acme team,\n\nThanks for the quick answer. The replacement arrived today but it is the\nwrong size \
                 (M instead of L). Can you swap it?\n\nBest,\nJane"
            .into();
    want.subject = "Re: Your replacement is on its way".into();
    want.posted_at = at("2026-12-04T13:30:12Z");
    assert_eq!(parse_fixture("gmail_reply.eml"), want);
}

#[test]
fn outlook_html_reply_is_reduced_and_cut_at_the_header_block() {
    let mut want = expected("AM9PR03MB7345E1C2D0B8A4F6C3D2E1F0A9B8@AM9PR03MB7345.eurprd03.prod.outlook.com");
    want.thread_id = "20261202160200.77aa01@acme-shop.example".into();
    want.in_reply_to = "20261202160200.77aa01@acme-shop.example".into();
    want.references = ids(&["20261202160200.77aa01@acme-shop.example"]);
    want.author = author("tom.baker@bakerandsons.example", "Tom Baker");
    // No style sheet or <xml> from the head, entities decoded, `<p>&nbsp;</p>` a blank line,
    // and Outlook's signature (no "-- ") kept: nothing marks it.
    want.text = "Hello,\n\nWe still have not received the credit note for invoice INV-2026-0917. Our accounts team \
                 needs it before Friday \u{2013} please confirm by return.\n\nKind regards,\nTom Baker\nPurchasing \
                 Manager \u{2013} Baker & Sons Ltd"
        .into();
    want.subject = "RE: Your credit note request".into();
    want.language_hint = "en-GB".into();
    want.posted_at = at("2026-12-04T11:02:33Z");
    assert_eq!(parse_fixture("outlook_html_reply.eml"), want);
}

#[test]
fn outlook_plain_reply_is_cut_at_original_message() {
    let mut want = expected("000001db45a1$2b3c4d50$81e6e7f0$@contoso.example");
    want.thread_id = want.external_id.clone();
    want.author = author("priya.nair@contoso.example", "Priya Nair");
    want.text =
        "Hi,\n\nThe tracking link you sent does not work, it says \"shipment not found\".\n\nThanks\nPriya".into();
    want.subject = "RE: Where is my parcel?".into();
    want.language_hint = "en-in".into();
    want.posted_at = at("2026-12-03T12:01:09Z");
    assert_eq!(parse_fixture("outlook_plain_original.eml"), want);
}

#[test]
fn alternative_prefers_the_plain_part() {
    let mut want = expected("6C1D2E3F-4A5B-4C6D-8E7F-90A1B2C3D4E5@icloud.example");
    want.thread_id = want.external_id.clone();
    want.author = author("liam.oconnor@icloud.example", "Liam O'Connor");
    // The plain part is hard-wrapped after "stock"; the HTML part is not.
    want.text = "Hi,\n\nIs the Nordic Wool Blanket (SKU NW-220) going to be back in stock\nbefore Christmas? I would \
                 like to order two.\n\nThanks,\nLiam"
        .into();
    want.subject = "Nordic Wool Blanket back in stock?".into();
    want.posted_at = at("2026-12-05T19:45:03Z");
    assert_eq!(parse_fixture("alternative_both.eml"), want);
}

#[test]
fn attachments_and_inline_images_are_metadata() {
    let mut want = expected("0f3e9a7b-2c41-4d8e-9b6a-5e1d2c3b4a59@example.com");
    want.thread_id = want.external_id.clone();
    want.author = author("chidi.okafor@example.com", "Okafor, Chidi");
    want.text = "Hello,\n\nThe lamp I bought (order 55012) arrived with a cracked shade, see the\nphoto below. The \
                 receipt is attached.\n\n[image: photo-damage.png]\n\nChidi"
        .into();
    want.subject = "Damaged lamp - photo and receipt attached".into();
    want.posted_at = at("2026-12-06T14:20:00Z");
    // Sizes are the decoded bytes (the base64 on the wire is longer).
    want.attachments = vec![
        Attachment {
            name: "photo-damage.png".into(),
            content_type: "image/png".into(),
            size: Some(69),
            url: "".into(),
        },
        Attachment {
            name: "receipt-55012.pdf".into(),
            content_type: "application/pdf".into(),
            size: Some(193),
            url: "".into(),
        },
    ];
    assert_eq!(parse_fixture("attachments.eml"), want);
}

#[test]
fn spanish_quoted_printable_and_encoded_words() {
    let mut want = expected("e4b1c2d3-7f8a-4b9c-a0d1-e2f3a4b5c6d7@correo.example");
    want.thread_id = "20261203101500.es77@acme-shop.example".into();
    want.in_reply_to = "20261203101500.es77@acme-shop.example".into();
    want.references = ids(&["20261203101500.es77@acme-shop.example"]);
    want.author = author("lucia.fernandez@correo.example", "Lucía Fernández");
    // Soft line breaks joined, "El … escribió:" and the quote dropped.
    want.text = "Buenos días:\n\nRecibí el pedido nº 7731 ayer, pero faltan dos de las cinco cajas. El albarán \
                 indica que se enviaron todas. ¿Podrían revisarlo y enviarme lo que falta cuanto antes?\n\nMuchas \
                 gracias,\nLucía Fernández"
        .into();
    want.subject = "Reclamación: el pedido nº 7731 llegó incompleto".into();
    want.language_hint = "es-ES".into();
    want.posted_at = at("2026-12-04T08:05:47Z");
    assert_eq!(parse_fixture("spanish_qp.eml"), want);
}

#[test]
fn no_message_id_gets_a_stable_derived_id() {
    // FNV-1a 64 of the fixture's bytes: this value must never change, or redeliveries of
    // old messages would become new posts.
    let id = "tend-6051422dd5f9da27@derived.invalid";
    let mut want = expected(id);
    want.thread_id = id.into();
    want.author = author("bob@example.org", "");
    want.text = "Where is my refund? It has been three weeks.\nBob".into();
    want.subject = "refund?".into();
    // "Date: sometime yesterday" is not a date: None, not an error.
    want.posted_at = None;
    assert_eq!(parse_fixture("no_message_id.eml"), want);

    let again = parse_fixture("no_message_id.eml");
    assert_eq!(again.external_id, id);
    let mut other = fixture("no_message_id.eml");
    other.extend_from_slice(b"PS: order 1234\r\n");
    assert_ne!(email::parse(ACCOUNT, &other).unwrap().external_id, id);
}

#[test]
fn iphone_footer_and_quote_dropped() {
    let mut want = expected("A1B2C3D4-E5F6-4708-9A1B-2C3D4E5F6A7B@me.example");
    want.thread_id = "20261203101500.refund42@acme-shop.example".into();
    want.in_reply_to = "20261203101500.refund42@acme-shop.example".into();
    want.references = ids(&["20261203101500.refund42@acme-shop.example"]);
    want.author = author("sam.lee@me.example", "Sam Lee");
    want.text =
        "Still waiting for the refund you promised on Monday. This is the third time I\u{2019}m writing.".into();
    want.subject = "Re: Your refund".into();
    want.posted_at = at("2026-12-05T15:58:10Z");
    assert_eq!(parse_fixture("iphone.eml"), want);
}

#[test]
fn french_reply_in_latin1() {
    let mut want = expected("7a8b9c0d-1e2f-4a3b-8c4d-5e6f7a8b9c0d@laposte.example");
    want.thread_id = "20261203101500.fr5520@acme-shop.example".into();
    want.in_reply_to = "20261203101500.fr5520@acme-shop.example".into();
    want.references = ids(&["20261203101500.fr5520@acme-shop.example"]);
    want.author = author("elodie.martin@laposte.example", "Élodie Martin");
    want.text = "Bonjour,\n\nJe n'ai toujours pas reçu ma commande n° 5520, alors que le suivi\nindique « livrée » \
                 depuis vendredi. Pouvez-vous ouvrir une enquête\nauprès du transporteur ?\n\nCordialement,\nÉlodie \
                 Martin"
        .into();
    want.subject = "Re: Votre commande 5520".into();
    want.language_hint = "fr".into();
    want.posted_at = at("2026-12-05T15:40:21Z");
    assert_eq!(parse_fixture("french_reply.eml"), want);
}

#[test]
fn every_email_is_a_private_created_email_post() {
    for name in ["plain_complaint.eml", "gmail_reply.eml", "attachments.eml", "no_message_id.eml"] {
        let inbound = parse_fixture(name);
        assert_eq!((inbound.change, inbound.channel, inbound.private), (Change::Created, Channel::Email, true));
        assert_eq!(inbound.account_id, ACCOUNT);
        assert!(inbound.url.is_empty());
    }
}

// ---- Headers read from constructed messages ----

#[test]
fn html_only_gmail_reply_strips_the_blockquote() {
    let html = "<div dir=\"ltr\"><div>Any news on my order?</div><div><br></div><div>Jane</div></div><br><div \
                class=\"gmail_quote\"><div dir=\"ltr\" class=\"gmail_attr\">On Tue, 3 Dec 2026 at 10:15, Acme \
                &lt;<a href=\"mailto:s@acme.example\">s@acme.example</a>&gt; wrote:<br></div><blockquote \
                class=\"gmail_quote\">It has shipped.<br></blockquote></div>";
    let raw = message(&["From: jane@example.com", "Message-ID: <a@b>", "Content-Type: text/html; charset=UTF-8"], html);
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().text, "Any news on my order?\n\nJane");
}

#[test]
fn blank_plain_part_falls_back_to_html() {
    let raw = message(
        &["From: a@example.com", "Message-ID: <x@y>", "Content-Type: multipart/alternative; boundary=b"],
        "--b\nContent-Type: text/plain\n\n \n--b\nContent-Type: text/html\n\n<p>Real text</p>\n--b--\n",
    );
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().text, "Real text");
}

#[test]
fn message_without_body_has_empty_text() {
    let raw = message(&["From: a@example.com", "Subject: (empty)"], "");
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!(inbound.text, "");
    assert_eq!(inbound.subject, "(empty)");
}

#[test]
fn in_reply_to_threads_when_there_are_no_references() {
    let raw = message(&["From: a@example.com", "Message-ID: <child@x>", "In-Reply-To: <parent@x>"], "ok");
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!((inbound.in_reply_to.as_str(), inbound.thread_id.as_str()), ("parent@x", "parent@x"));
    assert!(inbound.references.is_empty());
}

#[test]
fn angle_brackets_and_spaces_are_dropped_from_ids() {
    let raw = message(
        &["From: a@example.com", "Message-ID:   <  own@x  >", "References: <r1@x>\r\n\t<r2@x>\r\n <r3@x>"],
        "ok",
    );
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!(inbound.external_id, "own@x");
    assert_eq!(inbound.references, ids(&["r1@x", "r2@x", "r3@x"]));
    assert_eq!(inbound.thread_id, "r1@x");
}

#[test]
fn empty_message_id_counts_as_missing() {
    let raw = message(&["From: a@example.com", "Message-ID: <>"], "ok");
    assert!(email::parse(ACCOUNT, &raw).unwrap().external_id.ends_with("@derived.invalid"));
}

#[test]
fn from_without_a_name_and_reply_to_ignored() {
    let raw = message(&["From: <Customer@Example.com>", "Reply-To: other@example.com", "Message-ID: <m@x>"], "hi");
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().author, author("customer@example.com", ""));
}

#[test]
fn language_hint_takes_the_first_tag_and_ignores_junk() {
    let with = |value: &str| {
        let header = format!("Content-Language: {value}");
        email::parse(ACCOUNT, &message(&["From: a@example.com", &header], "x")).unwrap().language_hint
    };
    assert_eq!(with("de-CH, en"), "de-CH");
    assert_eq!(with("@@ nonsense"), "");
    let raw = message(&["From: a@example.com"], "x");
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().language_hint, "");
}

#[test]
fn language_hint_falls_back_to_the_body_part() {
    let raw = message(
        &["From: a@example.com", "Content-Type: multipart/mixed; boundary=b"],
        "--b\nContent-Type: text/plain\nContent-Language: nl\n\nHallo\n--b--\n",
    );
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().language_hint, "nl");
}

#[test]
fn date_in_other_zones_is_utc() {
    let raw = message(&["From: a@example.com", "Date: Sat, 1 Jan 2000 00:00:00 -0800"], "x");
    assert_eq!(
        email::parse(ACCOUNT, &raw).unwrap().posted_at,
        Some(Utc.with_ymd_and_hms(2000, 1, 1, 8, 0, 0).unwrap())
    );
}

#[test]
fn a_forward_by_subject_keeps_the_forwarded_headers() {
    let body = "FYI, see below.\n\nFrom: Courier <noreply@courier.example>\nSent: Monday, December 2, 2026\nTo: \
                Jane\nSubject: Delivery failed\n\nWe could not deliver your parcel.";
    let raw = message(&["From: jane@example.com", "Subject: Fw: Delivery failed"], body);
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().text, body);
    let raw = message(&["From: jane@example.com", "Subject: Re: Delivery failed"], body);
    assert_eq!(email::parse(ACCOUNT, &raw).unwrap().text, "FYI, see below.");
}

#[test]
fn attachment_names_are_made_safe_and_types_defaulted() {
    let body = "--b\nContent-Type: text/plain\n\nSee attached.\n--b\nContent-Type: application/octet-stream\n\
                Content-Disposition: attachment; filename=\"../../etc/passwd\"\n\nroot:x:0:0\n--b\n\
                Content-Disposition: attachment; filename=\"notes.txt\"\n\nplain notes\n--b\n\
                Content-Type: message/rfc822\n\nFrom: x@example.com\nSubject: inner\n\ninner body\n--b--\n";
    let raw = message(&["From: a@example.com", "Content-Type: multipart/mixed; boundary=b"], body);
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!(inbound.text, "See attached.");
    let got: Vec<(&str, &str)> =
        inbound.attachments.iter().map(|a| (a.name.as_str(), a.content_type.as_str())).collect();
    assert_eq!(got, [("passwd", "application/octet-stream"), ("notes.txt", "text/plain"), ("", "message/rfc822")]);
    assert_eq!(inbound.attachments[0].size, Some(10));
    assert_eq!(inbound.attachments[1].size, Some(11));
}

#[test]
fn rfc2231_file_names_are_decoded() {
    let body = "--b\nContent-Type: text/plain\n\nx\n--b\nContent-Type: application/pdf\n\
                Content-Disposition: attachment; filename*=UTF-8''Factura%20n%C2%BA%2012.pdf\n\
                Content-Transfer-Encoding: base64\n\nJVBERi0=\n--b--\n";
    let raw = message(&["From: a@example.com", "Content-Type: multipart/mixed; boundary=b"], body);
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!(inbound.attachments.len(), 1);
    assert_eq!(inbound.attachments[0].name, "Factura nº 12.pdf");
    assert_eq!(inbound.attachments[0].size, Some(5));
}

// ---- Bounds ----

#[test]
fn at_most_max_attachments_are_listed() {
    let mut body = String::from("--b\nContent-Type: text/plain\n\nmany files\n");
    for i in 0..MAX_ATTACHMENTS + 20 {
        body.push_str(&format!(
            "--b\nContent-Type: application/octet-stream\nContent-Disposition: attachment; filename=\"f{i}.bin\"\n\nx\n"
        ));
    }
    body.push_str("--b--\n");
    let raw = message(&["From: a@example.com", "Content-Type: multipart/mixed; boundary=b"], &body);
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!(inbound.attachments.len(), MAX_ATTACHMENTS);
    assert_eq!(inbound.attachments[0].name, "f0.bin");
    assert_eq!(inbound.attachments[MAX_ATTACHMENTS - 1].name, format!("f{}.bin", MAX_ATTACHMENTS - 1));
}

#[test]
fn long_text_is_cut_on_a_char_boundary() {
    // One ASCII byte then two-byte characters: byte 65536 falls inside a character.
    let body = format!("x{}", "é".repeat(40_000));
    let raw = message(&["From: a@example.com", "Content-Type: text/plain; charset=UTF-8"], &body);
    let text = email::parse(ACCOUNT, &raw).unwrap().text;
    assert_eq!(text.len(), MAX_TEXT_BYTES - 1);
    assert!(body.starts_with(&text));
}

#[test]
fn long_subject_is_cut() {
    let subject = format!("Subject: {}", "ü".repeat(600));
    let raw = message(&["From: a@example.com", &subject], "x");
    let inbound = email::parse(ACCOUNT, &raw).unwrap();
    assert_eq!(inbound.subject, "ü".repeat(499));
}

#[test]
fn oversize_message_is_refused() {
    let mut raw = message(&["From: a@example.com"], "x");
    raw.resize(MAX_RAW_BYTES + 1, b'a');
    let err = email::parse(ACCOUNT, &raw).unwrap_err();
    assert_eq!(
        err.to_string(),
        format!("message too large: {} bytes, the limit is {MAX_RAW_BYTES}", MAX_RAW_BYTES + 1)
    );
    raw.truncate(MAX_RAW_BYTES);
    assert!(email::parse(ACCOUNT, &raw).is_ok());
}

// ---- Errors ----

#[test]
fn garbage_is_not_a_message() {
    let png = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".as_slice();
    let cases: [(&[u8], &str); 7] = [
        (b"", "it is empty"),
        (b" \r\n\t\r\n", "it is empty"),
        (b"hello world, this is not mail", "the first line is not a header field"),
        (b"\r\nFrom: a@example.com\r\n\r\nbody", "the first line is not a header field"),
        (b"<html><body>hi</body></html>", "the first line is not a header field"),
        (png, "the first line is not a header field"),
        (b"\xff\xfe\x00garbage: \x00\x01", "the first line is not a header field"),
    ];
    for (raw, why) in cases {
        let err = email::parse(ACCOUNT, raw).unwrap_err();
        assert_eq!(err.to_string(), format!("not an RFC 5322 message: {why}"), "{raw:?}");
    }
}

#[test]
fn missing_from_is_refused() {
    let cases: [&[u8]; 5] = [
        b"Subject: hi\r\nMessage-ID: <a@b>\r\n\r\nbody",
        b"From: undisclosed-recipients:;\r\n\r\nbody",
        b"From: \r\n\r\nbody",
        b"{\"json\": true}",
        // Inputs that panicked mail-parser 0.11.5 (#155): now read, and refused for want of a From.
        b"Received:\n\t",
    ];
    for raw in cases {
        let err = email::parse(ACCOUNT, raw).unwrap_err();
        assert!(err.to_string().starts_with("missing From"), "{raw:?}: {err}");
    }
}

#[test]
fn errors_never_echo_the_body() {
    let raw = message(&["Subject: secret"], "my card number is 4111 1111 1111 1111");
    let err = email::parse(ACCOUNT, &raw).unwrap_err().to_string();
    assert!(!err.contains("4111") && !err.contains("secret"), "{err}");
}

// ---- Reply headers ----

#[test]
fn reply_to_a_gmail_reply_extends_its_references() {
    let original = parse_fixture("gmail_reply.eml");
    let reply = email::reply_headers(&original);
    assert_eq!(
        reply,
        ReplyHeaders {
            in_reply_to: "CAJ9pQ+v3n1X0dYk=5aLr8F-Tq@mail.gmail.com".into(),
            references: ids(&[
                "CAHx7Lk2o8vF1q@mail.example.net",
                "20261203101500.ab12cd@acme-shop.example",
                "CAJ9pQ+v3n1X0dYk=5aLr8F-Tq@mail.gmail.com",
            ]),
            subject: "Re: Your replacement is on its way".into(),
        }
    );
    assert_eq!(reply.in_reply_to_value(), "<CAJ9pQ+v3n1X0dYk=5aLr8F-Tq@mail.gmail.com>");
    assert_eq!(
        reply.references_value(),
        "<CAHx7Lk2o8vF1q@mail.example.net> <20261203101500.ab12cd@acme-shop.example> \
         <CAJ9pQ+v3n1X0dYk=5aLr8F-Tq@mail.gmail.com>"
    );
}

#[test]
fn reply_to_a_first_message_starts_the_thread() {
    let reply = email::reply_headers(&parse_fixture("plain_complaint.eml"));
    assert_eq!(reply.in_reply_to, "CAHx7Lk2o8vF1q@mail.example.net");
    assert_eq!(reply.references, ids(&["CAHx7Lk2o8vF1q@mail.example.net"]));
    assert_eq!(reply.subject, "Re: Order #48213 arrived damaged");
}

#[test]
fn reply_uses_in_reply_to_when_there_are_no_references() {
    let mut original = expected("child@x");
    original.in_reply_to = "parent@x".into();
    original.subject = "Question".into();
    assert_eq!(email::reply_headers(&original).references, ids(&["parent@x", "child@x"]));
}

#[test]
fn reply_subject_gets_re_once() {
    let subject = |s: &str| {
        let mut original = expected("m@x");
        original.subject = s.into();
        email::reply_headers(&original).subject
    };
    assert_eq!(subject("Order"), "Re: Order");
    assert_eq!(subject("Re: Order"), "Re: Order");
    assert_eq!(subject("RE: Order"), "RE: Order");
    assert_eq!(subject("re:Order"), "re:Order");
    assert_eq!(subject("Fwd: Order"), "Re: Fwd: Order");
    assert_eq!(subject("  "), "Re:");
    assert_eq!(subject("Reorder"), "Re: Reorder");
}

#[test]
fn reply_to_a_message_without_id_does_not_invent_one() {
    let original = parse_fixture("no_message_id.eml");
    let reply = email::reply_headers(&original);
    assert_eq!(reply.in_reply_to, "");
    assert!(reply.references.is_empty());
    assert_eq!((reply.in_reply_to_value(), reply.references_value()), (String::new(), String::new()));
    assert_eq!(reply.subject, "Re: refund?");
}

#[test]
fn reply_references_are_bounded_keeping_the_root() {
    let mut original = expected("last@x");
    original.references = (0..50).map(|i| format!("r{i}@x")).collect();
    let reply = email::reply_headers(&original);
    assert_eq!(reply.references.len(), MAX_REPLY_REFERENCES);
    assert_eq!(reply.references[0], "r0@x");
    assert_eq!(reply.references[MAX_REPLY_REFERENCES - 2], "r49@x");
    assert_eq!(reply.references[MAX_REPLY_REFERENCES - 1], "last@x");
}

#[test]
fn reply_does_not_repeat_an_id_already_last() {
    let mut original = expected("b@x");
    original.references = ids(&["a@x", "b@x"]);
    assert_eq!(email::reply_headers(&original).references, ids(&["a@x", "b@x"]));
}

// ---- Stripping rules ----

#[test]
fn signature_separator_cuts() {
    assert_eq!(email::strip_reply("Thanks\n-- \nJane Doe\nAcme"), "Thanks");
    assert_eq!(email::strip_reply("Thanks\n--\nJane Doe"), "Thanks");
    // A dash line that is not the separator stays.
    assert_eq!(email::strip_reply("Pros -- and cons\n---\nmore"), "Pros -- and cons\n---\nmore");
}

#[test]
fn reply_attributions_in_several_languages_cut() {
    let cases = [
        "On Tue, 3 Dec 2026 at 10:00, Jane <jane@x.com> wrote:",
        "On 12/3/26 10:00 AM, Acme Support wrote:",
        "Le mar. 3 déc. 2026 à 10:00, Jane <jane@x.com> a écrit :",
        "Le 03/12/2026 à 10:00, Jane a écrit\u{a0}:",
        "Am Di., 3. Dez. 2026 um 10:00 Uhr schrieb Jane <jane@x.com>:",
        "Am 03.12.2026 um 10:00 schrieb Jane Doe:",
        "El mar, 3 dic 2026 a las 10:00, Jane (<jane@x.com>) escribió:",
        "Em ter., 3 de dez. de 2026 às 10:00, Jane <jane@x.com> escreveu:",
        "Op di 3 dec 2026 om 10:00 schreef Jane <jane@x.com>:",
        "Il giorno mar 3 dic 2026 alle ore 10:00 Jane <jane@x.com> ha scritto:",
    ];
    for attribution in cases {
        let text = format!("New text\n\n{attribution}\n> old text\n> more");
        assert_eq!(email::strip_reply(&text), "New text", "{attribution}");
    }
}

#[test]
fn wrapped_attribution_cuts() {
    let text = "Sure.\n\nOn Tue, 3 Dec 2026 at 10:00, A Very Long Name <a.very.long.name@example.com>\nwrote:\n\n> q";
    assert_eq!(email::strip_reply(text), "Sure.");
}

#[test]
fn prose_that_looks_like_an_attribution_stays() {
    let text = "On Monday I wrote:\nthe order never came.";
    assert_eq!(email::strip_reply(text), text);
    let text = "Le colis est arrivé ouvert, et le livreur a écrit:\nrien à signaler.";
    assert_eq!(email::strip_reply(text), text);
}

#[test]
fn outlook_original_message_cuts_in_several_languages() {
    for marker in [
        "-----Original Message-----",
        "----- Original Message -----",
        "-----Ursprüngliche Nachricht-----",
        "-----Message d'origine-----",
        "-----Mensaje original-----",
    ] {
        let text = format!("My answer\n\n{marker}\nFrom: a\nold");
        assert_eq!(email::strip_reply(&text), "My answer", "{marker}");
    }
}

#[test]
fn outlook_header_block_cuts_with_the_rule_above_it() {
    let text = "Please call me.\n\n________________________________\nFrom: Acme <s@acme.example>\nSent: \
                Tuesday, December 3, 2026 10:00 AM\nTo: Jane\nSubject: Your order\n\nold";
    assert_eq!(email::strip_reply(text), "Please call me.");
    let text = "Bitte rufen Sie an.\n\nVon: Acme <s@acme.example>\nGesendet: Dienstag, 3. Dezember 2026 \
                10:00\nAn: Jane\nBetreff: Ihre Bestellung\n\nalt";
    assert_eq!(email::strip_reply(text), "Bitte rufen Sie an.");
    let text = "Merci.\n\nDe : Acme <s@acme.example>\nEnvoyé : mardi 3 décembre 2026 10:00\nÀ : Jane\nObjet : \
                Commande";
    assert_eq!(email::strip_reply(text), "Merci.");
    let text = "Noted.\n\n*From:* Acme <s@acme.example>\n*Sent:* Tuesday\n*To:* Jane\n*Subject:* x";
    assert_eq!(email::strip_reply(text), "Noted.");
}

#[test]
fn a_lone_from_line_stays() {
    let text = "From: my neighbour, who took the parcel in.\nShe says it was already open.";
    assert_eq!(email::strip_reply(text), text);
}

#[test]
fn forwarded_messages_are_content() {
    let text = "Can you help with this?\n\n---------- Forwarded message ---------\nFrom: Courier \
                <noreply@courier.example>\nDate: Mon, 2 Dec 2026 at 09:00\nSubject: Delivery failed\nTo: \
                <jane@example.com>\n\nWe could not deliver your parcel.";
    assert_eq!(email::strip_reply(text), text);
    let text = "See below.\n\nBegin forwarded message:\n\nFrom: Courier <noreply@courier.example>\nDate: 2 \
                December 2026\nTo: Jane\nSubject: x\n\nbody";
    assert_eq!(email::strip_reply(text), text);
}

#[test]
fn signature_before_a_forward_goes_the_forward_stays() {
    let text = "FYI\n-- \nJane Doe\n\n---------- Forwarded message ---------\nFrom: x@y.z\n\nForwarded body";
    assert_eq!(
        email::strip_reply(text),
        "FYI\n\n---------- Forwarded message ---------\nFrom: x@y.z\n\nForwarded body"
    );
}

#[test]
fn a_forward_inside_quoted_history_is_history() {
    let text = "Thanks!\n\nOn Tue, 3 Dec 2026 at 10:00, Acme <s@acme.example> wrote:\n\n---------- Forwarded \
                message ---------\nold";
    assert_eq!(email::strip_reply(text), "Thanks!");
}

#[test]
fn trailing_quote_goes_inline_answers_stay() {
    assert_eq!(email::strip_reply("Yes please.\n\n> Shall we refund?\n>\n> Acme\n"), "Yes please.");
    let inline = "> Which size?\nL, please.\n\n> Which colour?\nBlue.";
    assert_eq!(email::strip_reply(inline), inline);
    assert_eq!(email::strip_reply("> Which size?\nL, please.\n\n> Thanks"), "> Which size?\nL, please.");
}

#[test]
fn mobile_footers_cut() {
    for footer in [
        "Sent from my iPhone",
        "Sent from my Galaxy",
        "Sent from my iPad",
        "Get Outlook for iOS",
        "Get Outlook for Android<https://aka.ms/AAb9ysg>",
        "Sent from Mail for Windows",
        "Sent from Yahoo Mail on Android",
        "Envoyé de mon iPhone",
        "Von meinem iPhone gesendet",
        "Enviado desde mi iPhone",
    ] {
        let text = format!("Where is it?\n\n{footer}\n\n> old");
        assert_eq!(email::strip_reply(&text), "Where is it?", "{footer}");
    }
}

#[test]
fn sentences_starting_like_footers_stay() {
    let text = "Sent from my account on 3 December, the payment failed twice.\nPlease check.";
    assert_eq!(email::strip_reply(text), text);
}

#[test]
fn text_is_kept_when_stripping_leaves_nothing() {
    assert_eq!(email::strip_reply("> only a quote\n> here"), "> only a quote\n> here");
    assert_eq!(email::strip_reply("-- \nJust a signature"), "--\nJust a signature");
    assert_eq!(email::strip_reply("Sent from my iPhone"), "Sent from my iPhone");
    assert_eq!(email::strip_reply(""), "");
}

#[test]
fn line_endings_whitespace_and_blank_runs_are_tidied() {
    assert_eq!(email::strip_reply("\r\n\r\na  \r\nb\rc\t\r\n\r\n\r\n\r\n\r\nd\r\n\r\n"), "a\nb\nc\n\nd");
    assert_eq!(email::strip_reply("one\n\ntwo"), "one\n\ntwo");
    assert_eq!(email::strip_reply("  indented\nkept"), "  indented\nkept");
}

// ---- HTML reduced to text ----

#[test]
fn html_drops_head_scripts_styles_and_comments() {
    let html = "<!DOCTYPE html><html><head><title>T</title><style>p{color:red}</style></head><body><script>\
                alert('x<y')</script><!-- hidden <p>no</p> -->Shown<noscript>no</noscript> text</body></html>";
    assert_eq!(email::html_to_text(html), "Shown text");
}

#[test]
fn html_blocks_break_lines() {
    let html = "<div>one</div><div>two</div><p>three</p>four<br>five<br/><br />six<h1>Title</h1>\
                <ul><li>a</li><li>b</li></ul><table><tr><td>c1</td><td>c2</td></tr><tr><td>d</td></tr></table>";
    assert_eq!(email::html_to_text(html), "one\ntwo\nthree\nfour\nfive\n\nsix\nTitle\n- a\n- b\nc1 c2\nd");
}

#[test]
fn html_entities_and_whitespace() {
    let html = "  Fish&nbsp;&amp;&nbsp;chips \n\t cost &pound;5 &#8212; &#x263A; &bogus; &amp a < b &lt;tag&gt;";
    assert_eq!(email::html_to_text(html), "Fish & chips cost £5 — ☺ &bogus; &amp a < b <tag>");
}

#[test]
fn html_blockquotes_are_quoted_and_pre_kept() {
    let html = "<p>Reply</p><blockquote>Outer<blockquote>Inner</blockquote>Back</blockquote><pre>  a\n    b</pre>";
    assert_eq!(email::html_to_text(html), "Reply\n> Outer\n> > Inner\n> Back\n  a\n    b");
}

#[test]
fn html_attributes_with_angle_brackets_and_broken_markup() {
    assert_eq!(email::html_to_text("<a title=\"a > b\" href='x'>link</a> after"), "link after");
    assert_eq!(email::html_to_text("text <!-- never closed"), "text");
    assert_eq!(email::html_to_text("text <b unclosed=\"quote>bold</b>"), "text bold");
    assert_eq!(email::html_to_text("<head><p>no body tag, head never closed"), "");
    assert_eq!(email::html_to_text("<head><style>x</style><body>after head"), "after head");
    assert_eq!(email::html_to_text("5 <3 and x<"), "5 <3 and x<");
}

#[test]
fn html_quote_prefix_is_bounded() {
    // Unclosed blockquotes by the thousand must not make every line thousands of bytes.
    let html = format!("{}deep<br>deeper", "<blockquote>".repeat(10_000));
    assert_eq!(email::html_to_text(&html), "> > > > deep\n> > > > deeper");
}
