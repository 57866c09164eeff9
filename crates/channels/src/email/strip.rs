//! The new part of an email's text: quoted history, signatures and mobile footers dropped.
//!
//! Mail clients mark what they add in a handful of ways; these are recognised, line by line:
//!
//! - **History** (it and everything after it is dropped): a reply attribution, on one line or
//!   wrapped over two, that starts like "On … wrote:", "Le … a écrit :", "Am … schrieb …:",
//!   "El … escribió:", "Em … escreveu:", "Op … schreef …:", "Il … ha scritto:" or "Den … skrev:",
//!   ends with ":" and has a digit or "@" in it (a date or an address: "On Monday I wrote:" is
//!   prose); Outlook's "-----Original Message-----" (and its French, German, Spanish, Italian,
//!   Portuguese, Dutch and Swedish forms); and Outlook's header block, a "From:" line followed
//!   within five lines by a "Sent:"/"Date:" line and a "To:"/"Subject:" line (labels in the
//!   same languages).
//! - **Signature** (dropped up to the history, or to a forwarded message): a line "-- " (RFC
//!   3676; "--" too, as HTML conversions lose the space), or a mobile footer such as "Sent from
//!   my iPhone", "Get Outlook for iOS", "Envoyé de mon iPhone", "Von meinem iPhone gesendet"
//!   (a short line of at most seven words, without a comma).
//! - **Quoted lines at the end**: lines starting with ">" (and blank lines among them) that end
//!   the message. Quoted lines followed by new text are kept: that is an answer inline.
//! - **Forwarded messages are content**: from "---------- Forwarded message ---------",
//!   "Begin forwarded message:" (and their translations) on, everything is kept — unless the
//!   history started before it. When the subject says the message is a forward, the first
//!   history marker is read as the start of the forwarded message.
//!
//! Then line endings become "\n", trailing whitespace goes, and runs of blank lines become one
//! blank line. If stripping would leave nothing (a message that starts with a quote), the
//! whole text is kept, tidied the same way.

/// Reply attributions: how the line starts and what it says further on.
const ATTRIBUTIONS: &[(&str, &str)] = &[
    ("On ", "wrote"),
    ("Le ", "a écrit"),
    ("Am ", "schrieb"),
    ("El ", "escribió"),
    ("Em ", "escreveu"),
    ("Op ", "schreef"),
    ("Il ", "ha scritto"),
    ("Den ", "skrev"),
];
/// Longest reply attribution accepted, in bytes (a long line ending in ":" is prose).
const MAX_ATTRIBUTION_BYTES: usize = 400;
/// "-----Original Message-----" in the languages Outlook writes it in, lower-cased.
const ORIGINALS: &[&str] = &[
    "original message",
    "ursprüngliche nachricht",
    "message d'origine",
    "mensaje original",
    "messaggio originale",
    "mensagem original",
    "oorspronkelijk bericht",
    "originalmeddelande",
];
/// Forward markers between dashes ("---------- Forwarded message ---------"), lower-cased.
const FORWARDS: &[&str] = &[
    "forwarded message",
    "message transféré",
    "weitergeleitete nachricht",
    "mensaje reenviado",
    "messaggio inoltrato",
    "mensagem encaminhada",
    "doorgestuurd bericht",
    "vidarebefordrat meddelande",
];
/// Forward markers on a line of their own (Apple Mail), lower-cased.
const FORWARD_LINES: &[&str] =
    &["begin forwarded message", "début du message réexpédié", "inicio del mensaje reenviado"];
/// The label of the first line of an Outlook header block, lower-cased.
const FROM_LABELS: &[&str] = &["from", "de", "von", "da", "van", "från", "fra"];
/// Labels of its date line.
const DATE_LABELS: &[&str] =
    &["sent", "date", "envoyé", "gesendet", "datum", "enviado", "fecha", "inviato", "data", "verzonden", "skickat"];
/// Labels of its recipient or subject lines.
const TO_LABELS: &[&str] = &[
    "to",
    "cc",
    "subject",
    "à",
    "a",
    "objet",
    "an",
    "betreff",
    "para",
    "asunto",
    "oggetto",
    "aan",
    "onderwerp",
    "till",
    "ämne",
    "emne",
];
/// How many lines after "From:" the rest of an Outlook header block may be.
const HEADER_BLOCK_LINES: usize = 5;
/// Mobile and webmail footers, lower-cased starts of the line.
const FOOTERS: &[&str] = &[
    "sent from my ",
    "sent from mail for windows",
    "sent from yahoo mail",
    "sent from outlook",
    "sent from proton mail",
    "sent with proton mail",
    "sent from protonmail",
    "sent with protonmail",
    "get outlook for ",
    "envoyé de mon ",
    "envoyé depuis mon ",
    "enviado desde mi ",
    "enviado do meu ",
    "inviato da ",
    "verzonden vanaf mijn ",
    "skickat från min ",
];
/// Most words in a mobile footer.
const MAX_FOOTER_WORDS: usize = 7;

/// The new part of `text`: quoted history, signature and mobile footer dropped, tidied (see
/// the module docs for the rules). Returns the whole text, tidied, if nothing would be left.
pub fn strip_reply(text: &str) -> String {
    clean(text, false)
}

/// [`strip_reply`], reading the first history marker as the start of a forwarded message
/// when `forwarded` (the subject says it is a forward).
pub(crate) fn clean(text: &str, forwarded: bool) -> String {
    let normalised = text.replace("\r\n", "\n").replace('\r', "\n");
    let lines: Vec<&str> = normalised.split('\n').collect();

    let history = (0..lines.len()).find(|&i| is_history(&lines, i));
    let marker = lines.iter().position(|line| is_forward_marker(line));
    let (forward, history) = if forwarded { (min_some(marker, history), None) } else { (marker, history) };

    let kept = match forward {
        // The forwarded message is content: strip only what comes before it.
        Some(start) if history.is_none_or(|h| start < h) => {
            let mut kept = strip_head(&lines[..start]);
            // strip_head took the blank lines that set the forward apart: put one back.
            kept.push("");
            kept.extend_from_slice(&lines[start..]);
            kept
        }
        _ => strip_head(&lines[..history.unwrap_or(lines.len())]),
    };
    let cleaned = tidy(&kept);
    if cleaned.is_empty() { tidy(&lines) } else { cleaned }
}

/// The lines before any history: signature or footer cut off, then the quoted lines and
/// separator lines ("____", "----") that end them.
fn strip_head<'a>(lines: &[&'a str]) -> Vec<&'a str> {
    let end = lines.iter().position(|line| is_signature_separator(line) || is_footer(line)).unwrap_or(lines.len());
    let mut kept = lines[..end].to_vec();
    while kept.last().is_some_and(|line| line.trim().is_empty() || is_quoted(line) || is_separator(line)) {
        kept.pop();
    }
    kept
}

/// Lines joined with "\n", trailing whitespace trimmed, blank lines at the ends dropped and
/// runs of blank lines made one.
fn tidy(lines: &[&str]) -> String {
    let mut out = String::new();
    let mut blank_before = false;
    for line in lines.iter().map(|line| line.trim_end()) {
        if line.is_empty() {
            blank_before = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push('\n');
            if blank_before {
                out.push('\n');
            }
        }
        out.push_str(line);
        blank_before = false;
    }
    out
}

/// Whether line `i` starts quoted history.
fn is_history(lines: &[&str], i: usize) -> bool {
    is_attribution(lines[i], lines.get(i + 1).copied()) || is_original_message(lines[i]) || is_header_block(lines, i)
}

/// A reply attribution on this line, or wrapped onto the next one.
fn is_attribution(line: &str, next: Option<&str>) -> bool {
    let line = line.trim();
    if !ATTRIBUTIONS.iter().any(|(start, _)| line.starts_with(start)) {
        return false;
    }
    if looks_like_attribution(line) {
        return true;
    }
    // Plain-text clients wrap a long attribution: "On …, Jane Doe <jane@x.com>\nwrote:".
    next.map(str::trim)
        .filter(|next| !next.is_empty())
        .is_some_and(|next| looks_like_attribution(&format!("{line} {next}")))
}

/// Whether `s` reads as a whole reply attribution.
fn looks_like_attribution(s: &str) -> bool {
    s.len() <= MAX_ATTRIBUTION_BYTES
        && s.ends_with(':')
        && s.bytes().any(|b| b.is_ascii_digit() || b == b'@')
        && ATTRIBUTIONS.iter().any(|(start, says)| s.strip_prefix(start).is_some_and(|rest| rest.contains(says)))
}

/// "-----Original Message-----" or a translation.
fn is_original_message(line: &str) -> bool {
    let line = line.trim();
    line.starts_with("--") && ORIGINALS.contains(&between_dashes(line).as_str())
}

/// "---------- Forwarded message ---------", "Begin forwarded message:" or a translation.
fn is_forward_marker(line: &str) -> bool {
    let line = line.trim();
    if line.starts_with("--") && FORWARDS.contains(&between_dashes(line).as_str()) {
        return true;
    }
    let lower = line.to_lowercase();
    let lower = lower.trim_end_matches(':').trim_end();
    FORWARD_LINES.contains(&lower)
}

/// A line's text between its leading and trailing dashes, lower-cased.
fn between_dashes(line: &str) -> String {
    line.trim_matches(|c: char| c == '-' || c.is_whitespace()).to_lowercase()
}

/// An Outlook header block: "From: …" with a date line and a recipient or subject line below.
fn is_header_block(lines: &[&str], i: usize) -> bool {
    let Some((label, value)) = header_label(lines[i]) else { return false };
    if !FROM_LABELS.contains(&label.as_str()) || value.trim().is_empty() {
        return false;
    }
    let below = lines.iter().skip(i + 1).take(HEADER_BLOCK_LINES).filter_map(|line| header_label(line));
    let (mut dated, mut addressed) = (false, false);
    for (label, _) in below {
        dated |= DATE_LABELS.contains(&label.as_str());
        addressed |= TO_LABELS.contains(&label.as_str());
    }
    dated && addressed
}

/// The lower-cased label of a "Label: value" line (bold markers "*From:*" allowed) and the
/// value, if the line looks like one.
fn header_label(line: &str) -> Option<(String, &str)> {
    let (label, value) = line.trim().trim_start_matches('*').split_once(':')?;
    let label = label.trim().trim_end_matches('*').trim();
    let is_label = !label.is_empty() && label.len() <= 24 && label.chars().all(char::is_alphabetic);
    is_label.then(|| (label.to_lowercase(), value.trim_start_matches('*')))
}

/// RFC 3676's signature separator, "-- " (or "--").
fn is_signature_separator(line: &str) -> bool {
    line == "-- " || line.trim_end() == "--"
}

/// A mobile or webmail footer line ("Sent from my iPhone").
fn is_footer(line: &str) -> bool {
    let line = line.trim();
    if line.is_empty() || line.contains(',') || line.split_whitespace().count() > MAX_FOOTER_WORDS {
        return false;
    }
    let lower = line.to_lowercase();
    FOOTERS.iter().any(|start| lower.starts_with(start))
        || (lower.starts_with("von meinem ") && lower.trim_end_matches('.').ends_with("gesendet"))
}

/// A quoted line ("> …").
fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// A line of only "_", "-", "=" or "*" (at least two): what clients put above history.
fn is_separator(line: &str) -> bool {
    let line = line.trim();
    line.len() >= 2 && line.chars().all(|c| matches!(c, '_' | '-' | '=' | '*'))
}

/// The smaller of two optional indices.
fn min_some(a: Option<usize>, b: Option<usize>) -> Option<usize> {
    match (a, b) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}
