//! Multi-word rules: sentiment phrases and intent cues in English, Spanish, French, German and
//! Portuguese, matched with Aho-Corasick over the normalised token text (lowercase, no accents,
//! no apostrophes, one space between tokens), always on whole words.

use std::sync::LazyLock;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, MatchKind};

use crate::normalize::normalize_phrase;

/// What an intent phrase signals.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Signal {
    Question,
    Complaint,
    Churn,
    Praise,
    Spam,
    /// "dark mode", "the app": a "switching to" nearby is not about leaving.
    SwitchGuard,
    /// "my order", "appointment": a "cancel my" nearby is about one order, not the account.
    CancelGuard,
    /// "jk", "lol": churn talk is likely a joke.
    Joke,
    /// "thanks in advance", "thanks for nothing": thanks that are not praise.
    PraiseGuard,
}

/// Flags on churn phrases.
pub(crate) const SWITCH: u8 = 1;
/// Only churn when the post is not positive ("never again" can be a joke or a compliment).
pub(crate) const NEEDS_NEGATIVE: u8 = 2;
/// "Cancel" phrases: weak when a single order or appointment is what gets cancelled.
pub(crate) const CANCEL: u8 = 4;

/// One intent phrase.
#[derive(Debug, Clone, Copy)]
pub(crate) struct IntentRule {
    pub signal: Signal,
    pub weight: f32,
    pub flags: u8,
}

/// A compiled phrase table with its payloads.
pub(crate) struct PhraseTable<T> {
    /// `None` only if the automaton could not be built (it never fails for these tables).
    automaton: Option<AhoCorasick>,
    overlapping: bool,
    pub payload: Vec<T>,
}

impl<T> PhraseTable<T> {
    /// Call `f(start, end, payload)` for every whole-word match in the normalised text.
    pub fn for_each_match(&self, hay: &str, mut f: impl FnMut(usize, usize, &T)) {
        let Some(ac) = &self.automaton else {
            return;
        };
        let mut visit = |m: aho_corasick::Match| {
            if on_word_boundaries(hay, m.start(), m.end())
                && let Some(p) = self.payload.get(m.pattern().as_usize())
            {
                f(m.start(), m.end(), p);
            }
        };
        if self.overlapping {
            for m in ac.find_overlapping_iter(hay) {
                visit(m);
            }
        } else {
            for m in ac.find_iter(hay) {
                visit(m);
            }
        }
    }

    /// Number of patterns.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.automaton.as_ref().map_or(0, AhoCorasick::patterns_len)
    }
}

/// Sentiment phrases, VADER scale. Words inside a matched phrase get no valence of their own.
const SENTIMENT_PHRASES: &[(&str, f32)] = &[
    ("still waiting", -2.2),
    ("still not working", -2.6),
    ("still not", -1.8),
    ("still no", -1.8),
    ("still havent", -2.0),
    ("still dont", -1.6),
    ("still cant", -2.0),
    ("been waiting", -2.0),
    ("waiting for", -1.0),
    ("on hold", -2.0),
    ("no response", -2.2),
    ("no reply", -2.2),
    ("no answer", -1.8),
    ("no one answers", -2.4),
    ("nobody answers", -2.4),
    ("nobody answered", -2.4),
    ("no one answered", -2.4),
    ("nobody responds", -2.4),
    ("no one responds", -2.4),
    ("not working", -2.2),
    ("doesnt work", -2.2),
    ("dont work", -1.8),
    ("isnt working", -2.2),
    ("stopped working", -2.2),
    ("not helpful", -2.2),
    ("fix this", -1.6),
    ("fix it", -1.2),
    ("thanks for nothing", -2.8),
    ("lost my", -2.0),
    ("lost luggage", -2.2),
    ("lost bag", -2.0),
    ("missed my", -2.0),
    ("missed connection", -2.2),
    ("cancelled my", -2.0),
    ("canceled my", -2.0),
    ("hung up", -2.2),
    ("no help", -2.2),
    ("waste of time", -2.6),
    ("waste of money", -2.6),
    ("never again", -2.2),
    ("what a joke", -2.4),
    ("are you kidding", -2.0),
    ("you kidding me", -2.0),
    ("get your act together", -2.4),
    ("how hard is it", -1.8),
    ("over an hour", -1.8),
    ("for hours", -1.8),
    ("an hour", -1.0),
    ("yet again", -1.8),
    ("once again", -1.2),
    ("every time", -0.8),
    ("on the tarmac", -1.2),
    ("sitting on", -0.8),
    ("call back", -0.6),
    ("no way", -1.0),
    ("not happy", -2.2),
    ("not impressed", -2.2),
    ("not good enough", -2.4),
    ("worst customer service", -3.2),
    ("customer service", 0.0),
    ("cant get through", -2.2),
    ("cant even", -1.4),
    ("no longer", -0.8),
    ("not received", -1.8),
    ("never received", -2.2),
    ("never arrived", -2.2),
    ("havent received", -2.0),
    ("didnt receive", -1.8),
    ("charged twice", -2.4),
    ("double charged", -2.4),
    ("no refund", -2.2),
    ("no show", -1.0),
    ("left behind", -1.8),
    ("sent to voicemail", -2.0),
    ("keeps crashing", -2.4),
    ("down again", -2.2),
    ("not acceptable", -2.6),
    ("is down", -1.8),
    ("site down", -1.8),
    ("website down", -1.8),
    ("app down", -1.8),
    ("was down", -1.6),
    ("went down", -1.6),
    ("are down", -1.6),
    ("never got", -2.0),
    ("never came", -2.0),
    ("never heard back", -2.2),
    ("havent heard back", -2.2),
    ("havent heard", -1.8),
    ("never heard", -1.8),
    ("please fix", -1.4),
    ("need help", -0.8),
    ("cant find", -1.2),
    ("cant get", -1.2),
    ("cant access", -1.8),
    ("cannot access", -1.8),
    ("wont let me", -1.8),
    ("let me down", -2.2),
    ("let us down", -2.2),
    ("sitting here", -1.4),
    ("still sitting", -1.8),
    ("been sitting", -1.8),
    ("come on", -1.2),
    ("are you serious", -2.2),
    ("you serious", -1.8),
    ("not even", -1.2),
    ("no one", -1.0),
    ("nobody", -1.2),
    ("thank you for nothing", -2.8),
    ("timing out", -1.6),
    ("timed out", -1.6),
    ("times out", -1.6),
    ("locked out", -1.6),
    ("what happened", -0.8),
    ("whats the deal", -1.2),
    ("whats up with", -1.0),
    ("what is going on", -1.4),
    ("whats going on", -1.4),
    ("is anyone even", -1.4),
    ("anyone there", -1.0),
    ("different answers", -1.4),
    ("standing in line", -1.2),
    ("in line for", -1.0),
    ("last thing", -1.0),
    ("do better", -1.6),
    ("dobetter", -1.6),
    ("need to work on", -1.4),
    ("needs work", -1.6),
    ("need work", -1.4),
    ("get me off", -1.2),
    ("keeps", -0.6),
    ("speak to a supervisor", -1.6),
    ("speak with a supervisor", -1.6),
    ("onhold", -1.6),
    ("customer service line", -0.8),
    // Positive phrases.
    ("thank you", 2.0),
    ("you rock", 2.6),
    ("you guys rock", 2.6),
    ("yall rock", 2.6),
    ("well done", 2.2),
    ("great job", 2.8),
    ("good job", 2.2),
    ("shout out", 1.8),
    ("much appreciated", 2.6),
    ("made my day", 2.8),
    ("love you", 2.6),
    ("top notch", 2.8),
    ("above and beyond", 3.0),
    ("problem solved", 1.8),
    ("no problem", 1.0),
    ("no worries", 1.2),
    ("no problems", 1.0),
    ("cant wait", 1.6),
    ("can not wait", 1.6),
    ("cant complain", 1.2),
    ("cant thank", 2.6),
    ("thanks so much", 2.4),
    ("thanks a lot", 2.0),
    ("thanks again", 2.0),
    ("thanks in advance", 0.6),
    ("on time", 1.2),
    ("early", 0.6),
    ("all good", 1.6),
    ("no complaints", 1.6),
    ("keep it up", 2.0),
    ("nailed it", 2.4),
    // Other languages.
    ("no funciona", -2.2),
    ("sigo esperando", -2.2),
    ("nadie responde", -2.4),
    ("nadie contesta", -2.4),
    ("sin respuesta", -2.2),
    ("muchas gracias", 2.4),
    ("mil gracias", 2.6),
    ("ne marche pas", -2.2),
    ("ne fonctionne pas", -2.2),
    ("fonctionne pas", -2.0),
    ("marche pas", -2.0),
    ("toujours pas", -1.8),
    ("toujours en attente", -2.2),
    ("personne ne repond", -2.4),
    ("aucune reponse", -2.2),
    ("merci beaucoup", 2.4),
    ("pas mal", 1.0),
    ("funktioniert nicht", -2.2),
    ("geht nicht", -1.6),
    ("warte seit", -2.0),
    ("immer noch nicht", -2.0),
    ("keine antwort", -2.2),
    ("niemand antwortet", -2.4),
    ("vielen dank", 2.4),
    ("nie wieder", -2.2),
    ("nao funciona", -2.2),
    ("ainda esperando", -2.2),
    ("continuo esperando", -2.2),
    ("ninguem responde", -2.4),
    ("sem resposta", -2.2),
    ("muito obrigado", 2.4),
    ("muito obrigada", 2.4),
    ("nunca mais", -2.0),
    ("nunca mas", -2.0),
    ("plus jamais", -2.0),
];

const Q: Signal = Signal::Question;
const C: Signal = Signal::Complaint;
const X: Signal = Signal::Churn;
const P: Signal = Signal::Praise;
const S: Signal = Signal::Spam;

/// Intent phrases: (phrase, signal, weight, flags).
const INTENT_PHRASES: &[(&str, Signal, f32, u8)] = &[
    // Questions.
    ("can you", Q, 0.5, 0),
    ("could you", Q, 0.5, 0),
    ("can i", Q, 0.4, 0),
    ("how do i", Q, 0.6, 0),
    ("how can i", Q, 0.6, 0),
    ("how long", Q, 0.45, 0),
    ("is there", Q, 0.4, 0),
    ("any update", Q, 0.55, 0),
    ("any news", Q, 0.5, 0),
    ("anyone know", Q, 0.6, 0),
    ("does anyone", Q, 0.6, 0),
    ("do you", Q, 0.4, 0),
    ("when will", Q, 0.5, 0),
    ("where is", Q, 0.45, 0),
    ("what is", Q, 0.35, 0),
    ("help me", Q, 0.35, 0),
    ("please advise", Q, 0.6, 0),
    ("let me know", Q, 0.4, 0),
    ("wondering if", Q, 0.55, 0),
    ("who do i", Q, 0.55, 0),
    ("what do i", Q, 0.5, 0),
    ("need help", Q, 0.4, 0),
    ("como puedo", Q, 0.6, 0),
    ("donde esta", Q, 0.5, 0),
    ("por que", Q, 0.4, 0),
    ("alguien sabe", Q, 0.6, 0),
    ("pueden ayudarme", Q, 0.6, 0),
    ("me pueden", Q, 0.5, 0),
    ("me ayudan", Q, 0.5, 0),
    ("hay alguna", Q, 0.45, 0),
    ("cuando llega", Q, 0.5, 0),
    ("est ce que", Q, 0.6, 0),
    ("pouvez vous", Q, 0.6, 0),
    ("comment faire", Q, 0.6, 0),
    ("ou est", Q, 0.4, 0),
    ("qui peut", Q, 0.5, 0),
    ("savez vous", Q, 0.55, 0),
    ("wie kann ich", Q, 0.6, 0),
    ("konnen sie", Q, 0.55, 0),
    ("konnt ihr", Q, 0.55, 0),
    ("wo ist", Q, 0.45, 0),
    ("gibt es", Q, 0.45, 0),
    ("weiss jemand", Q, 0.6, 0),
    ("como faco", Q, 0.6, 0),
    ("como posso", Q, 0.6, 0),
    ("onde esta", Q, 0.5, 0),
    ("alguem sabe", Q, 0.6, 0),
    ("voces podem", Q, 0.55, 0),
    ("tem como", Q, 0.5, 0),
    // Complaints.
    ("not working", C, 0.7, 0),
    ("doesnt work", C, 0.7, 0),
    ("isnt working", C, 0.7, 0),
    ("stopped working", C, 0.7, 0),
    ("still waiting", C, 0.7, 0),
    ("still not", C, 0.6, 0),
    ("still no", C, 0.55, 0),
    ("no response", C, 0.7, 0),
    ("no reply", C, 0.7, 0),
    ("nobody answers", C, 0.7, 0),
    ("no one answers", C, 0.7, 0),
    ("on hold", C, 0.55, 0),
    ("been waiting", C, 0.6, 0),
    ("refund", C, 0.45, 0),
    ("charged twice", C, 0.75, 0),
    ("double charged", C, 0.75, 0),
    ("overcharged", C, 0.7, 0),
    ("cancelled", C, 0.4, 0),
    ("canceled", C, 0.4, 0),
    ("delayed", C, 0.4, 0),
    ("lost my", C, 0.6, 0),
    ("broken", C, 0.55, 0),
    ("damaged", C, 0.6, 0),
    ("never arrived", C, 0.7, 0),
    ("never received", C, 0.7, 0),
    ("havent received", C, 0.65, 0),
    ("didnt receive", C, 0.6, 0),
    ("wrong order", C, 0.6, 0),
    ("wrong item", C, 0.6, 0),
    ("missing", C, 0.35, 0),
    ("unacceptable", C, 0.7, 0),
    ("worst", C, 0.55, 0),
    ("terrible", C, 0.45, 0),
    ("rude", C, 0.55, 0),
    ("disappointed", C, 0.55, 0),
    ("fix this", C, 0.6, 0),
    ("complaint", C, 0.6, 0),
    ("complain", C, 0.5, 0),
    ("error", C, 0.35, 0),
    ("keeps crashing", C, 0.7, 0),
    ("outage", C, 0.6, 0),
    ("down again", C, 0.6, 0),
    ("cant log in", C, 0.6, 0),
    ("cant login", C, 0.6, 0),
    ("cant access", C, 0.6, 0),
    ("waste of", C, 0.5, 0),
    ("ridiculous", C, 0.5, 0),
    ("frustrated", C, 0.5, 0),
    ("hung up", C, 0.6, 0),
    ("no funciona", C, 0.7, 0),
    ("sigo esperando", C, 0.7, 0),
    ("nadie responde", C, 0.7, 0),
    ("nadie contesta", C, 0.7, 0),
    ("queja", C, 0.6, 0),
    ("reclamo", C, 0.6, 0),
    ("reembolso", C, 0.45, 0),
    ("pesimo", C, 0.6, 0),
    ("no ha llegado", C, 0.7, 0),
    ("no llego", C, 0.6, 0),
    ("estafa", C, 0.65, 0),
    ("una verguenza", C, 0.6, 0),
    ("ne marche pas", C, 0.7, 0),
    ("ne fonctionne pas", C, 0.7, 0),
    ("marche pas", C, 0.6, 0),
    ("fonctionne pas", C, 0.6, 0),
    ("toujours pas", C, 0.6, 0),
    ("toujours en attente", C, 0.7, 0),
    ("personne ne repond", C, 0.7, 0),
    ("aucune reponse", C, 0.7, 0),
    ("remboursement", C, 0.45, 0),
    ("reclamation", C, 0.6, 0),
    ("pas recu", C, 0.6, 0),
    ("jamais recu", C, 0.7, 0),
    ("inadmissible", C, 0.7, 0),
    ("scandaleux", C, 0.6, 0),
    ("en panne", C, 0.6, 0),
    ("funktioniert nicht", C, 0.7, 0),
    ("geht nicht", C, 0.6, 0),
    ("warte seit", C, 0.7, 0),
    ("immer noch nicht", C, 0.65, 0),
    ("keine antwort", C, 0.7, 0),
    ("niemand antwortet", C, 0.7, 0),
    ("beschwerde", C, 0.6, 0),
    ("reklamation", C, 0.6, 0),
    ("erstattung", C, 0.45, 0),
    ("nicht angekommen", C, 0.7, 0),
    ("nie angekommen", C, 0.7, 0),
    ("kaputt", C, 0.55, 0),
    ("frechheit", C, 0.6, 0),
    ("unverschamt", C, 0.6, 0),
    ("nao funciona", C, 0.7, 0),
    ("ainda esperando", C, 0.7, 0),
    ("continuo esperando", C, 0.7, 0),
    ("ninguem responde", C, 0.7, 0),
    ("sem resposta", C, 0.7, 0),
    ("reclamacao", C, 0.6, 0),
    ("nao chegou", C, 0.7, 0),
    ("nunca chegou", C, 0.7, 0),
    ("pessimo atendimento", C, 0.7, 0),
    ("quebrado", C, 0.5, 0),
    ("descaso", C, 0.6, 0),
    // Churn risk.
    ("thinking of leaving", X, 0.85, 0),
    ("thinking about leaving", X, 0.85, 0),
    ("thinking of switching", X, 0.85, SWITCH),
    ("thinking about switching", X, 0.85, SWITCH),
    ("switching to", X, 0.6, SWITCH | NEEDS_NEGATIVE),
    ("switch to", X, 0.45, SWITCH | NEEDS_NEGATIVE),
    ("switched to", X, 0.55, SWITCH | NEEDS_NEGATIVE),
    ("moving to", X, 0.35, SWITCH | NEEDS_NEGATIVE),
    ("going to switch", X, 0.75, SWITCH),
    ("gonna switch", X, 0.75, SWITCH),
    ("cancel my", X, 0.75, CANCEL),
    ("cancelling my", X, 0.8, CANCEL),
    ("canceling my", X, 0.8, CANCEL),
    ("cancel my subscription", X, 0.9, 0),
    ("cancel my account", X, 0.9, 0),
    ("cancel my membership", X, 0.9, 0),
    ("cancel my contract", X, 0.9, 0),
    ("close my account", X, 0.85, 0),
    ("closing my account", X, 0.85, 0),
    ("delete my account", X, 0.7, 0),
    ("never again", X, 0.6, NEEDS_NEGATIVE),
    ("never flying", X, 0.75, NEEDS_NEGATIVE),
    ("never fly", X, 0.65, NEEDS_NEGATIVE),
    ("never using", X, 0.75, NEEDS_NEGATIVE),
    ("never use you", X, 0.75, NEEDS_NEGATIVE),
    ("never buying", X, 0.7, NEEDS_NEGATIVE),
    ("never ordering", X, 0.7, NEEDS_NEGATIVE),
    ("never shopping", X, 0.7, NEEDS_NEGATIVE),
    ("never booking", X, 0.7, NEEDS_NEGATIVE),
    ("done with you", X, 0.85, 0),
    ("im done with", X, 0.6, NEEDS_NEGATIVE),
    ("done with this company", X, 0.85, 0),
    ("taking my business elsewhere", X, 0.95, 0),
    ("take my business elsewhere", X, 0.95, 0),
    ("my business elsewhere", X, 0.9, 0),
    ("going elsewhere", X, 0.6, NEEDS_NEGATIVE),
    ("go elsewhere", X, 0.5, NEEDS_NEGATIVE),
    ("lost a customer", X, 0.9, 0),
    ("lost me as a customer", X, 0.95, 0),
    ("lost a loyal customer", X, 0.95, 0),
    ("will not be back", X, 0.8, 0),
    ("wont be back", X, 0.8, 0),
    ("not coming back", X, 0.7, 0),
    ("never coming back", X, 0.85, 0),
    ("find another", X, 0.55, NEEDS_NEGATIVE),
    ("looking for another", X, 0.6, NEEDS_NEGATIVE),
    ("another airline", X, 0.55, NEEDS_NEGATIVE),
    ("a competitor", X, 0.5, NEEDS_NEGATIVE),
    ("leaving you", X, 0.75, 0),
    ("im leaving", X, 0.6, NEEDS_NEGATIVE),
    ("ill be leaving", X, 0.7, 0),
    ("end my contract", X, 0.8, 0),
    ("terminate my", X, 0.7, 0),
    ("last time i", X, 0.5, NEEDS_NEGATIVE),
    ("goodbye", X, 0.3, NEEDS_NEGATIVE),
    ("me cambio a", X, 0.85, 0),
    ("cambiarme a", X, 0.8, 0),
    ("voy a cambiar de", X, 0.8, 0),
    ("cancelar mi", X, 0.75, CANCEL),
    ("cancelo mi cuenta", X, 0.85, 0),
    ("cancelar mi cuenta", X, 0.9, 0),
    ("dar de baja", X, 0.85, 0),
    ("darme de baja", X, 0.9, 0),
    ("me doy de baja", X, 0.9, 0),
    ("nunca mas", X, 0.6, NEEDS_NEGATIVE),
    ("no vuelvo", X, 0.8, 0),
    ("no volvere", X, 0.85, 0),
    ("me voy con", X, 0.8, 0),
    ("me paso a", X, 0.8, 0),
    ("otra compania", X, 0.55, NEEDS_NEGATIVE),
    ("perdieron un cliente", X, 0.9, 0),
    ("pensando en irme", X, 0.85, 0),
    ("pensando en cambiarme", X, 0.85, 0),
    ("resilier", X, 0.75, 0),
    ("resiliation", X, 0.75, 0),
    ("je resilie", X, 0.9, 0),
    ("je vais resilier", X, 0.9, 0),
    ("passer chez", X, 0.8, 0),
    ("je passe chez", X, 0.85, 0),
    ("plus jamais", X, 0.6, NEEDS_NEGATIVE),
    ("je pars chez", X, 0.9, 0),
    ("je vous quitte", X, 0.9, 0),
    ("vous avez perdu un client", X, 0.95, 0),
    ("annuler mon abonnement", X, 0.9, 0),
    ("envisage de partir", X, 0.85, 0),
    ("aller voir ailleurs", X, 0.8, 0),
    ("changer d operateur", X, 0.8, 0),
    ("changer doperateur", X, 0.8, 0),
    ("kundige", X, 0.8, 0),
    ("kundigen", X, 0.75, 0),
    ("kundigung", X, 0.8, 0),
    ("ich kundige", X, 0.9, 0),
    ("wechsle zu", X, 0.85, 0),
    ("wechseln zu", X, 0.7, SWITCH),
    ("zur konkurrenz", X, 0.8, 0),
    ("nie wieder", X, 0.6, NEEDS_NEGATIVE),
    ("verlasse euch", X, 0.9, 0),
    ("anbieter wechseln", X, 0.85, 0),
    ("anbieter zu wechseln", X, 0.85, 0),
    ("abo beenden", X, 0.85, 0),
    ("vertrag beenden", X, 0.85, 0),
    ("kunde verloren", X, 0.9, 0),
    ("vou cancelar", X, 0.85, 0),
    ("cancelar minha", X, 0.75, 0),
    ("cancelar meu", X, 0.75, 0),
    ("vou mudar para", X, 0.8, 0),
    ("trocar de operadora", X, 0.85, 0),
    ("vou trocar de", X, 0.75, 0),
    ("nunca mais", X, 0.6, NEEDS_NEGATIVE),
    ("nao volto", X, 0.8, 0),
    ("perderam um cliente", X, 0.9, 0),
    ("pensando em sair", X, 0.8, 0),
    ("pensando em trocar", X, 0.8, 0),
    ("portabilidade", X, 0.75, 0),
    ("leaving for a", X, 0.65, 0),
    ("time to find another", X, 0.75, 0),
    ("switching providers", X, 0.85, 0),
    ("switch providers", X, 0.75, 0),
    ("switching carriers", X, 0.85, 0),
    ("switching banks", X, 0.85, 0),
    ("porting my number", X, 0.8, SWITCH),
    ("port my number", X, 0.8, SWITCH),
    ("your competitor", X, 0.6, NEEDS_NEGATIVE),
    ("hello competitor", X, 0.8, 0),
    ("competitor", X, 0.45, NEEDS_NEGATIVE),
    ("not renewing", X, 0.8, 0),
    ("wont renew", X, 0.8, 0),
    ("wont be renewing", X, 0.85, 0),
    ("not going to renew", X, 0.85, 0),
    ("my last order", X, 0.6, NEEDS_NEGATIVE),
    ("last straw", X, 0.75, 0),
    ("taking my money", X, 0.8, 0),
    ("take my money elsewhere", X, 0.9, 0),
    ("considering cancelling", X, 0.85, 0),
    ("considering canceling", X, 0.85, 0),
    ("thinking of cancelling", X, 0.85, 0),
    ("about to cancel", X, 0.8, 0),
    ("going to cancel", X, 0.8, CANCEL),
    ("gonna cancel", X, 0.8, CANCEL),
    ("or i cancel", X, 0.8, 0),
    ("cancel everything", X, 0.85, 0),
    ("cancelling", X, 0.55, NEEDS_NEGATIVE | CANCEL),
    ("want to cancel", X, 0.7, CANCEL),
    ("im gone", X, 0.7, 0),
    ("ill be gone", X, 0.7, 0),
    ("done with your", X, 0.85, 0),
    ("done with ur", X, 0.85, 0),
    ("so done with", X, 0.8, 0),
    ("closing all my", X, 0.8, 0),
    ("close all my", X, 0.8, 0),
    ("moving my accounts", X, 0.8, 0),
    ("moving my account", X, 0.75, 0),
    ("my notice", X, 0.6, 0),
    ("cancelen todo", X, 0.85, 0),
    ("resiliez", X, 0.85, 0),
    ("no quiero seguir", X, 0.8, 0),
    ("ya no quiero", X, 0.6, 0),
    ("je ne veux plus", X, 0.6, 0),
    ("plus de vos services", X, 0.7, 0),
    ("raus aus dem vertrag", X, 0.85, 0),
    ("quero sair", X, 0.75, 0),
    ("estou saindo", X, 0.75, 0),
    ("partir chez", X, 0.8, 0),
    ("kunden verloren", X, 0.9, 0),
    ("i want out", X, 0.7, 0),
    ("want out of", X, 0.7, 0),
    ("take me off", X, 0.6, 0),
    ("quitting your", X, 0.85, 0),
    ("quitting", X, 0.4, NEEDS_NEGATIVE),
    ("planning to move to", X, 0.6, NEEDS_NEGATIVE),
    ("evaluating other", X, 0.7, 0),
    ("other vendors", X, 0.6, 0),
    ("other providers", X, 0.6, 0),
    ("bye bye", X, 0.4, NEEDS_NEGATIVE),
    ("adios", X, 0.3, NEEDS_NEGATIVE),
    ("tschuss", X, 0.3, NEEDS_NEGATIVE),
    ("adeus", X, 0.35, NEEDS_NEGATIVE),
    ("signed up with", X, 0.45, NEEDS_NEGATIVE),
    ("another provider", X, 0.6, 0),
    ("another carrier", X, 0.65, 0),
    ("another bank", X, 0.65, 0),
    ("another company", X, 0.6, 0),
    ("another phone company", X, 0.7, 0),
    ("another operator", X, 0.65, 0),
    ("another insurer", X, 0.65, 0),
    ("another internet provider", X, 0.7, 0),
    ("a different carrier", X, 0.6, 0),
    ("a different provider", X, 0.6, 0),
    ("a different bank", X, 0.6, 0),
    ("autre operateur", X, 0.75, 0),
    ("otro banco", X, 0.65, 0),
    ("outra operadora", X, 0.7, 0),
    ("anderen anbieter", X, 0.75, 0),
    ("my order", Signal::CancelGuard, 1.0, 0),
    ("the order", Signal::CancelGuard, 1.0, 0),
    ("appointment", Signal::CancelGuard, 1.0, 0),
    ("reservation", Signal::CancelGuard, 1.0, 0),
    ("booking", Signal::CancelGuard, 1.0, 0),
    ("duplicate", Signal::CancelGuard, 1.0, 0),
    ("mi pedido", Signal::CancelGuard, 1.0, 0),
    ("ma commande", Signal::CancelGuard, 1.0, 0),
    ("meine bestellung", Signal::CancelGuard, 1.0, 0),
    ("meu pedido", Signal::CancelGuard, 1.0, 0),
    ("new sim", Signal::SwitchGuard, 1.0, 0),
    ("old phone", Signal::SwitchGuard, 1.0, 0),
    ("new phone", Signal::SwitchGuard, 1.0, 0),
    // Guards against false churn.
    ("dark mode", Signal::SwitchGuard, 1.0, 0),
    ("light mode", Signal::SwitchGuard, 1.0, 0),
    ("night mode", Signal::SwitchGuard, 1.0, 0),
    ("modo oscuro", Signal::SwitchGuard, 1.0, 0),
    ("mode sombre", Signal::SwitchGuard, 1.0, 0),
    ("dunkelmodus", Signal::SwitchGuard, 1.0, 0),
    ("modo escuro", Signal::SwitchGuard, 1.0, 0),
    ("new plan", Signal::SwitchGuard, 1.0, 0),
    ("premium", Signal::SwitchGuard, 1.0, 0),
    ("annual plan", Signal::SwitchGuard, 1.0, 0),
    ("the app", Signal::SwitchGuard, 1.0, 0),
    ("your app", Signal::SwitchGuard, 1.0, 0),
    ("the website", Signal::SwitchGuard, 1.0, 0),
    ("desktop", Signal::SwitchGuard, 1.0, 0),
    ("upgrade", Signal::SwitchGuard, 1.0, 0),
    ("paperless", Signal::SwitchGuard, 1.0, 0),
    ("autopay", Signal::SwitchGuard, 1.0, 0),
    ("summer time", Signal::SwitchGuard, 1.0, 0),
    ("jk", Signal::Joke, 1.0, 0),
    ("just kidding", Signal::Joke, 1.0, 0),
    ("kidding", Signal::Joke, 1.0, 0),
    ("lol", Signal::Joke, 1.0, 0),
    ("haha", Signal::Joke, 1.0, 0),
    ("hahaha", Signal::Joke, 1.0, 0),
    ("lmao", Signal::Joke, 1.0, 0),
    ("jaja", Signal::Joke, 1.0, 0),
    ("jajaja", Signal::Joke, 1.0, 0),
    ("mdr", Signal::Joke, 1.0, 0),
    ("kkk", Signal::Joke, 1.0, 0),
    // Praise.
    ("thank you", P, 0.5, 0),
    ("thanks", P, 0.45, 0),
    ("thx", P, 0.4, 0),
    ("ty", P, 0.35, 0),
    ("love", P, 0.4, 0),
    ("great service", P, 0.8, 0),
    ("great job", P, 0.8, 0),
    ("well done", P, 0.7, 0),
    ("amazing", P, 0.5, 0),
    ("awesome", P, 0.5, 0),
    ("excellent", P, 0.5, 0),
    ("best", P, 0.35, 0),
    ("kudos", P, 0.8, 0),
    ("shout out", P, 0.6, 0),
    ("shoutout", P, 0.6, 0),
    ("props to", P, 0.7, 0),
    ("you rock", P, 0.8, 0),
    ("you guys rock", P, 0.8, 0),
    ("appreciate", P, 0.5, 0),
    ("helpful", P, 0.4, 0),
    ("above and beyond", P, 0.85, 0),
    ("gracias", P, 0.45, 0),
    ("excelente", P, 0.5, 0),
    ("muchas gracias", P, 0.6, 0),
    ("merci", P, 0.45, 0),
    ("bravo", P, 0.6, 0),
    ("genial", P, 0.5, 0),
    ("danke", P, 0.45, 0),
    ("vielen dank", P, 0.6, 0),
    ("super service", P, 0.7, 0),
    ("toll", P, 0.4, 0),
    ("obrigado", P, 0.45, 0),
    ("obrigada", P, 0.45, 0),
    ("otimo", P, 0.5, 0),
    ("parabens", P, 0.7, 0),
    ("thanks in advance", Signal::PraiseGuard, 1.0, 0),
    ("thanks for nothing", Signal::PraiseGuard, 1.0, 0),
    ("thank you in advance", Signal::PraiseGuard, 1.0, 0),
    ("thanks anyway", Signal::PraiseGuard, 1.0, 0),
    // Spam.
    ("giveaway", S, 0.6, 0),
    ("promo code", S, 0.6, 0),
    ("promo", S, 0.45, 0),
    ("discount", S, 0.3, 0),
    ("click here", S, 0.6, 0),
    ("click the link", S, 0.6, 0),
    ("follow me", S, 0.6, 0),
    ("follow back", S, 0.6, 0),
    ("followback", S, 0.6, 0),
    ("check my profile", S, 0.7, 0),
    ("check out my", S, 0.5, 0),
    ("dm for promo", S, 0.9, 0),
    ("dm for", S, 0.5, 0),
    ("dm me for", S, 0.6, 0),
    ("crypto", S, 0.5, 0),
    ("bitcoin", S, 0.5, 0),
    ("btc", S, 0.4, 0),
    ("nft", S, 0.5, 0),
    ("forex", S, 0.6, 0),
    ("investment", S, 0.35, 0),
    ("make money", S, 0.7, 0),
    ("work from home", S, 0.6, 0),
    ("passive income", S, 0.7, 0),
    ("whatsapp me", S, 0.5, 0),
    ("telegram", S, 0.35, 0),
    ("onlyfans", S, 0.8, 0),
    ("airdrop", S, 0.7, 0),
    ("100x", S, 0.7, 0),
    ("limited offer", S, 0.6, 0),
    ("buy now", S, 0.6, 0),
    ("followers", S, 0.5, 0),
    ("subscribe to my", S, 0.6, 0),
    ("link in bio", S, 0.7, 0),
    ("casino", S, 0.6, 0),
    ("free followers", S, 0.9, 0),
    ("earn money", S, 0.7, 0),
    ("win a free", S, 0.6, 0),
    ("promote your", S, 0.6, 0),
    ("cheap followers", S, 0.9, 0),
    ("sugar daddy", S, 0.8, 0),
];

fn compile<T: Copy>(entries: impl Iterator<Item = (&'static str, T)>, kind: MatchKind) -> PhraseTable<T> {
    let mut patterns = Vec::new();
    let mut payload = Vec::new();
    for (phrase, value) in entries {
        let norm = normalize_phrase(phrase);
        if norm.is_empty() {
            continue;
        }
        patterns.push(norm);
        payload.push(value);
    }
    let automaton = AhoCorasickBuilder::new().match_kind(kind).kind(Some(AhoCorasickKind::DFA)).build(&patterns).ok();
    PhraseTable { automaton, overlapping: kind == MatchKind::Standard, payload }
}

/// The sentiment phrase table (leftmost-longest, non-overlapping).
pub(crate) static SENTIMENT: LazyLock<PhraseTable<f32>> =
    LazyLock::new(|| compile(SENTIMENT_PHRASES.iter().copied(), MatchKind::LeftmostLongest));

/// The intent phrase table (all overlapping matches).
pub(crate) static INTENT: LazyLock<PhraseTable<IntentRule>> = LazyLock::new(|| {
    compile(
        INTENT_PHRASES.iter().map(|&(p, signal, weight, flags)| (p, IntentRule { signal, weight, flags })),
        MatchKind::Standard,
    )
});

/// Does `[start, end)` of `hay` fall on word boundaries (space-separated tokens)?
pub(crate) fn on_word_boundaries(hay: &str, start: usize, end: usize) -> bool {
    let b = hay.as_bytes();
    (start == 0 || b[start - 1] == b' ') && (end == b.len() || b[end] == b' ')
}

/// Is this normalised word a typical first word of a question?
pub(crate) fn is_question_start(word: &str) -> bool {
    matches!(
        word,
        "how"
            | "what"
            | "when"
            | "where"
            | "why"
            | "who"
            | "which"
            | "whats"
            | "wheres"
            | "hows"
            | "whys"
            | "whens"
            | "can"
            | "could"
            | "would"
            | "will"
            | "is"
            | "are"
            | "do"
            | "does"
            | "did"
            | "any"
            | "anyone"
            | "anybody"
            | "should"
            | "may"
            | "has"
            | "have"
            | "como"
            | "cuando"
            | "donde"
            | "cual"
            | "quien"
            | "puedo"
            | "pueden"
            | "hay"
            | "comment"
            | "pourquoi"
            | "quand"
            | "quel"
            | "quelle"
            | "combien"
            | "wie"
            | "wann"
            | "warum"
            | "wer"
            | "welche"
            | "kann"
            | "konnen"
            | "gibt"
            | "quando"
            | "onde"
            | "qual"
            | "quem"
            | "posso"
            | "podem"
            | "alguem"
    )
}

/// Time units that make "3 hours", "45 min" a waiting cue.
pub(crate) fn is_duration_unit(word: &str) -> bool {
    matches!(
        word,
        "hour"
            | "hours"
            | "hrs"
            | "hr"
            | "h"
            | "minutes"
            | "minute"
            | "mins"
            | "min"
            | "days"
            | "day"
            | "weeks"
            | "week"
            | "months"
            | "horas"
            | "hora"
            | "minutos"
            | "dias"
            | "semanas"
            | "heures"
            | "heure"
            | "jours"
            | "semaines"
            | "stunden"
            | "stunde"
            | "minuten"
            | "tage"
            | "wochen"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_compile() {
        assert!(SENTIMENT.payload.len() > 100);
        assert!(INTENT.payload.len() > 200);
        assert_eq!(SENTIMENT.len(), SENTIMENT.payload.len());
        assert_eq!(INTENT.len(), INTENT.payload.len());
    }
}
