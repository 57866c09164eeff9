//! The embedded word lists: sentiment valences, boosters, negations, emoji and emoticons.
//!
//! The base valences are the VADER lexicon (C.J. Hutto, MIT licence, `data/VADER_LICENSE.txt`),
//! scale -4..4, rounded to one decimal. On top of it sit customer-care words that VADER scores
//! as neutral or not at all ("cancelled", "stranded", "refund"), slang ("thx", "fml", "smh"), and
//! small Spanish, French, German and Portuguese lists. Multi-word care cues ("still waiting",
//! "on hold", "no response") live in [`crate::rules`], matched as phrases.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};
use std::sync::LazyLock;

/// A small, fast, non-cryptographic hasher for the static tables (FxHash).
#[derive(Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

impl Hasher for FxHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        const K: u64 = 0x51_7c_c1_b7_27_22_0a_95;
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            let mut b = [0u8; 8];
            b.copy_from_slice(c);
            self.0 = (self.0.rotate_left(5) ^ u64::from_le_bytes(b)).wrapping_mul(K);
        }
        for &b in chunks.remainder() {
            self.0 = (self.0.rotate_left(5) ^ u64::from(b)).wrapping_mul(K);
        }
    }
    fn write_u8(&mut self, i: u8) {
        self.write(&[i]);
    }
}

pub(crate) type FxMap<K, V> = HashMap<K, V, BuildHasherDefault<FxHasher>>;

/// Word roles beyond plain valence.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Role {
    /// Carries sentiment (VADER scale -4..4).
    Valence(f32),
    /// Flips the valence of the next few words.
    Negation,
    /// Raises (positive) or lowers (negative) the intensity of the next word.
    Booster(f32),
    /// "but" and its translations: earlier clause counts half, later clause one and a half.
    Contrast,
}

const VADER: &str = include_str!("../data/vader_lexicon.tsv");

/// VADER's booster increment.
pub(crate) const B_INCR: f32 = 0.293;

/// Customer-care additions and overrides (normalised: lowercase, no accents, no apostrophes).
const CARE_WORDS: &[(&str, f32)] = &[
    // Service failures.
    ("cancelled", -1.6),
    ("canceled", -1.6),
    ("cancelation", -1.2),
    ("cancellation", -1.2),
    ("cancel", -0.8),
    ("delayed", -1.6),
    ("delays", -1.4),
    ("delay", -1.4),
    ("late", -1.2),
    ("later", 0.0),
    ("stuck", -1.6),
    ("stranded", -2.2),
    ("lost", -1.5),
    ("missing", -1.2),
    ("broken", -1.8),
    ("broke", -1.4),
    ("damaged", -1.8),
    ("rude", -2.5),
    ("unhelpful", -2.2),
    ("unacceptable", -2.6),
    ("unprofessional", -2.2),
    ("incompetent", -2.6),
    ("incompetence", -2.6),
    ("useless", -2.2),
    ("worthless", -2.3),
    ("overbooked", -2.0),
    ("oversold", -1.8),
    ("misconnect", -1.6),
    ("misconnected", -1.6),
    ("diverted", -1.2),
    ("rebook", -0.6),
    ("rebooked", -0.6),
    ("disconnected", -1.4),
    ("glitch", -1.6),
    ("outage", -1.8),
    ("crashed", -1.6),
    ("crashing", -1.6),
    ("crash", -1.5),
    ("error", -1.2),
    ("errors", -1.2),
    ("bug", -1.0),
    ("buggy", -1.6),
    ("failed", -1.8),
    ("fails", -1.8),
    ("fail", -2.0),
    ("failure", -2.0),
    ("nightmare", -2.6),
    ("fiasco", -2.4),
    ("mess", -1.6),
    ("disgrace", -2.6),
    ("shameful", -2.4),
    ("pathetic", -2.6),
    ("joke", -1.0),
    ("sucks", -2.2),
    ("suck", -2.0),
    ("worst", -3.1),
    ("terrible", -2.8),
    ("horrible", -2.8),
    ("awful", -2.8),
    ("horrendous", -2.9),
    ("dreadful", -2.6),
    ("appalling", -2.7),
    ("atrocious", -2.8),
    ("abysmal", -2.8),
    ("waiting", -1.0),
    ("waited", -1.2),
    ("wait", -0.6),
    ("hold", -0.5),
    ("hours", -0.7),
    ("hrs", -0.7),
    ("hour", -0.5),
    ("hr", -0.5),
    ("again", -0.5),
    ("still", -0.5),
    ("nobody", -1.0),
    ("refund", -0.6),
    ("refunds", -0.6),
    ("charged", -0.8),
    ("overcharged", -2.0),
    ("fee", -0.6),
    ("fees", -0.7),
    ("scam", -2.6),
    ("scammed", -2.8),
    ("ripoff", -2.6),
    ("ridiculous", -2.2),
    ("unbelievable", -1.4),
    ("seriously", -0.8),
    ("frustrated", -2.2),
    ("frustrating", -2.2),
    ("frustration", -2.2),
    ("annoyed", -2.0),
    ("annoying", -2.0),
    ("disappointed", -2.2),
    ("disappointing", -2.2),
    ("disappointment", -2.2),
    ("angry", -2.3),
    ("furious", -2.8),
    ("livid", -2.8),
    ("fml", -2.2),
    ("smh", -1.6),
    ("ugh", -1.8),
    ("ughh", -1.8),
    ("wtf", -2.8),
    ("ffs", -2.8),
    ("bs", -1.8),
    ("bullshit", -2.8),
    ("hell", -1.8),
    ("why", -0.4),
    ("nothing", -0.6),
    ("never", -0.4),
    ("excuse", -1.0),
    ("excuses", -1.2),
    ("downgraded", -1.6),
    ("denied", -1.5),
    ("declined", -1.0),
    ("problem", -1.2),
    ("problems", -1.4),
    ("issue", -1.0),
    ("issues", -1.2),
    ("complaint", -1.4),
    ("complain", -1.2),
    ("dirty", -1.8),
    ("smelly", -1.8),
    ("cold", -0.5),
    ("slow", -1.2),
    ("forever", -0.8),
    ("worse", -2.2),
    ("poor", -2.0),
    ("poorly", -2.0),
    ("lousy", -2.4),
    ("crappy", -2.4),
    ("crap", -2.2),
    ("shitty", -2.6),
    ("garbage", -2.4),
    ("trash", -2.0),
    ("ignored", -2.0),
    ("ignoring", -2.0),
    ("ignore", -1.5),
    ("confused", -1.0),
    ("confusing", -1.2),
    ("misleading", -2.0),
    ("lied", -2.4),
    ("lies", -2.2),
    ("liar", -2.6),
    ("hassle", -1.6),
    ("inconvenience", -1.6),
    ("inconvenienced", -1.8),
    ("chaos", -2.0),
    ("chaotic", -2.0),
    ("disgusting", -2.8),
    ("disgusted", -2.6),
    ("hate", -2.7),
    ("hated", -2.6),
    ("flightled", -1.4),
    ("understaffed", -1.8),
    ("lame", -1.8),
    ("meh", -0.8),
    ("sad", -1.6),
    // Positive care words.
    ("thanks", 1.9),
    ("thank", 1.6),
    ("thx", 1.6),
    ("thnx", 1.6),
    ("thanx", 1.6),
    ("ty", 1.5),
    ("tysm", 2.6),
    ("tyvm", 2.6),
    ("appreciate", 2.0),
    ("appreciated", 2.2),
    ("helpful", 1.9),
    ("kudos", 2.2),
    ("shoutout", 1.6),
    ("props", 1.6),
    ("fixed", 0.8),
    ("resolved", 1.4),
    ("sorted", 0.8),
    ("smooth", 1.6),
    ("seamless", 1.8),
    ("quick", 1.0),
    ("quickly", 0.8),
    ("fast", 1.0),
    ("friendly", 2.0),
    ("professional", 1.2),
    ("lifesaver", 2.6),
    ("awesome", 3.1),
    ("amazing", 2.8),
    ("excellent", 2.7),
    ("fantastic", 2.6),
    ("wonderful", 2.7),
    ("great", 3.1),
    ("love", 3.2),
    ("loved", 2.9),
    ("loving", 2.9),
    ("best", 3.2),
    ("perfect", 2.7),
    ("brilliant", 2.8),
    ("outstanding", 3.0),
    ("superb", 3.0),
    ("impressed", 2.2),
    ("pleasant", 2.0),
    ("comfortable", 1.6),
    ("comfy", 1.6),
    ("glad", 2.0),
    ("happy", 2.7),
    ("yay", 2.4),
    ("woohoo", 2.4),
    ("wow", 1.0),
    ("cool", 1.3),
    ("nice", 1.8),
    ("sweet", 2.0),
    ("please", 0.0),
    ("pls", 0.0),
    ("plz", 0.0),
    ("help", 0.0),
    ("like", 0.0),
    ("ok", 0.0),
    ("okay", 0.0),
    ("yes", 0.3),
    ("no", 0.0),
    ("want", 0.0),
    ("need", 0.0),
    ("care", 0.0),
    ("lol", 0.6),
    ("lmao", 0.6),
    ("haha", 1.0),
    ("hahaha", 1.0),
    ("jk", 0.4),
    ("free", 0.3),
    ("upgrade", 1.0),
    ("upgraded", 1.4),
    ("excited", 2.2),
    ("exciting", 2.2),
    ("gorgeous", 2.8),
    ("beautiful", 2.8),
    ("hero", 2.2),
    ("heroes", 2.2),
    ("stellar", 2.8),
    ("flawless", 2.8),
    ("reliable", 1.8),
    ("recommend", 1.6),
    ("recommended", 1.6),
    ("bravo", 2.2),
    ("cheers", 1.6),
    // VADER words that are mostly neutral nouns or fillers in care posts.
    ("credit", 0.0),
    ("credits", 0.0),
    ("award", 0.0),
    ("awards", 0.0),
    ("entertainment", 0.0),
    ("number", 0.0),
    ("active", 0.0),
    ("vision", 0.0),
    ("original", 0.0),
    ("ready", 0.3),
    ("popular", 0.8),
    ("well", 0.3),
    ("sure", 0.3),
    ("win", 0.6),
    ("definitely", 0.6),
    ("honor", 0.0),
    ("hope", 0.9),
    ("hoping", 0.7),
    ("hopefully", 0.8),
    ("chance", 0.0),
    ("fyi", 0.0),
    ("sorry", -0.3),
    ("luck", 1.0),
    ("united", 0.0),
    ("share", 0.3),
    ("sharing", 0.3),
    ("miles", 0.0),
    ("reward", 0.6),
    ("rewards", 0.6),
    ("status", 0.0),
    ("join", 0.3),
    ("joined", 0.3),
    ("interested", 0.5),
    ("interesting", 0.8),
    ("sarcasm", -1.0),
    ("fix", -0.6),
    ("down", -0.3),
    ("supervisor", -0.8),
    ("hostage", -2.0),
    ("lie", -2.0),
    ("downhill", -1.8),
    ("blatant", -1.2),
    // Spanish.
    ("bueno", 1.9),
    ("buen", 1.6),
    ("buena", 1.9),
    ("excelente", 3.0),
    ("genial", 2.6),
    ("gracias", 1.9),
    ("encanta", 2.8),
    ("encantado", 2.4),
    ("increible", 2.4),
    ("perfecto", 2.7),
    ("malo", -2.0),
    ("mala", -2.0),
    ("mal", -1.6),
    ("pesimo", -3.0),
    ("pesima", -3.0),
    ("fatal", -2.5),
    ("lento", -1.2),
    ("decepcionado", -2.2),
    ("decepcionada", -2.2),
    ("molesto", -2.0),
    ("enojado", -2.5),
    ("basura", -2.5),
    ("estafa", -3.0),
    ("verguenza", -2.2),
    ("nefasto", -2.8),
    ("desastre", -2.6),
    ("cancelado", -1.6),
    ("retrasado", -1.6),
    ("retraso", -1.5),
    ("esperando", -1.0),
    ("roto", -1.8),
    // French.
    ("merci", 1.9),
    ("bien", 1.0),
    ("parfait", 2.7),
    ("magnifique", 3.0),
    ("excellent", 2.7),
    ("top", 1.5),
    ("nul", -2.5),
    ("nulle", -2.5),
    ("mauvais", -2.0),
    ("mauvaise", -2.0),
    ("decu", -2.2),
    ("decue", -2.2),
    ("decevant", -2.2),
    ("arnaque", -3.0),
    ("honteux", -2.6),
    ("honte", -2.2),
    ("lent", -1.2),
    ("inadmissible", -2.6),
    ("scandaleux", -2.7),
    ("catastrophe", -2.8),
    ("annule", -1.6),
    ("retard", -1.5),
    ("attente", -1.0),
    ("panne", -1.8),
    ("pire", -2.8),
    ("content", 1.8),
    ("contente", 1.8),
    ("ravi", 2.6),
    ("ravie", 2.6),
    // German.
    ("danke", 1.9),
    ("gut", 1.9),
    ("toll", 2.6),
    ("prima", 2.0),
    ("klasse", 2.2),
    ("perfekt", 2.7),
    ("hervorragend", 3.0),
    ("schlecht", -2.0),
    ("schlechte", -2.0),
    ("schlechter", -2.2),
    ("mies", -2.2),
    ("katastrophe", -2.8),
    ("katastrophal", -2.8),
    ("enttauscht", -2.2),
    ("argerlich", -2.0),
    ("unverschamt", -2.6),
    ("frechheit", -2.6),
    ("leider", -0.8),
    ("kaputt", -1.8),
    ("verspatet", -1.5),
    ("verspatung", -1.5),
    ("storniert", -1.4),
    ("zufrieden", 2.0),
    ("unzufrieden", -2.0),
    ("schrecklich", -2.8),
    ("furchtbar", -2.8),
    // Portuguese.
    ("obrigado", 1.9),
    ("obrigada", 1.9),
    ("bom", 1.9),
    ("boa", 1.6),
    ("otimo", 2.6),
    ("otima", 2.6),
    ("perfeito", 2.7),
    ("maravilhoso", 3.0),
    ("adorei", 2.8),
    ("amei", 2.8),
    ("pessimo", -3.0),
    ("pessima", -3.0),
    ("ruim", -2.0),
    ("horrivel", -3.0),
    ("lixo", -2.5),
    ("golpe", -2.4),
    ("vergonha", -2.2),
    ("demora", -1.2),
    ("atrasado", -1.6),
    ("atraso", -1.5),
    ("decepcionante", -2.2),
    ("absurdo", -2.2),
    ("descaso", -2.5),
];

/// Negation words (normalised). "ne" is left out: French "ne ... pas" would count twice.
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "cannot", "cant", "dont", "doesnt", "didnt", "isnt", "arent", "wasnt", "werent", "wont",
    "wouldnt", "shouldnt", "couldnt", "havent", "hasnt", "hadnt", "aint", "without", "nor", "neither", "hardly",
    "barely", "rarely", "seldom", "nope", "nothing", "nobody", "none", "nowhere", "nunca", "nada", "nadie", "sin",
    "jamas", "pas", "jamais", "rien", "sans", "nicht", "kein", "keine", "keinen", "keiner", "nie", "niemals", "nichts",
    "nao", "nem", "ninguem", "sem",
];

/// Boosters (positive) and dampeners (negative), VADER's list plus translations.
const BOOSTERS: &[(&str, f32)] = &[
    ("absolutely", 1.0),
    ("amazingly", 1.0),
    ("awfully", 1.0),
    ("completely", 1.0),
    ("considerably", 1.0),
    ("decidedly", 1.0),
    ("deeply", 1.0),
    ("effing", 1.0),
    ("enormously", 1.0),
    ("entirely", 1.0),
    ("especially", 1.0),
    ("exceptionally", 1.0),
    ("extremely", 1.0),
    ("fabulously", 1.0),
    ("flipping", 1.0),
    ("freaking", 1.0),
    ("fricking", 1.0),
    ("frickin", 1.0),
    ("friggin", 1.0),
    ("fully", 1.0),
    ("fucking", 1.0),
    ("fuckin", 1.0),
    ("greatly", 1.0),
    ("hella", 1.0),
    ("highly", 1.0),
    ("hugely", 1.0),
    ("incredibly", 1.0),
    ("intensely", 1.0),
    ("majorly", 1.0),
    ("more", 1.0),
    ("most", 1.0),
    ("particularly", 1.0),
    ("purely", 1.0),
    ("quite", 1.0),
    ("really", 1.0),
    ("remarkably", 1.0),
    ("so", 1.0),
    ("soo", 1.0),
    ("substantially", 1.0),
    ("thoroughly", 1.0),
    ("totally", 1.0),
    ("tremendously", 1.0),
    ("uber", 1.0),
    ("unbelievably", 1.0),
    ("unusually", 1.0),
    ("utterly", 1.0),
    ("very", 1.0),
    ("super", 1.0),
    ("sooo", 1.0),
    ("truly", 1.0),
    ("seriously", 1.0),
    ("almost", -1.0),
    ("barely", -1.0),
    ("hardly", -1.0),
    ("kinda", -1.0),
    ("kindof", -1.0),
    ("less", -1.0),
    ("little", -1.0),
    ("marginally", -1.0),
    ("occasionally", -1.0),
    ("partly", -1.0),
    ("scarcely", -1.0),
    ("slightly", -1.0),
    ("somewhat", -1.0),
    ("sorta", -1.0),
    ("bit", -0.5),
    ("muy", 1.0),
    ("tan", 1.0),
    ("mucho", 1.0),
    ("muchisimo", 1.0),
    ("tres", 1.0),
    ("vraiment", 1.0),
    ("trop", 1.0),
    ("sehr", 1.0),
    ("echt", 1.0),
    ("total", 1.0),
    ("wirklich", 1.0),
    ("muito", 1.0),
    ("tao", 1.0),
    ("bem", 0.5),
    ("demais", 1.0),
    ("bastante", 0.5),
    ("assez", -0.5),
    ("etwas", -1.0),
    ("poco", -1.0),
    ("pouco", -1.0),
];

/// Contrast words: the clause after them outweighs the clause before.
const CONTRASTS: &[&str] = &["but", "however", "pero", "mais", "aber", "mas", "sino", "doch"];

struct Tables {
    words: FxMap<&'static str, Role>,
    /// Emoticons keep their original case (":D", ":P").
    emoticons: FxMap<&'static str, f32>,
}

static TABLES: LazyLock<Tables> = LazyLock::new(build);

fn build() -> Tables {
    let mut words: FxMap<&'static str, Role> = FxMap::default();
    let mut emoticons: FxMap<&'static str, f32> = FxMap::default();
    for line in VADER.lines() {
        if line.starts_with('#') {
            continue;
        }
        let mut parts = line.split('\t');
        let (Some(token), Some(score)) = (parts.next(), parts.next()) else {
            continue;
        };
        let Ok(score) = score.parse::<f32>() else {
            continue;
        };
        let first_alnum = token.chars().next().is_some_and(char::is_alphanumeric);
        let all_word = token.chars().all(|c| c.is_alphanumeric() || c == '\'');
        if all_word {
            // VADER keeps apostrophes ("can't"); our tokens do not.
            let key: &'static str =
                if token.contains('\'') { Box::leak(token.replace('\'', "").into_boxed_str()) } else { token };
            words.insert(key, Role::Valence(score));
        } else if !first_alnum || token.len() <= 4 {
            emoticons.insert(token, score);
            // VADER lists ":D" and ":d" style variants; keep the uppercase form too.
            if token.chars().any(|c| c.is_ascii_lowercase()) {
                let upper: &'static str = Box::leak(token.to_uppercase().into_boxed_str());
                emoticons.entry(upper).or_insert(score);
            }
        }
    }
    for &(w, s) in CARE_WORDS {
        words.insert(w, Role::Valence(s));
    }
    for &(w, s) in BOOSTERS {
        words.insert(w, Role::Booster(s));
    }
    for &w in NEGATIONS {
        words.insert(w, Role::Negation);
    }
    for &w in CONTRASTS {
        words.insert(w, Role::Contrast);
    }
    Tables { words, emoticons }
}

/// The role of a normalised word, if it has one.
pub(crate) fn role(word: &str) -> Option<Role> {
    TABLES.words.get(word).copied()
}

/// Is `s` a known emoticon?
pub(crate) fn is_emoticon(s: &str) -> bool {
    TABLES.emoticons.contains_key(s)
}

/// Valence of an emoticon (VADER scale).
pub(crate) fn emoticon(s: &str) -> f32 {
    TABLES.emoticons.get(s).copied().unwrap_or(0.0)
}

/// Valence of an emoji (VADER scale), 0 for ones without clear sentiment.
pub(crate) fn emoji(c: char) -> f32 {
    match c {
        '😍' | '🥰' | '😻' | '🤩' => 3.0,
        '❤' | '💙' | '💚' | '💛' | '💜' | '🧡' | '🤍' | '🖤' | '💕' | '💖' | '💗' | '💓' | '💞' | '💘' | '💝' | '♥' => {
            2.8
        }
        '😘' | '🥳' | '🎉' | '🎊' | '🙌' => 2.5,
        '😀' | '😃' | '😄' | '😁' | '😊' | '☺' | '🤗' | '👍' | '😇' => 2.0,
        '👏' | '👌' | '💪' | '🌟' | '💯' | '😎' | '😆' | '🏆' | '🥇' => 1.6,
        '🙂' | '😉' | '🙏' | '⭐' | '✨' | '🔥' | '🤣' | '😂' | '😋' | '🆒' => 1.0,
        '✅' | '✔' | '😅' => 0.4,
        '🤔' | '🤷' | '😶' => -0.3,
        '😐' | '😑' | '😴' | '😳' | '⏳' | '⌛' => -0.6,
        '🥺' | '😬' | '😕' | '🫤' | '😪' | '🥱' | '🐌' | '🙃' => -1.0,
        '🙄' | '😒' | '😣' | '😔' | '🙁' | '😓' | '🤦' | '😮' | '😱' | '😨' | '😰' | '😟' | '❌' | '⛔' | '🚫'
        | '😥' => -1.6,
        '😞' | '😢' | '😭' | '😩' | '😫' | '😖' | '☹' | '😿' | '👎' | '😤' | '💩' | '🤢' => {
            -2.2
        }
        '😠' | '💔' | '😾' => -2.6,
        '😡' | '🤬' | '🖕' | '🤮' => -3.2,
        _ => 0.0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_load() {
        assert!(matches!(role("good"), Some(Role::Valence(v)) if v > 1.0));
        assert!(matches!(role("cant"), Some(Role::Negation)));
        assert!(matches!(role("very"), Some(Role::Booster(_))));
        assert!(matches!(role("but"), Some(Role::Contrast)));
        assert!(is_emoticon(":)"));
        assert!(emoticon(":(") < 0.0);
        assert!(emoji('😡') < 0.0);
    }
}
