//! Tokenisation and normalisation into reusable buffers.
//!
//! Every analyser in the crate works on the same [`Tokens`]: one pass over the (capped) input
//! that lowercases, folds Latin accents, strips apostrophes, collapses elongations ("sooo" →
//! "soo", looked up again as "so" when needed) and classifies each token (word, number, emoji,
//! emoticon, hashtag, mention, URL, clause punctuation). Tokens are byte spans into one `norm`
//! buffer, so the hot path does not allocate per token; the buffers are reused between calls.

use crate::lexicon;

/// Input longer than this many characters is cut before analysis (documented in the crate docs).
pub const MAX_CHARS: usize = 10_000;

/// Bytes of word text handed to the language detector; more does not change its answer much.
const LANG_SAMPLE_BYTES: usize = 600;

/// What a token is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// Letters (any script), possibly with digits.
    Word,
    /// Digits only (separators inside like `12.5` or `1,000` are kept out).
    Number,
    /// One pictographic emoji.
    Emoji,
    /// A text emoticon such as `:)` or `<3`.
    Emoticon,
    /// `#tag`; `norm` holds the tag without `#`.
    Hashtag,
    /// `@handle`; `norm` holds the handle without `@`.
    Mention,
    /// A link; `norm` is empty.
    Url,
    /// Clause punctuation (`. , ; : ! ?`); `norm` holds the character.
    Punct,
}

/// One token: spans into the normalised buffer and into the analysed input.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Token {
    pub kind: Kind,
    /// Span in [`Tokens::norm`].
    pub start: u32,
    pub end: u32,
    /// Span in the analysed input text.
    pub orig_start: u32,
    pub orig_end: u32,
    /// Written in capitals (two or more letters, no lowercase).
    pub caps: bool,
    /// Had a letter repeated three or more times.
    pub elongated: bool,
    /// For emoji: the emoji character.
    pub ch: char,
}

/// The tokenised form of one text, reused between calls.
#[derive(Debug, Default)]
pub(crate) struct Tokens {
    /// Normalised token text, tokens separated by one space (so phrase matching can run on it).
    pub norm: String,
    /// Tokens in order.
    pub tokens: Vec<Token>,
    /// Lowercased (not accent-folded) words for the language detector.
    pub lang_sample: String,
    /// Count of `!`.
    pub exclamations: u32,
    /// Count of `?`.
    pub questions: u32,
    /// Number of URLs.
    pub urls: u32,
    /// Longest run of one repeated character anywhere (spam cue).
    pub max_char_run: u32,
    /// Any lowercase letter seen (caps emphasis only counts in mixed-case text).
    pub has_lower: bool,
    /// Any uppercase letter seen.
    pub has_upper: bool,
    /// Number of letters and digits seen.
    pub alnum_chars: u32,
    /// Number of chars analysed.
    pub chars: u32,
    /// Scratch buffer used for elongation fallback look-ups.
    scratch: String,
}

impl Tokens {
    /// The normalised text of a token.
    pub fn text(&self, t: &Token) -> &str {
        self.norm.get(t.start as usize..t.end as usize).unwrap_or("")
    }

    /// Look up a word in a table, trying the elongation-collapsed forms as well.
    ///
    /// `get` is called with "goood" → "good" (stored form, runs cut to two) and, if that misses
    /// and the token was elongated, with every double letter collapsed ("soo" → "so").
    pub fn lookup<T>(&mut self, t: &Token, get: impl Fn(&str) -> Option<T>) -> Option<T> {
        let text = self.norm.get(t.start as usize..t.end as usize).unwrap_or("");
        if let Some(v) = get(text) {
            return Some(v);
        }
        if !t.elongated {
            return None;
        }
        self.scratch.clear();
        let mut prev = '\0';
        for c in text.chars() {
            if c != prev {
                self.scratch.push(c);
            }
            prev = c;
        }
        get(&self.scratch)
    }

    /// Tokenise `input` (already cut to the analysed length) into `self`.
    pub fn fill(&mut self, input: &str, skip_quoted_lines: bool) {
        self.norm.clear();
        self.tokens.clear();
        self.lang_sample.clear();
        self.exclamations = 0;
        self.questions = 0;
        self.urls = 0;
        self.max_char_run = 0;
        self.has_lower = false;
        self.has_upper = false;
        self.alnum_chars = 0;
        self.chars = 0;

        let bytes = input.as_bytes();
        let mut i = 0usize;
        let mut at_line_start = true;
        // Character-run tracking for the spam cue.
        let mut run_char = '\0';
        let mut run_len = 0u32;

        while i < input.len() {
            let Some(c) = input[i..].chars().next() else {
                break;
            };
            let clen = c.len_utf8();
            self.chars += 1;
            if c == run_char {
                run_len += 1;
            } else {
                run_char = c;
                run_len = 1;
            }
            self.max_char_run = self.max_char_run.max(run_len);

            if c == '\n' {
                at_line_start = true;
                i += 1;
                continue;
            }
            if at_line_start && skip_quoted_lines && c == '>' {
                // Quoted reply in an email: skip the line.
                while i < input.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                continue;
            }
            if c.is_whitespace() {
                i += clen;
                continue;
            }
            at_line_start = false;

            // Links.
            if (c == 'h' || c == 'H' || c == 'w' || c == 'W') && starts_url(&bytes[i..]) {
                let end = chunk_end(input, i);
                self.push_token(Kind::Url, i, end, false, false, '\0');
                self.urls += 1;
                i = end;
                continue;
            }
            // Mentions and hashtags.
            if (c == '@' || c == '#' || c == '＃') && i + clen < input.len() {
                let rest = &input[i + clen..];
                let next = rest.chars().next().unwrap_or(' ');
                if next.is_alphanumeric() || next == '_' {
                    let word_end = word_end(input, i + clen, true);
                    let all_digits = input[i + clen..word_end].bytes().all(|b| b.is_ascii_digit());
                    if c == '@' {
                        self.push_word(Kind::Mention, input, i, i + clen, word_end);
                    } else if all_digits {
                        // "#12345" is a number (order or ticket), not a topic.
                        self.push_word(Kind::Number, input, i, i + clen, word_end);
                    } else {
                        self.push_word(Kind::Hashtag, input, i, i + clen, word_end);
                    }
                    i = word_end;
                    continue;
                }
            }
            // Words and numbers.
            if c.is_alphanumeric() {
                let end = word_end(input, i, false);
                let all_digits = input[i..end].bytes().all(|b| b.is_ascii_digit());
                let kind = if all_digits { Kind::Number } else { Kind::Word };
                self.push_word(kind, input, i, i, end);
                i = end;
                continue;
            }
            // Emoji (skin tones, joiners and variation selectors are skipped).
            if is_emoji_modifier(c) {
                i += clen;
                continue;
            }
            if is_emoji(c) {
                self.push_token(Kind::Emoji, i, i + clen, false, false, c);
                i += clen;
                continue;
            }
            // HTML entities left in scraped posts.
            if c == '&' {
                let rest = &input[i..];
                if rest.starts_with("&amp;") {
                    i += 5;
                    continue;
                }
                if rest.starts_with("&lt;3") {
                    self.push_emoticon("<3", i, i + 5);
                    i += 5;
                    continue;
                }
                if rest.starts_with("&gt;") || rest.starts_with("&lt;") {
                    i += 4;
                    continue;
                }
            }
            // Emoticons: longest known prefix of the chunk, at most 4 chars.
            let end = chunk_end(input, i);
            let chunk = &input[i..end];
            let mut matched = false;
            for len in (2..=chunk.len().min(4)).rev() {
                if let Some(candidate) = chunk.get(..len)
                    && lexicon::is_emoticon(candidate)
                {
                    self.push_emoticon(candidate, i, i + len);
                    i += len;
                    matched = true;
                    break;
                }
            }
            if matched {
                continue;
            }
            match c {
                '!' | '！' | '¡' => {
                    if c != '¡' {
                        self.exclamations += 1;
                    }
                    self.push_punct('!', i, i + clen);
                }
                '?' | '？' | '¿' => {
                    if c != '¿' {
                        self.questions += 1;
                    }
                    self.push_punct('?', i, i + clen);
                }
                '.' | ',' | ';' | ':' | '…' | '(' | ')' => self.push_punct('.', i, i + clen),
                _ => {}
            }
            i += clen;
        }
    }

    fn push_token(&mut self, kind: Kind, orig_start: usize, orig_end: usize, caps: bool, elongated: bool, ch: char) {
        let start = self.norm.len();
        self.tokens.push(Token {
            kind,
            start: start as u32,
            end: start as u32,
            orig_start: orig_start as u32,
            orig_end: orig_end as u32,
            caps,
            elongated,
            ch,
        });
    }

    fn push_emoticon(&mut self, text: &str, orig_start: usize, orig_end: usize) {
        self.separate();
        let start = self.norm.len();
        self.norm.push_str(text);
        self.tokens.push(Token {
            kind: Kind::Emoticon,
            start: start as u32,
            end: self.norm.len() as u32,
            orig_start: orig_start as u32,
            orig_end: orig_end as u32,
            caps: false,
            elongated: false,
            ch: '\0',
        });
    }

    fn push_punct(&mut self, p: char, orig_start: usize, orig_end: usize) {
        // Collapse runs of punctuation into one token.
        if let Some(last) = self.tokens.last()
            && last.kind == Kind::Punct
        {
            return;
        }
        self.push_token(Kind::Punct, orig_start, orig_end, false, false, p);
    }

    fn separate(&mut self) {
        if !self.norm.is_empty() {
            self.norm.push(' ');
        }
    }

    /// Push a word-like token whose text is `input[text_start..end]` (token spans `orig_start..end`).
    fn push_word(&mut self, kind: Kind, input: &str, orig_start: usize, text_start: usize, end: usize) {
        self.separate();
        let start = self.norm.len();
        let text = &input[text_start..end];
        let mut upper = 0u32;
        let mut lower = 0u32;
        let mut prev = '\0';
        let mut run = 0u32;
        let mut elongated = false;
        let sample = kind == Kind::Word && self.lang_sample.len() < LANG_SAMPLE_BYTES;
        if sample && !self.lang_sample.is_empty() {
            self.lang_sample.push(' ');
        }
        if text.is_ascii() {
            // Fast path: most care posts are ASCII.
            for &b in text.as_bytes() {
                if b == b'\'' || b == b'`' {
                    continue;
                }
                self.alnum_chars += 1;
                if b.is_ascii_uppercase() {
                    upper += 1;
                } else if b.is_ascii_lowercase() {
                    lower += 1;
                }
                let f = b.to_ascii_lowercase() as char;
                if sample {
                    self.lang_sample.push(f);
                }
                if f == prev {
                    run += 1;
                } else {
                    prev = f;
                    run = 1;
                }
                if run >= 3 && f.is_ascii_alphabetic() {
                    elongated = true;
                } else {
                    self.norm.push(f);
                }
            }
        } else {
            for c in text.chars() {
                if c == '\'' || c == '’' || c == '`' {
                    continue;
                }
                self.alnum_chars += 1;
                if c.is_uppercase() {
                    upper += 1;
                } else if c.is_lowercase() {
                    lower += 1;
                }
                if sample {
                    for l in c.to_lowercase() {
                        self.lang_sample.push(l);
                    }
                }
                for l in c.to_lowercase() {
                    let folded = fold(l);
                    let mut push_one = |f: char| {
                        if f == prev {
                            run += 1;
                        } else {
                            prev = f;
                            run = 1;
                        }
                        if run >= 3 && f.is_alphabetic() {
                            elongated = true;
                        } else {
                            self.norm.push(f);
                        }
                    };
                    match folded {
                        Folded::One(f) => push_one(f),
                        Folded::Two(a, b) => {
                            push_one(a);
                            push_one(b);
                        }
                    }
                }
            }
        }
        self.has_upper |= upper > 0;
        self.has_lower |= lower > 0;
        let caps = upper >= 2 && lower == 0;
        self.tokens.push(Token {
            kind,
            start: start as u32,
            end: self.norm.len() as u32,
            orig_start: orig_start as u32,
            orig_end: end as u32,
            caps,
            elongated,
            ch: '\0',
        });
    }
}

/// Cut `text` to at most [`MAX_CHARS`] characters; returns the analysed part and whether it was cut.
pub(crate) fn cap(text: &str) -> (&str, bool) {
    if text.len() <= MAX_CHARS {
        return (text, false);
    }
    match text.char_indices().nth(MAX_CHARS) {
        Some((idx, _)) => (&text[..idx], true),
        None => (text, false),
    }
}

/// Normalise a phrase (a topic keyword, a rule) the same way token text is normalised:
/// words joined by single spaces.
pub(crate) fn normalize_phrase(phrase: &str) -> String {
    let mut tokens = Tokens::default();
    tokens.fill(phrase, false);
    let mut out = String::new();
    for t in &tokens.tokens {
        if matches!(t.kind, Kind::Word | Kind::Number | Kind::Hashtag | Kind::Mention) {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(tokens.text(t));
        }
    }
    out
}

fn starts_url(b: &[u8]) -> bool {
    let has = |p: &[u8]| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p);
    has(b"http://") || has(b"https://") || has(b"www.")
}

/// End of the whitespace-delimited chunk starting at `i`.
fn chunk_end(input: &str, i: usize) -> usize {
    input[i..].char_indices().find(|(_, c)| c.is_whitespace()).map_or(input.len(), |(off, _)| i + off)
}

/// End of a word starting at `i`: letters, digits, inner apostrophes (and `_` in handles).
fn word_end(input: &str, i: usize, allow_underscore: bool) -> usize {
    let mut end = i;
    let mut iter = input[i..].char_indices().peekable();
    while let Some((off, c)) = iter.next() {
        let ok = c.is_alphanumeric()
            || (allow_underscore && c == '_')
            || ((c == '\'' || c == '’') && off > 0 && iter.peek().is_some_and(|(_, n)| n.is_alphabetic()));
        if !ok {
            break;
        }
        end = i + off + c.len_utf8();
    }
    end
}

enum Folded {
    One(char),
    Two(char, char),
}

/// Fold a lowercase Latin letter to its unaccented form.
fn fold(c: char) -> Folded {
    if c.is_ascii() {
        return Folded::One(c);
    }
    Folded::One(match c {
        'à' | 'á' | 'â' | 'ã' | 'ä' | 'å' | 'ā' | 'ă' | 'ą' => 'a',
        'ç' | 'ć' | 'č' => 'c',
        'ď' | 'đ' => 'd',
        'è' | 'é' | 'ê' | 'ë' | 'ē' | 'ė' | 'ę' | 'ě' => 'e',
        'ì' | 'í' | 'î' | 'ï' | 'ī' | 'į' | 'ı' => 'i',
        'ñ' | 'ń' | 'ň' => 'n',
        'ò' | 'ó' | 'ô' | 'õ' | 'ö' | 'ø' | 'ō' | 'ő' => 'o',
        'ù' | 'ú' | 'û' | 'ü' | 'ū' | 'ů' | 'ű' => 'u',
        'ý' | 'ÿ' => 'y',
        'ś' | 'š' | 'ş' => 's',
        'ź' | 'ż' | 'ž' => 'z',
        'ł' => 'l',
        'ř' => 'r',
        'ť' | 'ţ' => 't',
        'ğ' => 'g',
        'ß' => return Folded::Two('s', 's'),
        'æ' => return Folded::Two('a', 'e'),
        'œ' => return Folded::Two('o', 'e'),
        'º' | 'ª' => 'o',
        other => other,
    })
}

/// Pictographic emoji and symbols that carry sentiment.
pub(crate) fn is_emoji(c: char) -> bool {
    matches!(c as u32,
        0x1F000..=0x1FAFF | 0x2600..=0x27BF | 0x2300..=0x23FF | 0x2B00..=0x2BFF | 0x2190..=0x21FF)
}

fn is_emoji_modifier(c: char) -> bool {
    matches!(c as u32, 0xFE0E | 0xFE0F | 0x200D | 0x20E3 | 0x1F3FB..=0x1F3FF | 0xE0020..=0xE007F)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(input: &str) -> Vec<(Kind, String)> {
        let mut t = Tokens::default();
        t.fill(input, false);
        t.tokens.iter().map(|k| (k.kind, t.text(k).to_string())).collect()
    }

    #[test]
    fn tokenises_care_post() {
        let got = texts("@Delta Sooo ANNOYED!!! Order #12345, can't log in :( 😡 http://x.co #FailWhale Café");
        let expect = vec![
            (Kind::Mention, "delta"),
            (Kind::Word, "soo"),
            (Kind::Word, "annoyed"),
            (Kind::Punct, ""),
            (Kind::Word, "order"),
            (Kind::Number, "12345"),
            (Kind::Punct, ""),
            (Kind::Word, "cant"),
            (Kind::Word, "log"),
            (Kind::Word, "in"),
            (Kind::Emoticon, ":("),
            (Kind::Emoji, ""),
            (Kind::Url, ""),
            (Kind::Hashtag, "failwhale"),
            (Kind::Word, "cafe"),
        ];
        let expect: Vec<(Kind, String)> = expect.into_iter().map(|(k, s)| (k, s.to_string())).collect();
        assert_eq!(got, expect);
    }

    #[test]
    fn phrase_normalisation_matches_tokens() {
        assert_eq!(normalize_phrase("Écran  CASSÉ"), "ecran casse");
        assert_eq!(normalize_phrase("Straße"), "strasse");
    }

    #[test]
    fn cap_cuts_on_char_boundary() {
        let long = "é".repeat(MAX_CHARS + 5);
        let (cut, truncated) = cap(&long);
        assert!(truncated);
        assert_eq!(cut.chars().count(), MAX_CHARS);
    }
}
