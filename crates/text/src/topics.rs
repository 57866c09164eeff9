//! Hashtags, tenant topic dictionaries and reference-number entities.

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, MatchKind};
use serde::{Deserialize, Serialize};

use crate::normalize::{Kind, Tokens, normalize_phrase};
use crate::rules::on_word_boundaries;
use crate::types::{Entity, EntityKind, TopicMatch};

/// One topic of a [`TopicDictionary`] as the tenant wrote it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopicEntry {
    /// Topic name, e.g. `"billing"`; it is also matched as a keyword.
    pub name: String,
    /// Synonyms and keywords, single words or phrases (`"refund"`, `"charged twice"`).
    pub keywords: Vec<String>,
}

/// A tenant's topics: topic name → synonyms and keywords.
///
/// Matching is case- and accent-insensitive ("Facturación" matches "facturacion"), works on
/// whole words and multi-word phrases, and also sees hashtags (`#refund` matches "refund").
/// Built once per tenant with an Aho-Corasick automaton (leftmost-longest: "late delivery"
/// wins over "delivery" when both are keywords). Serialises as the list of entries.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(from = "Vec<TopicEntry>", into = "Vec<TopicEntry>")]
pub struct TopicDictionary {
    entries: Vec<TopicEntry>,
    /// (entry index, keyword index or usize::MAX for the name) per pattern.
    pattern_owner: Vec<(usize, usize)>,
    automaton: Option<AhoCorasick>,
}

impl TopicDictionary {
    /// Build a dictionary from (topic name, keywords) pairs.
    pub fn new<I, N, K, S>(topics: I) -> Self
    where
        I: IntoIterator<Item = (N, K)>,
        N: Into<String>,
        K: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let entries = topics
            .into_iter()
            .map(|(name, kws)| TopicEntry { name: name.into(), keywords: kws.into_iter().map(Into::into).collect() })
            .collect();
        Self::from_entries(entries)
    }

    /// Build a dictionary from entries.
    pub fn from_entries(entries: Vec<TopicEntry>) -> Self {
        let mut patterns = Vec::new();
        let mut pattern_owner = Vec::new();
        for (ei, e) in entries.iter().enumerate() {
            let name = normalize_phrase(&e.name);
            if !name.is_empty() {
                patterns.push(name);
                pattern_owner.push((ei, usize::MAX));
            }
            for (ki, k) in e.keywords.iter().enumerate() {
                let norm = normalize_phrase(k);
                if !norm.is_empty() {
                    patterns.push(norm);
                    pattern_owner.push((ei, ki));
                }
            }
        }
        let automaton = if patterns.is_empty() {
            None
        } else {
            AhoCorasickBuilder::new().match_kind(MatchKind::LeftmostLongest).build(&patterns).ok()
        };
        TopicDictionary { entries, pattern_owner, automaton }
    }

    /// The entries as given.
    pub fn entries(&self) -> &[TopicEntry] {
        &self.entries
    }

    /// True when there are no topics.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Find topics in normalised token text.
    pub(crate) fn find(&self, norm: &str) -> Vec<TopicMatch> {
        let mut out: Vec<TopicMatch> = Vec::new();
        let Some(ac) = &self.automaton else {
            return out;
        };
        for m in ac.find_iter(norm) {
            if !on_word_boundaries(norm, m.start(), m.end()) {
                continue;
            }
            let Some(&(ei, ki)) = self.pattern_owner.get(m.pattern().as_usize()) else {
                continue;
            };
            let Some(entry) = self.entries.get(ei) else {
                continue;
            };
            let keyword = entry.keywords.get(ki).unwrap_or(&entry.name);
            match out.iter_mut().find(|t| t.topic == entry.name) {
                Some(t) => {
                    t.count += 1;
                    if !t.keywords.contains(keyword) {
                        t.keywords.push(keyword.clone());
                    }
                }
                None => out.push(TopicMatch { topic: entry.name.clone(), keywords: vec![keyword.clone()], count: 1 }),
            }
        }
        out
    }
}

impl From<Vec<TopicEntry>> for TopicDictionary {
    fn from(entries: Vec<TopicEntry>) -> Self {
        Self::from_entries(entries)
    }
}

impl From<TopicDictionary> for Vec<TopicEntry> {
    fn from(d: TopicDictionary) -> Self {
        d.entries
    }
}

/// Hashtags in first-occurrence order, lowercased, without `#`, no duplicates.
pub(crate) fn hashtags(tok: &Tokens, input: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for t in tok.tokens.iter().filter(|t| t.kind == Kind::Hashtag) {
        let raw = input.get(t.orig_start as usize..t.orig_end as usize).unwrap_or("");
        let tag = raw.trim_start_matches(['#', '＃']).to_lowercase();
        if !tag.is_empty() && !out.contains(&tag) {
            out.push(tag);
        }
    }
    out
}

fn entity_keyword(word: &str) -> Option<EntityKind> {
    Some(match word {
        "order" | "orders" | "ordernumber" | "orderno" | "pedido" | "commande" | "bestellung" | "bestellnummer"
        | "encomenda" | "ordine" | "purchase" | "auftrag" | "auftragsnummer" => EntityKind::Order,
        "ticket" | "case" | "caso" | "incident" | "incidencia" | "dossier" | "vorgang" | "vorgangsnummer"
        | "chamado" | "protocolo" | "protocol" | "request" | "reclamacion" | "reclamation" => EntityKind::Ticket,
        "tracking" | "trackingnumber" | "seguimiento" | "suivi" | "sendungsnummer" | "sendung" | "rastreio"
        | "rastreamento" | "awb" | "waybill" | "shipment" | "parcel" | "colis" | "paket" => EntityKind::Tracking,
        "booking" | "confirmation" | "reservation" | "reserva" | "pnr" | "buchung" | "buchungsnummer"
        | "localizador" | "reference" | "ref" | "reservierung" => EntityKind::Booking,
        "invoice" | "factura" | "facture" | "rechnung" | "rechnungsnummer" | "fatura" | "bill" => EntityKind::Invoice,
        _ => return None,
    })
}

fn is_filler(word: &str) -> bool {
    matches!(
        word,
        "number"
            | "no"
            | "nr"
            | "num"
            | "numero"
            | "n"
            | "id"
            | "code"
            | "codigo"
            | "nummer"
            | "de"
            | "du"
            | "is"
            | "nro"
            | "nmr"
            | "num."
            | "my"
            | "mi"
            | "mon"
            | "meine"
            | "meu"
            | "minha"
            | "ma"
            | "mein"
            | "code:"
            | "nb"
    )
}

/// Order, ticket, tracking, booking and invoice numbers: a keyword ("order", "pedido",
/// "Sendungsnummer"...), up to two filler words or punctuation ("number", "no", "#", ":"),
/// then a value with at least three digits (digits, or letters and digits of length ≥ 5,
/// hyphenated parts kept). UPS-style `1Z` tracking numbers are found without a keyword.
pub(crate) fn entities(tok: &Tokens, input: &str) -> Vec<Entity> {
    let mut out: Vec<Entity> = Vec::new();
    let tokens = &tok.tokens;
    let mut i = 0;
    while i < tokens.len() {
        let t = tokens[i];
        let kind = if t.kind == Kind::Word { entity_keyword(tok.text(&t)) } else { None };
        let Some(kind) = kind else {
            if t.kind == Kind::Word
                && let Some(e) = ups_tracking(input, t.orig_start as usize, t.orig_end as usize)
            {
                out.push(e);
            }
            i += 1;
            continue;
        };
        let mut j = i + 1;
        let mut skipped = 0;
        while j < tokens.len() && skipped < 3 {
            let n = tokens[j];
            let filler = (n.kind == Kind::Word && is_filler(tok.text(&n))) || n.kind == Kind::Punct;
            if !filler {
                break;
            }
            j += 1;
            skipped += 1;
        }
        if let Some(v) = tokens.get(j)
            && matches!(v.kind, Kind::Number | Kind::Word | Kind::Hashtag)
        {
            let mut start = v.orig_start as usize;
            let mut end = v.orig_end as usize;
            while input.as_bytes().get(start).is_some_and(|&b| b == b'#') {
                start += 1;
            }
            // Keep hyphenated or slash-separated parts ("2024-0012", "AB-123/9").
            let bytes = input.as_bytes();
            while end + 1 < bytes.len()
                && (bytes[end] == b'-' || bytes[end] == b'/')
                && bytes[end + 1].is_ascii_alphanumeric()
            {
                end += 1;
                while end < bytes.len() && bytes[end].is_ascii_alphanumeric() {
                    end += 1;
                }
            }
            if let Some(value) = input.get(start..end) {
                let digits = value.bytes().filter(u8::is_ascii_digit).count();
                let alnum = value.chars().filter(|c| c.is_alphanumeric()).count();
                if digits >= 3 && (digits == alnum || alnum >= 5) && !out.iter().any(|e| e.start == start) {
                    out.push(Entity { kind, value: value.to_string(), start, end });
                    i = j + 1;
                    continue;
                }
            }
        }
        i += 1;
    }
    out
}

fn ups_tracking(input: &str, start: usize, end: usize) -> Option<Entity> {
    let value = input.get(start..end)?;
    let ok = value.len() == 18
        && value.get(..2).is_some_and(|p| p.eq_ignore_ascii_case("1z"))
        && value.bytes().all(|b| b.is_ascii_alphanumeric());
    ok.then(|| Entity { kind: EntityKind::Tracking, value: value.to_string(), start, end })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ents(text: &str) -> Vec<(EntityKind, String)> {
        let mut tok = Tokens::default();
        tok.fill(text, false);
        entities(&tok, text).into_iter().map(|e| (e.kind, e.value)).collect()
    }

    #[test]
    fn finds_entities() {
        assert_eq!(ents("where is order #12345?"), vec![(EntityKind::Order, "12345".into())]);
        assert_eq!(ents("ticket 98765 still open"), vec![(EntityKind::Ticket, "98765".into())]);
        assert_eq!(ents("mi pedido 1234 no llegó"), vec![(EntityKind::Order, "1234".into())]);
        assert_eq!(ents("Order number: AB-12345"), vec![(EntityKind::Order, "AB-12345".into())]);
        assert_eq!(
            ents("Sendungsnummer 00340434161094042557"),
            vec![(EntityKind::Tracking, "00340434161094042557".into())]
        );
        assert_eq!(ents("tracking 1Z999AA10123456784"), vec![(EntityKind::Tracking, "1Z999AA10123456784".into())]);
        assert_eq!(ents("invoice 2024-0012 is wrong"), vec![(EntityKind::Invoice, "2024-0012".into())]);
        assert!(ents("my order is late").is_empty());
        assert!(ents("order 12 pizzas").is_empty());
    }

    #[test]
    fn topics_match_accents_and_phrases() {
        let d = TopicDictionary::new([
            ("billing", vec!["Facturación", "charged twice", "refund"]),
            ("delivery", vec!["late delivery", "courier"]),
        ]);
        let text = "Problema de FACTURACION, me cobraron... #refund and the courier was late";
        let mut tok = Tokens::default();
        tok.fill(text, false);
        let found = d.find(&tok.norm);
        assert_eq!(found.len(), 2);
        assert_eq!(found[0].topic, "billing");
        assert_eq!(found[0].count, 2);
        assert_eq!(found[1].topic, "delivery");
        let json = serde_json::to_string(&d).unwrap_or_default();
        let back: TopicDictionary = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back.entries(), d.entries());
    }
}
