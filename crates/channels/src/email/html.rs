//! HTML bodies reduced to plain text, for messages without a text/plain part.
//!
//! mail-parser's own `html_to_text` breaks lines only at `<br>` and `</p>`, so Outlook's and
//! Gmail's `<div>`-per-line HTML came out as one long line and quoted history lost its shape.
//! This one is a small tolerant scanner, not a full HTML parser:
//!
//! - the content of `<head>`, `<script>`, `<style>`, `<title>`, `<textarea>`, `<template>`,
//!   `<noscript>` and Outlook's `<xml>` is dropped (script and style up to their end tag,
//!   whatever is inside), as are comments (Outlook's conditional ones too), declarations and
//!   processing instructions;
//! - block elements (`p`, `div`, `tr`, `li`, headings, tables, lists, …) start a new line,
//!   `<br>` breaks the line, list items get "- ", table cells are separated by a space;
//! - text inside `<blockquote>` is prefixed "> " per level (at most four), so quoted history
//!   reads as it does in plain text and is stripped the same way;
//! - whitespace runs become one space (except inside `<pre>`), and character references are
//!   decoded with mail-parser's entity table (`&nbsp;` becomes a plain space, but an
//!   otherwise empty paragraph still makes a blank line).
//!
//! Links keep their text only; images, forms and the like leave nothing.

use mail_parser::decoders::html::add_html_token;

/// Elements whose content is never text a reader sees.
const SKIPPED: &[&str] = &["head", "template", "noscript", "xml"];
/// Elements whose content is dropped and is not markup either (HTML's raw text elements).
const RAW_TEXT: &[&str] = &["script", "style", "title", "textarea"];
/// Elements that start (and end) a line.
const BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "body",
    "center",
    "dd",
    "div",
    "dl",
    "dt",
    "fieldset",
    "figcaption",
    "figure",
    "footer",
    "form",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "header",
    "hr",
    "html",
    "li",
    "main",
    "nav",
    "ol",
    "p",
    "section",
    "table",
    "tbody",
    "tfoot",
    "thead",
    "tr",
    "ul",
];
/// Most "> " put in front of a line: unclosed `<blockquote>`s by the thousand must not make
/// every line thousands of bytes long (and the text gigabytes).
const MAX_QUOTE_PREFIX: usize = 4;
/// Longest character reference decoded ("&CounterClockwiseContourIntegral;" is 33 bytes).
const MAX_ENTITY_BYTES: usize = 40;

/// The text a reader of `html` sees, one line per block (see the module docs).
pub fn html_to_text(html: &str) -> String {
    let bytes = html.as_bytes();
    let mut out = Writer::default();
    // The element whose content is being dropped, if any.
    let mut skipping: Option<String> = None;
    let mut pos = 0;
    while pos < bytes.len() {
        if bytes[pos] == b'<' {
            match markup_at(bytes, pos) {
                Markup::Ignored(end) => {
                    pos = end;
                    continue;
                }
                Markup::Tag(tag) => {
                    pos = tag.end;
                    if !tag.closing && !tag.self_closing && RAW_TEXT.contains(&tag.name.as_str()) {
                        // Their content is not markup ("if (a<b)" in a script): skip straight
                        // to the end tag, inside a skipped element too.
                        pos = raw_text_end(bytes, pos, &tag.name);
                        continue;
                    }
                    if let Some(name) = &skipping {
                        // A `<head>` left open ends where the body starts.
                        if (tag.closing && tag.name == *name) || (name == "head" && tag.name == "body") {
                            skipping = None;
                        }
                        continue;
                    }
                    if !tag.closing && !tag.self_closing && SKIPPED.contains(&tag.name.as_str()) {
                        skipping = Some(tag.name);
                        continue;
                    }
                    out.tag(&tag);
                    continue;
                }
                Markup::Text => {}
            }
        }
        // Text up to the next "<" (a "<" that starts no tag is text, so look past it).
        let end = bytes[pos + 1..].iter().position(|&b| b == b'<').map_or(bytes.len(), |i| pos + 1 + i);
        if skipping.is_none() {
            out.text(&html[pos..end]);
        }
        pos = end;
    }
    out.finish()
}

/// What a "<" starts.
enum Markup {
    /// A start or end tag.
    Tag(Tag),
    /// A comment, declaration or processing instruction, ending before this offset.
    Ignored(usize),
    /// Nothing: the "<" is text ("a < b").
    Text,
}

/// A start or end tag.
struct Tag {
    /// Element name, lower-cased.
    name: String,
    /// `</name>`.
    closing: bool,
    /// `<name/>`.
    self_closing: bool,
    /// Offset just past the tag's ">".
    end: usize,
}

/// Read the markup that the "<" at `pos` starts.
fn markup_at(bytes: &[u8], pos: usize) -> Markup {
    let rest = &bytes[pos..];
    if rest.starts_with(b"<!--") {
        let end = find(bytes, pos + 4, b"-->").map_or(bytes.len(), |i| i + 3);
        return Markup::Ignored(end);
    }
    if matches!(rest.get(1), Some(b'!' | b'?')) {
        return Markup::Ignored(find(bytes, pos + 1, b">").map_or(bytes.len(), |i| i + 1));
    }
    let closing = rest.get(1) == Some(&b'/');
    let name_start = pos + if closing { 2 } else { 1 };
    if !bytes.get(name_start).is_some_and(u8::is_ascii_alphabetic) {
        return Markup::Text;
    }
    let name_len = bytes[name_start..]
        .iter()
        .position(|&b| !(b.is_ascii_alphanumeric() || matches!(b, b'-' | b':' | b'_')))
        .unwrap_or(bytes.len() - name_start);
    let name_end = name_start + name_len;
    let name = String::from_utf8_lossy(&bytes[name_start..name_end]).to_ascii_lowercase();
    let end = tag_end(bytes, name_end);
    let self_closing = end >= 2 && bytes.get(end - 2) == Some(&b'/') && bytes.get(end - 1) == Some(&b'>');
    Markup::Tag(Tag { name, closing, self_closing, end })
}

/// Offset just past the end tag `</name>` of a raw text element whose content starts at
/// `from` (the end of the input if it is never closed).
fn raw_text_end(bytes: &[u8], from: usize, name: &str) -> usize {
    let mut at = from;
    while let Some(open) = find(bytes, at, b"</") {
        let name_end = open + 2 + name.len();
        let matches = bytes.get(open + 2..name_end).is_some_and(|n| n.eq_ignore_ascii_case(name.as_bytes()));
        if matches && !bytes.get(name_end).is_some_and(u8::is_ascii_alphanumeric) {
            return tag_end(bytes, name_end);
        }
        at = open + 2;
    }
    bytes.len()
}

/// Offset just past the ">" closing a tag whose attributes start at `from`: a ">" inside a
/// quoted attribute value does not count, unless the quote is never closed.
fn tag_end(bytes: &[u8], from: usize) -> usize {
    let mut quote: Option<u8> = None;
    for (i, &b) in bytes.iter().enumerate().skip(from) {
        match (quote, b) {
            (None, b'"' | b'\'') => quote = Some(b),
            (Some(q), _) if b == q => quote = None,
            (None, b'>') => return i + 1,
            _ => {}
        }
    }
    // An unclosed quote: the first ">" ends the tag after all.
    find(bytes, from, b">").map_or(bytes.len(), |i| i + 1)
}

/// The offset of `needle` in `bytes` at or after `from`.
fn find(bytes: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    bytes.get(from..)?.windows(needle.len()).position(|w| w == needle).map(|i| from + i)
}

/// The text being written: line state, quote depth and pending whitespace.
#[derive(Default)]
struct Writer {
    out: String,
    /// Nothing written on the current line yet.
    mid_line: bool,
    /// Whitespace seen since the last character written.
    pending_space: bool,
    /// `<blockquote>` nesting.
    quote_depth: usize,
    /// `<pre>` nesting.
    pre_depth: usize,
}

impl Writer {
    /// React to a tag.
    fn tag(&mut self, tag: &Tag) {
        match tag.name.as_str() {
            "br" => self.line_break(),
            "blockquote" => {
                self.block_break();
                self.quote_depth = if tag.closing { self.quote_depth.saturating_sub(1) } else { self.quote_depth + 1 };
            }
            "pre" => {
                self.block_break();
                self.pre_depth = if tag.closing { self.pre_depth.saturating_sub(1) } else { self.pre_depth + 1 };
            }
            "li" if !tag.closing => {
                self.block_break();
                self.chars("- ");
            }
            "td" | "th" => self.pending_space = true,
            name if BLOCKS.contains(&name) => self.block_break(),
            _ => {}
        }
    }

    /// Write text from the document, decoding character references.
    fn text(&mut self, raw: &str) {
        let mut rest = raw;
        while let Some(amp) = rest.find('&') {
            self.chars(&rest[..amp]);
            let from_amp = &rest[amp..];
            match entity_len(from_amp) {
                Some(len) => {
                    let mut decoded = String::new();
                    // An unknown name comes back as written, which is what a browser shows.
                    add_html_token(&mut decoded, &from_amp.as_bytes()[..len], false);
                    self.chars(&decoded);
                    rest = &from_amp[len..];
                }
                None => {
                    self.chars("&");
                    rest = &from_amp[1..];
                }
            }
        }
        self.chars(rest);
    }

    /// Write decoded characters.
    fn chars(&mut self, s: &str) {
        for c in s.chars() {
            // A no-break space is kept as a character here, so that Outlook's empty
            // paragraphs (`<p>&nbsp;</p>`) still make a blank line; `finish` turns it into a
            // plain space.
            if self.pre_depth > 0 {
                match c {
                    '\n' => self.line_break(),
                    '\r' => {}
                    c => self.push(c),
                }
            } else if c.is_whitespace() && c != '\u{a0}' {
                self.pending_space = self.mid_line;
            } else {
                if self.pending_space && self.mid_line {
                    self.out.push(' ');
                }
                self.push(c);
            }
        }
    }

    /// Write one character, starting the line with its quote prefix.
    fn push(&mut self, c: char) {
        if !self.mid_line {
            for _ in 0..self.quote_depth.min(MAX_QUOTE_PREFIX) {
                self.out.push_str("> ");
            }
            self.mid_line = true;
        }
        self.pending_space = false;
        self.out.push(c);
    }

    /// End the current line, even an empty one (`<br>`).
    fn line_break(&mut self) {
        self.out.push('\n');
        self.mid_line = false;
        self.pending_space = false;
    }

    /// End the current line unless nothing is on it (a block boundary).
    fn block_break(&mut self) {
        if self.mid_line {
            self.line_break();
        }
        self.pending_space = false;
    }

    /// The text, no-break spaces made plain, without trailing whitespace.
    fn finish(self) -> String {
        self.out.replace('\u{a0}', " ").trim_end().to_owned()
    }
}

/// The length of the character reference `s` starts with ("&amp;", "&#233;", "&#xE9;"), if
/// it is one.
fn entity_len(s: &str) -> Option<usize> {
    let body = s.as_bytes().get(1..)?;
    let len = body.iter().take(MAX_ENTITY_BYTES).position(|&b| !(b.is_ascii_alphanumeric() || b == b'#'))?;
    (len > 0 && body[len] == b';').then_some(len + 2)
}
