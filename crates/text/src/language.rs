//! Language detection: a stop-word vote for the common care languages, `whatlang` otherwise.
//!
//! Care posts are short, and trigram detectors are both slow (≈ 50 µs a tweet for `whatlang`)
//! and unsure on them. Most posts, though, contain a few function words ("the", "my", "el",
//! "pas", "nicht", "não") that settle English, Spanish, French, German, Portuguese, Italian or
//! Dutch at once. So the words are first scored against small stop-word lists (a word shared
//! by several languages counts for each, divided by how many share it); a clear winner (at
//! least 2 points and 1.5× the runner-up) is taken. Otherwise `whatlang` decides, and an
//! unreliable answer (or fewer than 12 letters) yields to the caller's hint.

use std::sync::LazyLock;

use crate::lexicon::FxMap;
use crate::types::{Language, LanguageSource};

/// Languages of the stop-word vote, in bit order.
const LANGS: [&str; 7] = ["eng", "spa", "fra", "deu", "por", "ita", "nld"];

const STOPWORDS: [&str; 7] = [
    // English
    "the and is are was were my your you i it to of for with this that have has not on at be me we they \
     what why how can will just been so get got from our would please an do did dont im its been any \
     there their when where who which still been being than then them if or into hours because \
     again nothing now cant cannot doesnt isnt wont didnt here out up about after every",
    // Spanish
    "el la los las de que y en un una por para con no es mi su se lo muy pero como del al está esta \
     estoy hay ya yo me nos son gracias hola porque qué cómo cuando nada desde hace tengo han le sus \
     este eso también",
    // French
    "le la les de des du et est un une pour pas je vous nous il elle que qui sur avec ce cette mon ma \
     mes au aux en ne merci bonjour depuis très où cest jai nest quil toujours mais votre vos suis",
    // German
    "der die das und ist nicht ich sie es ein eine mit für auf den dem zu von mein meine bei seit wie \
     kann noch auch sind wir ihr euch danke hallo schon immer bitte haben habe wird keine kein aber \
     ist im",
    // Portuguese
    "o os as de que e não um uma para com meu minha é está estou por mais muito na no do da dos das em \
     se mas como obrigado obrigada olá você vocês já ainda foi tem isso nao",
    // Italian
    "il lo gli di che e non un una per con sono è mio mia della del grazie ciao molto anche ma come \
     perché questo questa ho",
    // Dutch
    "de het een en is niet ik je van op voor met dat die zijn mijn maar ook nog wel bedankt geen hoe \
     wat jullie heb",
];

/// word → (language bitmask, number of languages sharing it).
static TABLE: LazyLock<FxMap<&'static str, u8>> = LazyLock::new(|| {
    let mut map: FxMap<&'static str, u8> = FxMap::default();
    for (li, list) in STOPWORDS.iter().enumerate() {
        for w in list.split_whitespace() {
            *map.entry(w).or_insert(0) |= 1 << li;
        }
    }
    map
});

/// ISO 639-1 codes and the ISO 639-3 codes this crate reports for them (whatlang's names).
const ISO_639_1: [(&str, &str); 35] = [
    ("en", "eng"),
    ("es", "spa"),
    ("fr", "fra"),
    ("de", "deu"),
    ("pt", "por"),
    ("it", "ita"),
    ("nl", "nld"),
    ("ru", "rus"),
    ("ja", "jpn"),
    ("zh", "cmn"),
    ("ar", "ara"),
    ("hi", "hin"),
    ("ko", "kor"),
    ("tr", "tur"),
    ("pl", "pol"),
    ("sv", "swe"),
    ("da", "dan"),
    ("nb", "nob"),
    ("no", "nob"),
    ("fi", "fin"),
    ("el", "ell"),
    ("he", "heb"),
    ("cs", "ces"),
    ("ro", "ron"),
    ("hu", "hun"),
    ("uk", "ukr"),
    ("id", "ind"),
    ("vi", "vie"),
    ("th", "tha"),
    ("ca", "cat"),
    ("fa", "pes"),
    ("bn", "ben"),
    ("ur", "urd"),
    ("ta", "tam"),
    ("tl", "tgl"),
];

/// Map a caller's hint (`"en"`, `"en-US"`, `"eng"`) to ISO 639-3.
pub(crate) fn normalize_hint(hint: &str) -> Option<String> {
    let base = hint.trim().split(['-', '_']).next().unwrap_or("").to_ascii_lowercase();
    if let Some((_, three)) = ISO_639_1.iter().find(|(two, _)| *two == base) {
        return Some((*three).to_string());
    }
    (base.len() == 3 && base.bytes().all(|b| b.is_ascii_lowercase()) && base != "und").then_some(base)
}

/// The ISO 639-1 code of a language this crate reports in ISO 639-3 (`"eng"` → `"en"`), for
/// contracts that speak 639-1; `None` for `"und"` and languages without a two-letter code here.
pub fn iso639_1(code: &str) -> Option<&'static str> {
    ISO_639_1.iter().find(|(_, three)| *three == code).map(|(two, _)| *two)
}

/// The stop-word vote: `(language index, score of winner, score of runner-up)`.
fn vote(sample: &str) -> Option<(usize, f32, f32)> {
    let table = &*TABLE;
    let mut scores = [0f32; 7];
    for w in sample.split(' ') {
        if let Some(&mask) = table.get(w) {
            let share = 1.0 / mask.count_ones() as f32;
            for (li, s) in scores.iter_mut().enumerate() {
                if mask & (1 << li) != 0 {
                    *s += share;
                }
            }
        }
    }
    let mut best = 0;
    for i in 1..scores.len() {
        if scores[i] > scores[best] {
            best = i;
        }
    }
    let second = scores.iter().enumerate().filter(|(i, _)| *i != best).map(|(_, s)| *s).fold(0.0, f32::max);
    (scores[best] > 0.0).then_some((best, scores[best], second))
}

/// Detect the language of a lowercased word sample; fall back to the hint when unreliable.
pub(crate) fn detect(sample: &str, hint: Option<&str>) -> Language {
    let hint = hint.and_then(normalize_hint);
    let letters = sample.chars().filter(|c| c.is_alphabetic()).count();
    let from_hint = |h: String| Language { code: h, confidence: 0.5, source: LanguageSource::Hint };
    let unknown = Language { code: "und".into(), confidence: 0.0, source: LanguageSource::Unknown };
    if letters < 2 {
        return hint.map_or(unknown, from_hint);
    }
    // A clear vote: two points and half again the runner-up's, or a single function word that
    // no other language of the vote shares ("my", "ist"): whatlang on a short post is a guess
    // that is wrong as often as not, and costs most of the enrichment's time.
    if let Some((li, best, second)) = vote(sample)
        && ((best >= 2.0 && best >= 1.5 * second) || (best >= 1.0 && second == 0.0))
    {
        let code = LANGS[li].to_string();
        let margin = (best - second) / best;
        let confidence = (margin * (best / 4.0).min(1.0)).clamp(0.5, 1.0);
        return match hint {
            Some(h) if h != code && best < 3.0 => from_hint(h),
            _ => Language { code, confidence, source: LanguageSource::Detected },
        };
    }
    match whatlang::detect(sample) {
        Some(info) => {
            let code = info.lang().code().to_string();
            let confidence = info.confidence() as f32;
            // Short texts are unreliable: trust the hint unless detection is confident and long enough.
            let reliable = info.is_reliable() && letters >= 12;
            match hint {
                Some(h) if h == code => {
                    Language { code, confidence: confidence.max(0.5), source: LanguageSource::Detected }
                }
                Some(h) if !reliable => from_hint(h),
                _ if reliable => Language { code, confidence, source: LanguageSource::Detected },
                _ => Language { code, confidence, source: LanguageSource::Guess },
            }
        }
        None => hint.map_or(unknown, from_hint),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn code(text: &str, hint: Option<&str>) -> String {
        let mut t = crate::normalize::Tokens::default();
        t.fill(text, false);
        detect(&t.lang_sample, hint).code
    }

    #[test]
    fn two_letter_codes_round_trip() {
        for (two, three) in ISO_639_1 {
            assert_eq!(normalize_hint(two).as_deref(), Some(three));
            if two != "no" {
                assert_eq!(iso639_1(three), Some(two));
            }
        }
        assert_eq!(iso639_1("und"), None);
        assert_eq!(normalize_hint("en-GB").as_deref(), Some("eng"));
        assert_eq!(normalize_hint("xx"), None);
    }

    #[test]
    fn detects_common_languages() {
        assert_eq!(code("my internet has been down since this morning and nobody answers", None), "eng");
        assert_eq!(code("mi pedido no ha llegado y nadie responde desde hace una semana", None), "spa");
        assert_eq!(code("je vais résilier mon abonnement, toujours pas de connexion", None), "fra");
        assert_eq!(code("das Internet funktioniert nicht seit drei Tagen, ich bin sauer", None), "deu");
        assert_eq!(code("o aplicativo não funciona e ninguém responde minhas mensagens", None), "por");
        assert_eq!(code("Это ужасный сервис, я жду уже три часа", None), "rus");
        assert_eq!(code("", None), "und");
        assert_eq!(code("!!! ??? 😡", None), "und");
        assert_eq!(code("😡", Some("es")), "spa");
        assert_eq!(code("ok", Some("pt-BR")), "por");
    }
}
