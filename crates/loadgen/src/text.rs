//! The words of the traffic: post templates per kind and language, names, places, competitors.
//!
//! Templates have slots filled per post: `{brand}`, `{order}` (an order number such as
//! `#4821937`), `{competitor}`, `{days}`, `{amount}`, `{city}`, `{code}` (a spam link code).

use serde::Serialize;

/// The languages posts are written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    /// English.
    En,
    /// Spanish.
    Es,
    /// French.
    Fr,
    /// German.
    De,
    /// Portuguese.
    Pt,
}

impl Language {
    /// Every language, in the order of `--languages` weights.
    pub const ALL: [Language; 5] = [Language::En, Language::Es, Language::Fr, Language::De, Language::Pt];

    /// The ISO 639-1 code (`en`, `es`, …).
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Es => "es",
            Language::Fr => "fr",
            Language::De => "de",
            Language::Pt => "pt",
        }
    }
}

/// What a template is about.
#[derive(Debug, Clone, Copy)]
pub(crate) enum Topic {
    Question,
    Complaint,
    Churn,
    Praise,
    Spam,
    Outage,
}

pub(crate) fn templates(topic: Topic, language: Language) -> &'static [&'static str] {
    use Language::*;
    use Topic::*;
    match (topic, language) {
        (Question, En) => &[
            "Hi {brand}, how do I change the delivery address on order {order}?",
            "Does the premium plan include international roaming? Can't find it on your site",
            "@{brand} what are your support hours at the weekend?",
            "Quick question: can I pause my {brand} subscription for a month instead of cancelling?",
            "Where can I download the invoice for order {order}?",
            "Is there a student discount on {brand} plans?",
            "How long does a refund usually take? Returned order {order} {days} days ago",
        ],
        (Question, Es) => &[
            "Hola {brand}, ¿cómo cambio la dirección de entrega del pedido {order}?",
            "¿El plan premium incluye roaming internacional?",
            "@{brand} ¿cuál es el horario de atención los fines de semana?",
            "¿Puedo pausar mi suscripción un mes en lugar de cancelarla?",
            "¿Dónde descargo la factura del pedido {order}?",
        ],
        (Question, Fr) => &[
            "Bonjour {brand}, comment modifier l'adresse de livraison de la commande {order} ?",
            "Le forfait premium inclut-il l'itinérance à l'étranger ?",
            "@{brand} quels sont vos horaires le week-end ?",
            "Où trouver la facture de la commande {order} ?",
        ],
        (Question, De) => &[
            "Hallo {brand}, wie ändere ich die Lieferadresse für Bestellung {order}?",
            "Ist Roaming im Premium-Tarif enthalten?",
            "@{brand} wie sind eure Servicezeiten am Wochenende?",
            "Wo finde ich die Rechnung zu Bestellung {order}?",
        ],
        (Question, Pt) => &[
            "Olá {brand}, como altero o endereço de entrega da encomenda {order}?",
            "O plano premium inclui roaming internacional?",
            "@{brand} qual é o horário de atendimento ao fim de semana?",
            "Onde descarrego a fatura da encomenda {order}?",
        ],
        (Complaint, En) => &[
            "Order {order} still hasn't arrived after {days} days. Nobody answers the phone. @{brand} this is ridiculous",
            "I was charged twice (${amount}) this month and your chat bot keeps closing my ticket",
            "Third time asking: where is my refund for order {order}?",
            "Your app logs me out every single time I open it. Fix it {brand}",
            "Technician never showed up, took a day off work for nothing. Thanks {brand} 🙄",
            "Waited {days} days for a reply to my email. Is anyone working at {brand}?",
            "Package for order {order} was left in the rain and everything is ruined. @{brand}",
        ],
        (Complaint, Es) => &[
            "El pedido {order} sigue sin llegar después de {days} días. @{brand} esto es una vergüenza",
            "Me han cobrado dos veces ({amount} €) este mes y nadie me responde",
            "Tercera vez que pregunto: ¿dónde está el reembolso del pedido {order}?",
            "La app se cierra cada vez que la abro. Arreglad esto, {brand}",
        ],
        (Complaint, Fr) => &[
            "Commande {order} toujours pas reçue après {days} jours. @{brand} c'est inadmissible",
            "Prélevé deux fois ({amount} €) ce mois-ci et aucune réponse du service client",
            "L'application plante à chaque ouverture. Corrigez ça {brand}",
            "Troisième relance pour le remboursement de la commande {order}",
        ],
        (Complaint, De) => &[
            "Bestellung {order} ist nach {days} Tagen immer noch nicht da. @{brand} echt unmöglich",
            "Diesen Monat doppelt abgebucht ({amount} €) und keiner meldet sich",
            "Die App stürzt bei jedem Start ab. Bitte beheben, {brand}",
            "Zum dritten Mal: Wo bleibt die Erstattung für Bestellung {order}?",
        ],
        (Complaint, Pt) => &[
            "A encomenda {order} ainda não chegou depois de {days} dias. @{brand} isto é uma vergonha",
            "Fui cobrado duas vezes ({amount} €) este mês e ninguém responde",
            "A aplicação fecha sempre que a abro. Resolvam isto, {brand}",
            "Terceira vez que pergunto pelo reembolso da encomenda {order}",
        ],
        (Churn, En) => &[
            "Thinking of switching to {competitor}, {brand} keeps getting worse",
            "How do I cancel my subscription? Done with {brand}",
            "{competitor} offered me half the price. Give me one reason to stay @{brand}",
            "If order {order} isn't sorted by Friday I'm cancelling my account",
            "Moving to {competitor} next month unless someone from {brand} calls me back",
        ],
        (Churn, Es) => &[
            "Estoy pensando en cambiarme a {competitor}, {brand} va cada vez peor",
            "¿Cómo cancelo mi suscripción? Ya no aguanto más a {brand}",
            "{competitor} me ofrece la mitad de precio. Dadme una razón para quedarme",
        ],
        (Churn, Fr) => &[
            "Je pense passer chez {competitor}, {brand} devient n'importe quoi",
            "Comment résilier mon abonnement ? J'en ai assez de {brand}",
            "{competitor} me propose moitié prix. Pourquoi rester chez {brand} ?",
        ],
        (Churn, De) => &[
            "Überlege, zu {competitor} zu wechseln, {brand} wird immer schlechter",
            "Wie kündige ich mein Abo? Ich habe genug von {brand}",
            "{competitor} bietet mir den halben Preis. Warum sollte ich bleiben?",
        ],
        (Churn, Pt) => &[
            "Estou a pensar mudar para a {competitor}, a {brand} está cada vez pior",
            "Como cancelo a minha assinatura? Chega de {brand}",
            "A {competitor} oferece-me metade do preço. Porque devo ficar?",
        ],
        (Praise, En) => &[
            "Shoutout to Maria from {brand} support, sorted my issue in 5 minutes 🙌",
            "Love the new {brand} app update, so much faster",
            "Order {order} arrived a day early, thanks {brand}!",
            "Honestly the best customer service I've had this year. Well done {brand}",
        ],
        (Praise, Es) => &[
            "Gracias al equipo de {brand}, resolvieron mi problema en cinco minutos 🙌",
            "El pedido {order} llegó antes de lo previsto, ¡genial {brand}!",
        ],
        (Praise, Fr) => &[
            "Merci au support {brand}, problème réglé en cinq minutes 👏",
            "Commande {order} livrée en avance, merci {brand} !",
        ],
        (Praise, De) => &[
            "Danke an den {brand} Support, Problem in fünf Minuten gelöst 👍",
            "Bestellung {order} kam einen Tag früher, danke {brand}!",
        ],
        (Praise, Pt) => &[
            "Obrigado à equipa da {brand}, resolveram tudo em cinco minutos 🙌",
            "A encomenda {order} chegou mais cedo, obrigado {brand}!",
        ],
        (Spam, En) => &[
            "🔥 Earn $500/day from home, DM me now 👉 bit.ly/{code}",
            "Follow back? Crypto giveaway, first 100 people get free BTC {code}",
            "Cheap followers and likes, visit followersfast.example/{code}",
        ],
        (Spam, Es) => &["🔥 Gana 500 € al día desde casa, escríbeme 👉 bit.ly/{code}"],
        (Spam, Fr) => &["🔥 Gagnez 500 €/jour depuis chez vous, écrivez-moi 👉 bit.ly/{code}"],
        (Spam, De) => &["🔥 500 € am Tag von zu Hause verdienen, schreib mir 👉 bit.ly/{code}"],
        (Spam, Pt) => &["🔥 Ganhe 500 € por dia em casa, fale comigo 👉 bit.ly/{code}"],
        (Outage, En) => &[
            "Is {brand} down? App won't load for me",
            "{brand} outage again?? Can't log in, can't pay, nothing works",
            "@{brand} your website has been down for an hour, what is going on",
            "No service in {city} since this morning. #{brand}Down",
            "Getting error 503 on the {brand} app. Anyone else?",
        ],
        (Outage, Es) => &[
            "¿Se ha caído {brand}? La app no carga",
            "Otra vez sin servicio de {brand} en {city}. #{brand}Caído",
            "@{brand} la web lleva una hora caída, ¿qué pasa?",
        ],
        (Outage, Fr) => &[
            "{brand} est en panne ? L'appli ne charge plus",
            "Encore une panne {brand} à {city} depuis ce matin #{brand}Panne",
            "@{brand} le site est inaccessible depuis une heure",
        ],
        (Outage, De) => &[
            "Ist {brand} down? Die App lädt nicht",
            "Schon wieder Störung bei {brand} in {city} #{brand}Störung",
            "@{brand} eure Website ist seit einer Stunde nicht erreichbar",
        ],
        (Outage, Pt) => &[
            "A {brand} está em baixo? A app não abre",
            "Sem serviço da {brand} em {city} desde manhã #{brand}Down",
            "@{brand} o site está em baixo há uma hora",
        ],
    }
}

/// Cities per language, for outage posts and profile locations.
pub(crate) fn cities(language: Language) -> &'static [&'static str] {
    match language {
        Language::En => &["London", "Leeds", "Manchester", "New York", "Austin", "Dublin"],
        Language::Es => &["Madrid", "Sevilla", "Valencia", "Bogotá", "Ciudad de México"],
        Language::Fr => &["Paris", "Lyon", "Marseille", "Montréal"],
        Language::De => &["Berlin", "München", "Hamburg", "Wien"],
        Language::Pt => &["Lisboa", "Porto", "São Paulo", "Recife"],
    }
}

/// Country or region shown after a city in a profile's location.
pub(crate) fn region(language: Language) -> &'static str {
    match language {
        Language::En => "UK",
        Language::Es => "ES",
        Language::Fr => "FR",
        Language::De => "DE",
        Language::Pt => "PT",
    }
}

/// Rival brands churn posts threaten to move to.
pub(crate) const COMPETITORS: &[&str] = &["Globex", "Initech", "Umbrella", "Hooli", "Soylent"];

/// Given names as shown and as ASCII (for handles and email addresses).
pub(crate) const GIVEN_NAMES: &[(&str, &str)] = &[
    ("Jane", "jane"),
    ("John", "john"),
    ("Aisha", "aisha"),
    ("Oliver", "oliver"),
    ("Priya", "priya"),
    ("Tom", "tom"),
    ("Emma", "emma"),
    ("Liam", "liam"),
    ("Sofía", "sofia"),
    ("José", "jose"),
    ("Lucía", "lucia"),
    ("Mateo", "mateo"),
    ("Camille", "camille"),
    ("François", "francois"),
    ("Léa", "lea"),
    ("Hugo", "hugo"),
    ("Jürgen", "juergen"),
    ("Lena", "lena"),
    ("Lukas", "lukas"),
    ("Anja", "anja"),
    ("João", "joao"),
    ("Inês", "ines"),
    ("Beatriz", "beatriz"),
    ("Tiago", "tiago"),
    ("Wei", "wei"),
    ("Fatima", "fatima"),
    ("Noah", "noah"),
    ("Mia", "mia"),
];

/// Family names as shown and as ASCII.
pub(crate) const FAMILY_NAMES: &[(&str, &str)] = &[
    ("Doe", "doe"),
    ("Smith", "smith"),
    ("Khan", "khan"),
    ("Brown", "brown"),
    ("Patel", "patel"),
    ("García", "garcia"),
    ("Martínez", "martinez"),
    ("López", "lopez"),
    ("Dubois", "dubois"),
    ("Lefèvre", "lefevre"),
    ("Moreau", "moreau"),
    ("Müller", "mueller"),
    ("Schmidt", "schmidt"),
    ("Weiß", "weiss"),
    ("Silva", "silva"),
    ("Gonçalves", "goncalves"),
    ("Costa", "costa"),
    ("Nguyen", "nguyen"),
    ("O'Brien", "obrien"),
    ("Kowalski", "kowalski"),
];

/// Small edits that make a near-duplicate of a viral post.
pub(crate) const SUFFIXES: &[&str] = &["!!", "!!!", " 😡", " 🙄", " smh", " #fail", " ugh", " +1"];
/// Words a copy sometimes starts with.
pub(crate) const PREFIXES: &[&str] = &["Same here: ", "This. ", "ugh ", "+1 ", "Me too! ", "Still: "];
