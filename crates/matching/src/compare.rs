//! Comparators: how two values of one field agree, as an ordered list of agreement levels.
//!
//! Each [`FieldKind`] has a fixed list of levels, strongest first; comparing two values walks the
//! list and returns the first level whose test passes, the last one ("else") catching everything.
//! When either value is missing the result is [`NULL`], which carries no evidence (weight 0).
//!
//! | kind | levels, in order |
//! | --- | --- |
//! | `name` | `exact` (equal once normalised, spaces ignored) · `jaro_winkler_0.92` · `swapped` (equal or Jaro–Winkler ≥ 0.92 to the *partner* field of the other record, e.g. given name ↔ surname) · `jaro_winkler_0.80` · `phonetic` (a Double Metaphone code in common) · `else` |
//! | `text` | `exact` (spaces ignored) · `damerau_1` (one insertion, deletion, substitution or adjacent transposition, spaces ignored) · `jaro_winkler_0.90` · `tokens_0.5` (Jaccard similarity of the word sets ≥ 0.5) · `swapped` (exact or Jaro–Winkler ≥ 0.90 to the partner field of the other record) · `else` |
//! | `code` | `exact` · `damerau_1` · `else` |
//! | `date` | `exact` · `typo` (one edit of the `YYYYMMDD` digits, or day and month transposed) · `one_part` (only one of year, month, day differs) · `within_year` (at most 365 days apart) · `else` |
//! | `exact`, `email`, `phone` | `exact` · `else` (emails on their canonical form, phones on their last nine digits) |
//!
//! Every comparator is symmetric: comparing `a` with `b` gives the level `b` with `a` gives.

use serde::{Deserialize, Serialize};

use crate::normalize::{self, Date};

/// The agreement level of a field whose value is missing on either side.
pub const NULL: u8 = u8::MAX;

/// How a field is normalised and compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FieldKind {
    /// A personal name (given name, surname): string similarity, swap and phonetic levels.
    Name,
    /// Free text such as an address line or a town: edit distance, similarity and word overlap.
    Text,
    /// A short code such as a postcode or a street number: exact or one edit away.
    Code,
    /// A calendar date such as a date of birth: exact, typo, one part off, within a year.
    Date,
    /// A category (state, country, gender): exact or not.
    Exact,
    /// An email address, compared on its canonical form.
    Email,
    /// A phone number, compared on its last nine digits.
    Phone,
}

const NAME_LEVELS: &[&str] = &["exact", "jaro_winkler_0.92", "swapped", "jaro_winkler_0.80", "phonetic", "else"];
const TEXT_LEVELS: &[&str] = &["exact", "damerau_1", "jaro_winkler_0.90", "tokens_0.5", "swapped", "else"];
const CODE_LEVELS: &[&str] = &["exact", "damerau_1", "else"];
const DATE_LEVELS: &[&str] = &["exact", "typo", "one_part", "within_year", "else"];
const EXACT_LEVELS: &[&str] = &["exact", "else"];

impl FieldKind {
    /// The names of this kind's agreement levels, strongest first; a comparison yields an index
    /// into this list (or [`NULL`]). Level 0 is always `exact`, the last is always `else`.
    pub fn levels(self) -> &'static [&'static str] {
        match self {
            Self::Name => NAME_LEVELS,
            Self::Text => TEXT_LEVELS,
            Self::Code => CODE_LEVELS,
            Self::Date => DATE_LEVELS,
            Self::Exact | Self::Email | Self::Phone => EXACT_LEVELS,
        }
    }

    /// The name of `level`, `"null"` for [`NULL`].
    pub fn level_name(self, level: u8) -> &'static str {
        self.levels().get(usize::from(level)).copied().unwrap_or("null")
    }

    /// Normalise a raw value for this kind: `None` when nothing comparable is left.
    pub(crate) fn prepare(self, raw: &str) -> Option<Value> {
        let value = match self {
            Self::Name => Value::words(normalize::name(raw), true, false),
            Self::Text => Value::words(normalize::text(raw), false, true),
            Self::Code => Value::plain(normalize::code(raw)),
            Self::Exact => Value::plain(normalize::text(raw).replace(' ', "")),
            Self::Email => Value::plain(normalize::email(raw).unwrap_or_default()),
            Self::Phone => {
                let digits = normalize::phone(raw).unwrap_or_default();
                let last_nine = digits.get(digits.len().saturating_sub(9)..).unwrap_or_default().to_string();
                Value::plain(last_nine)
            }
            Self::Date => match normalize::date(raw) {
                Some(date) => {
                    let mut value = Value::plain(format!("{:04}{:02}{:02}", date.year, date.month, date.day));
                    value.date = Some(date);
                    value
                }
                None => Value::plain(normalize::code(raw)),
            },
        };
        if value.key.is_empty() { None } else { Some(value) }
    }
}

/// A value prepared for comparison: normalised once, compared many times.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub(crate) struct Value {
    /// The normalised value as people read it ("lawrence wackett crescent").
    pub(crate) display: String,
    /// The comparison key: normalised with spaces removed ("lawrencewackettcrescent").
    pub(crate) key: String,
    /// Hashes of the words, sorted and deduplicated (text fields only).
    pub(crate) tokens: Vec<u64>,
    /// Double Metaphone primary and alternate codes (name fields only).
    pub(crate) phonetic: Option<(String, String)>,
    /// The parsed date (date fields only, when it parses).
    pub(crate) date: Option<Date>,
}

impl Value {
    fn plain(key: String) -> Self {
        Self { display: key.clone(), key, ..Self::default() }
    }

    fn words(display: String, phonetic: bool, tokens: bool) -> Self {
        let key: String = display.chars().filter(|character| *character != ' ').collect();
        let mut value = Self { key, ..Self::default() };
        if phonetic && !value.key.is_empty() {
            value.phonetic = Some(double_metaphone(&value.key));
        }
        if tokens {
            let mut words: Vec<u64> =
                display.split(' ').filter(|word| !word.is_empty()).map(|word| hash(word.as_bytes())).collect();
            words.sort_unstable();
            words.dedup();
            value.tokens = words;
        }
        value.display = display;
        value
    }
}

/// The Double Metaphone codes (primary, alternate) of an already normalised ASCII value.
pub(crate) fn double_metaphone(key: &str) -> (String, String) {
    let result = rphonetic::DoubleMetaphone::default().double_metaphone(key);
    (result.primary(), result.alternate())
}

/// Compare two prepared values of a field of `kind`. `partners` are the values of the field's
/// swap partner on each side (given name ↔ surname), when the schema declares one.
pub(crate) fn compare(
    kind: FieldKind,
    left: Option<&Value>,
    right: Option<&Value>,
    partners: (Option<&Value>, Option<&Value>),
) -> u8 {
    let (Some(left), Some(right)) = (left, right) else {
        return NULL;
    };
    if left.key == right.key {
        return 0;
    }
    match kind {
        FieldKind::Name => compare_names(left, right, partners),
        FieldKind::Text => compare_text(left, right, partners),
        FieldKind::Code => {
            if within_one_edit(left.key.as_bytes(), right.key.as_bytes()) {
                1
            } else {
                2
            }
        }
        FieldKind::Date => compare_dates(left, right),
        FieldKind::Exact | FieldKind::Email | FieldKind::Phone => 1,
    }
}

fn compare_names(left: &Value, right: &Value, partners: (Option<&Value>, Option<&Value>)) -> u8 {
    let similarity = jaro_winkler(&left.key, &right.key);
    if similarity >= 0.92 {
        return 1;
    }
    if swapped(left, right, partners, 0.92) {
        return 2;
    }
    if similarity >= 0.80 {
        return 3;
    }
    if let (Some((left_primary, left_alternate)), Some((right_primary, right_alternate))) =
        (&left.phonetic, &right.phonetic)
    {
        let codes_meet = |code: &String, others: [&String; 2]| !code.is_empty() && others.contains(&code);
        if codes_meet(left_primary, [right_primary, right_alternate])
            || codes_meet(left_alternate, [right_primary, right_alternate])
        {
            return 4;
        }
    }
    5
}

fn compare_text(left: &Value, right: &Value, partners: (Option<&Value>, Option<&Value>)) -> u8 {
    if within_one_edit(left.key.as_bytes(), right.key.as_bytes()) {
        return 1;
    }
    if jaro_winkler(&left.key, &right.key) >= 0.90 {
        return 2;
    }
    if jaccard(&left.tokens, &right.tokens) >= 0.5 {
        return 3;
    }
    if swapped(left, right, partners, 0.90) {
        return 4;
    }
    5
}

fn compare_dates(left: &Value, right: &Value) -> u8 {
    let transposed = match (left.date, right.date) {
        (Some(a), Some(b)) => a.year == b.year && a.month == b.day && a.day == b.month,
        _ => false,
    };
    if transposed || within_one_edit(left.key.as_bytes(), right.key.as_bytes()) {
        return 1;
    }
    let (Some(a), Some(b)) = (left.date, right.date) else {
        return 4;
    };
    let same_parts = u8::from(a.year == b.year) + u8::from(a.month == b.month) + u8::from(a.day == b.day);
    if same_parts == 2 {
        return 2;
    }
    if (a.days() - b.days()).abs() <= 365 {
        return 3;
    }
    4
}

/// Whether a value equals (or nearly equals) the partner field of the other record, either way.
fn swapped(left: &Value, right: &Value, partners: (Option<&Value>, Option<&Value>), threshold: f64) -> bool {
    let close = |value: &Value, partner: Option<&Value>| {
        partner.is_some_and(|partner| partner.key == value.key || jaro_winkler(&value.key, &partner.key) >= threshold)
    };
    close(left, partners.1) || close(right, partners.0)
}

/// Jaro–Winkler similarity, symmetric: the arguments are put in a canonical order first (the
/// classic greedy matching may otherwise count differently one way and the other). ASCII strings
/// of up to 64 bytes — every normalised name, nearly every address — take a fast path with bit
/// masks instead of allocated flags; it computes exactly what `strsim::jaro_winkler` does.
pub(crate) fn jaro_winkler(left: &str, right: &str) -> f64 {
    let (first, second) = if (left.len(), left) <= (right.len(), right) { (left, right) } else { (right, left) };
    if first.len() <= 64 && second.len() <= 64 && first.is_ascii() && second.is_ascii() {
        ascii_jaro_winkler(first.as_bytes(), second.as_bytes())
    } else {
        strsim::jaro_winkler(first, second)
    }
}

/// Jaro–Winkler on ASCII byte strings of at most 64 bytes each (the caller checks).
fn ascii_jaro_winkler(a: &[u8], b: &[u8]) -> f64 {
    let (a_len, b_len) = (a.len(), b.len());
    if a_len == 0 && b_len == 0 {
        return 1.0;
    }
    if a_len == 0 || b_len == 0 {
        return 0.0;
    }
    let search_range = (a_len.max(b_len) / 2).saturating_sub(1);
    // Where each byte occurs in `b`, as bit masks: the first free match in the window is then the
    // lowest set bit of (occurrences & window & !taken), the same one strsim's scan finds.
    let mut occurrences = [0u64; 128];
    for (j, byte) in b.iter().enumerate() {
        if let Some(mask) = occurrences.get_mut(usize::from(*byte)) {
            *mask |= 1 << j;
        }
    }
    let below = |end: usize| if end >= 64 { u64::MAX } else { (1u64 << end) - 1 };
    let (mut a_flags, mut b_flags) = (0u64, 0u64);
    let mut matches = 0usize;
    for (i, a_byte) in a.iter().enumerate() {
        let window = below(b_len.min(i + search_range + 1)) & !below(i.saturating_sub(search_range));
        let free = occurrences.get(usize::from(*a_byte)).copied().unwrap_or(0) & window & !b_flags;
        if free != 0 {
            b_flags |= free & free.wrapping_neg();
            a_flags |= 1 << i;
            matches += 1;
        }
    }
    if matches == 0 {
        return 0.0;
    }
    // Walk the matched bytes of both strings in order; count the places they differ.
    let mut half_transpositions = 0usize;
    let mut remaining_b = b_flags;
    let mut remaining_a = a_flags;
    while remaining_a != 0 {
        let i = remaining_a.trailing_zeros() as usize;
        let j = remaining_b.trailing_zeros() as usize;
        if a.get(i) != b.get(j) {
            half_transpositions += 1;
        }
        remaining_a &= remaining_a - 1;
        remaining_b &= remaining_b - 1;
    }
    let transpositions = half_transpositions / 2;
    let matches_f = matches as f64;
    let jaro =
        (matches_f / a_len as f64 + matches_f / b_len as f64 + (matches - transpositions) as f64 / matches_f) / 3.0;
    if jaro > 0.7 {
        let prefix = a.iter().take(4).zip(b).take_while(|(x, y)| x == y).count();
        jaro + 0.1 * prefix as f64 * (1.0 - jaro)
    } else {
        jaro
    }
}

/// FNV-1a, 64 bits: small, fast and the same on every machine. Used for word and blocking-key
/// hashes, where a collision (odds 2⁻⁶⁴) could at worst add one candidate or one shared word.
pub(crate) fn hash(bytes: &[u8]) -> u64 {
    hash_more(0xcbf2_9ce4_8422_2325, bytes)
}

/// Continue an FNV-1a hash with more bytes.
pub(crate) fn hash_more(mut state: u64, bytes: &[u8]) -> u64 {
    for byte in bytes {
        state ^= u64::from(*byte);
        state = state.wrapping_mul(0x0100_0000_01b3);
    }
    state
}

/// A `HashMap` hasher built on [`hash`], for maps keyed by short normalised strings (std's
/// SipHash guards against flooding, which training on a tenant's own data does not need).
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct FnvHasher(u64);

impl std::hash::Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        self.0 = hash_more(if self.0 == 0 { hash(b"") } else { self.0 }, bytes);
    }
}

/// A `HashMap` keyed with [`FnvHasher`].
pub(crate) type FnvMap<K, V> = std::collections::HashMap<K, V, std::hash::BuildHasherDefault<FnvHasher>>;

/// Jaccard similarity of two sorted, deduplicated word-hash lists (0 when both are empty).
fn jaccard(left: &[u64], right: &[u64]) -> f64 {
    if left.is_empty() && right.is_empty() {
        return 0.0;
    }
    let (mut i, mut j, mut common) = (0, 0, 0usize);
    while let (Some(a), Some(b)) = (left.get(i), right.get(j)) {
        match a.cmp(b) {
            std::cmp::Ordering::Less => i += 1,
            std::cmp::Ordering::Greater => j += 1,
            std::cmp::Ordering::Equal => {
                common += 1;
                i += 1;
                j += 1;
            }
        }
    }
    let union = left.len() + right.len() - common;
    common as f64 / union as f64
}

/// Whether the optimal-string-alignment (restricted Damerau–Levenshtein) distance between two
/// byte strings is at most 1: one insertion, deletion, substitution or adjacent transposition.
pub(crate) fn within_one_edit(left: &[u8], right: &[u8]) -> bool {
    let (short, long) = if left.len() <= right.len() { (left, right) } else { (right, left) };
    if long.len() - short.len() > 1 {
        return false;
    }
    let prefix = short.iter().zip(long).take_while(|(a, b)| a == b).count();
    if prefix == short.len() {
        // Equal, or the long one has one extra byte at the end.
        return true;
    }
    if short.len() == long.len() {
        let (short_rest, long_rest) = (&short[prefix + 1..], &long[prefix + 1..]);
        // One substitution at `prefix`…
        if short_rest == long_rest {
            return true;
        }
        // …or two neighbours swapped.
        return short.get(prefix) == long.get(prefix + 1)
            && short.get(prefix + 1) == long.get(prefix)
            && short.get(prefix + 2..) == long.get(prefix + 2..);
    }
    // One byte inserted into the short one at `prefix`.
    short[prefix..] == long[prefix + 1..]
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn level(kind: FieldKind, left: &str, right: &str) -> &'static str {
        let (left, right) = (kind.prepare(left), kind.prepare(right));
        kind.level_name(compare(kind, left.as_ref(), right.as_ref(), (None, None)))
    }

    fn name_level(left: (&str, &str), right: (&str, &str)) -> &'static str {
        let kind = FieldKind::Name;
        let (left_value, right_value) = (kind.prepare(left.0), kind.prepare(right.0));
        let (left_partner, right_partner) = (kind.prepare(left.1), kind.prepare(right.1));
        let partners = (left_partner.as_ref(), right_partner.as_ref());
        kind.level_name(compare(kind, left_value.as_ref(), right_value.as_ref(), partners))
    }

    #[test]
    fn name_levels() {
        assert_eq!(level(FieldKind::Name, "Zoë O'Brien", "zoe obrien"), "exact");
        assert_eq!(level(FieldKind::Name, "mary jane", "maryjane"), "exact");
        assert_eq!(level(FieldKind::Name, "michaela", "micheala"), "jaro_winkler_0.92");
        assert_eq!(level(FieldKind::Name, "harrison", "har risn"), "jaro_winkler_0.92");
        assert_eq!(level(FieldKind::Name, "shepherd", "shephard"), "jaro_winkler_0.92");
        assert_eq!(level(FieldKind::Name, "steven", "stephen"), "jaro_winkler_0.80");
        assert_eq!(level(FieldKind::Name, "catherine", "kathryn"), "phonetic");
        assert_eq!(level(FieldKind::Name, "geoff", "jeff"), "phonetic");
        assert_eq!(level(FieldKind::Name, "philips", "fyllips"), "phonetic");
        assert_eq!(level(FieldKind::Name, "peter", "luke"), "else");
        assert_eq!(level(FieldKind::Name, "", "luke"), "null");
        assert_eq!(level(FieldKind::Name, "peter", " "), "null");
    }

    #[test]
    fn swapped_names_are_their_own_level() {
        assert_eq!(name_level(("abby", "sporn"), ("sporn", "abyb")), "swapped");
        assert_eq!(name_level(("sporn", "abby"), ("abyb", "sporn")), "swapped");
        assert_eq!(name_level(("abby", "sporn"), ("kyle", "jones")), "else");
    }

    #[test]
    fn text_levels() {
        assert_eq!(level(FieldKind::Text, "Ironbark Crescent", "ironbarkcrescent"), "exact");
        assert_eq!(level(FieldKind::Text, "mack street", "mack s treet"), "exact");
        assert_eq!(level(FieldKind::Text, "hodgkinson street", "hodgkinsno street"), "damerau_1");
        assert_eq!(level(FieldKind::Text, "dalley crescent", "dalley cresrcent"), "damerau_1");
        assert_eq!(level(FieldKind::Text, "memorial hospital", "memorial hoyspitl"), "jaro_winkler_0.90");
        assert_eq!(level(FieldKind::Text, "north ryde", "ryde north"), "tokens_0.5");
        assert_eq!(level(FieldKind::Text, "houghton place", "dulverton street"), "else");
    }

    #[test]
    fn code_levels() {
        assert_eq!(level(FieldKind::Code, "4223", " 4223"), "exact");
        assert_eq!(level(FieldKind::Code, "3206", "3026"), "damerau_1");
        assert_eq!(level(FieldKind::Code, "4152", "4352"), "damerau_1");
        assert_eq!(level(FieldKind::Code, "4152", "4352 1"), "else");
        assert_eq!(level(FieldKind::Code, "", "4352"), "null");
    }

    #[test]
    fn date_levels() {
        assert_eq!(level(FieldKind::Date, "19151111", "1915-11-11"), "exact");
        assert_eq!(level(FieldKind::Date, "19121126", "19211126"), "typo");
        assert_eq!(level(FieldKind::Date, "19800312", "19801203"), "typo");
        assert_eq!(level(FieldKind::Date, "19800312", "19800329"), "one_part");
        assert_eq!(level(FieldKind::Date, "19800312", "19810101"), "within_year");
        assert_eq!(level(FieldKind::Date, "19820620", "19120117"), "else");
        assert_eq!(level(FieldKind::Date, "not a date", "19120117"), "else");
    }

    #[test]
    fn exact_email_and_phone_levels() {
        assert_eq!(level(FieldKind::Exact, "NSW", "nsw "), "exact");
        assert_eq!(level(FieldKind::Exact, "nsw", "vic"), "else");
        assert_eq!(level(FieldKind::Email, "A.nn+x@Gmail.com", "ann@googlemail.com"), "exact");
        assert_eq!(level(FieldKind::Email, "ann@example.org", "anne@example.org"), "else");
        assert_eq!(level(FieldKind::Email, "nope", "anne@example.org"), "null");
        assert_eq!(level(FieldKind::Phone, "+61 412 345 678", "0412 345 678"), "exact");
        assert_eq!(level(FieldKind::Phone, "0412 345 678", "0412 345 679"), "else");
    }

    #[test]
    fn every_kind_starts_exact_and_ends_else() {
        use FieldKind::*;
        for kind in [Name, Text, Code, Date, Exact, Email, Phone] {
            assert_eq!(kind.levels().first(), Some(&"exact"));
            assert_eq!(kind.levels().last(), Some(&"else"));
            assert_eq!(kind.level_name(NULL), "null");
        }
    }

    proptest! {
        #[test]
        fn one_edit_agrees_with_strsim(left in "[a-c]{0,6}", right in "[a-c]{0,6}") {
            let expected = strsim::osa_distance(&left, &right) <= 1;
            prop_assert_eq!(within_one_edit(left.as_bytes(), right.as_bytes()), expected);
        }

        #[test]
        fn fast_jaro_winkler_agrees_with_strsim(left in "[a-e ]{0,12}", right in "[a-e ]{0,12}") {
            let expected = strsim::jaro_winkler(&left, &right);
            let fast = ascii_jaro_winkler(left.as_bytes(), right.as_bytes());
            prop_assert!((fast - expected).abs() < 1e-12, "{} vs {}", fast, expected);
            prop_assert_eq!(jaro_winkler(&left, &right), jaro_winkler(&right, &left));
        }

        #[test]
        fn comparators_are_symmetric(
            left in "[a-e ]{0,8}", right in "[a-e ]{0,8}",
            left_partner in "[a-e]{0,5}", right_partner in "[a-e]{0,5}",
            left_date in "19[0-9]{2}[01][0-9][0-3][0-9]", right_date in "19[0-9]{2}[01][0-9][0-3][0-9]",
        ) {
            use FieldKind::*;
            for kind in [Name, Text, Code, Exact] {
                let (a, b) = (kind.prepare(&left), kind.prepare(&right));
                let (pa, pb) = (kind.prepare(&left_partner), kind.prepare(&right_partner));
                let forward = compare(kind, a.as_ref(), b.as_ref(), (pa.as_ref(), pb.as_ref()));
                let backward = compare(kind, b.as_ref(), a.as_ref(), (pb.as_ref(), pa.as_ref()));
                prop_assert_eq!(forward, backward, "{:?}", kind);
            }
            let (a, b) = (Date.prepare(&left_date), Date.prepare(&right_date));
            prop_assert_eq!(compare(Date, a.as_ref(), b.as_ref(), (None, None)),
                compare(Date, b.as_ref(), a.as_ref(), (None, None)));
        }
    }
}
