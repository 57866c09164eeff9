//! A small, deterministic generator of FEBRL-like people for tests: originals, and duplicates
//! with typos, missing values, swapped names and changed fields. Shared by the unit tests
//! (through `#[path]`) and the integration tests.

#![allow(dead_code)]

use super::Record;

const GIVEN: &[&str] = &[
    "michaela",
    "courtney",
    "charles",
    "vanessa",
    "elton",
    "mitchell",
    "jacob",
    "sebastian",
    "alicia",
    "daniel",
    "olivia",
    "peter",
    "luke",
    "ruby",
    "kyle",
    "mia",
    "jade",
    "abby",
    "mason",
    "jack",
    "noah",
    "chloe",
    "emily",
    "joshua",
    "thomas",
    "hannah",
    "isabella",
    "lachlan",
    "matilda",
    "oscar",
    "zara",
    "harrison",
    "georgia",
    "samuel",
    "lily",
    "riley",
    "brandon",
    "tahlia",
    "william",
    "grace",
    "benjamin",
    "ella",
    "james",
    "sophie",
];
const SURNAMES: &[&str] = &[
    "neumann",
    "painter",
    "green",
    "parr",
    "white",
    "maxon",
    "menzies",
    "hodgkinson",
    "hyland",
    "webb",
    "orme",
    "humphreys",
    "widdup",
    "panagaris",
    "shepherd",
    "campbell",
    "harrison",
    "dent",
    "mason",
    "sporn",
    "robertson",
    "stephenson",
    "breheny",
    "gazzola",
    "vaszocz",
    "tallaxdira",
    "zabrowski",
    "kowalczyk",
    "nguyen",
    "papadopoulos",
    "oconnor",
    "fitzgerald",
    "lindqvist",
    "yamamoto",
    "okafor",
    "delacroix",
    "ferreira",
    "abernethy",
    "quinlan",
];
const STREETS: &[&str] = &[
    "stanley street",
    "pinkerton circuit",
    "salkauskas crescent",
    "macquoid place",
    "light street",
    "edkins street",
    "lambrigg street",
    "lyster place",
    "barada crescent",
    "outtrim avenue",
    "kellick place",
    "orme street",
    "mack street",
    "elsey street",
    "crisp circuit",
    "hannan crescent",
    "ironbark crescent",
    "houghton place",
    "wyles place",
    "newman morris circuit",
    "barritt street",
    "hawker place",
    "dalley crescent",
    "quiros street",
];
const SUBURBS: &[&str] = &[
    "winston hills",
    "richlands",
    "dapto",
    "south grafton",
    "windermere",
    "north ryde",
    "broadbeach waters",
    "northwood",
    "port augusta",
    "ingleburn",
    "clanville",
    "elermore vale",
    "summer hill",
    "greenslopes",
    "roxburgh park",
    "airds",
    "hawkesbury heights",
    "gravesend",
    "lakemba",
    "currambine",
    "lalor",
    "bega",
];
const STATES: &[&str] = &["nsw", "vic", "qld", "sa", "wa", "tas", "act", "nt"];

/// A seeded generator (SplitMix64).
pub struct Random(u64);

impl Random {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut mixed = self.0;
        mixed = (mixed ^ (mixed >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        mixed = (mixed ^ (mixed >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        mixed ^ (mixed >> 31)
    }

    pub fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    pub fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }

    pub fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

/// A random person, `rec-<n>-org`. One surname in five is "smith" (a common value for TF).
pub fn person(random: &mut Random, number: usize) -> Record {
    let surname = if random.chance(20) { "smith" } else { random.pick(SURNAMES) };
    let suburb = random.pick(SUBURBS);
    let street = random.pick(STREETS);
    let extra = random.pick(SUBURBS);
    Record::new(format!("rec-{number}-org"))
        .with("given_name", random.pick(GIVEN))
        .with("surname", surname)
        .with("street_number", (1 + random.below(120)).to_string())
        .with("address_1", street)
        .with("address_2", format!("{extra} village"))
        .with("suburb", suburb)
        .with("postcode", (2000 + random.below(3000)).to_string())
        .with("state", random.pick(STATES))
        .with(
            "date_of_birth",
            format!("19{:02}{:02}{:02}", 20 + random.below(80), 1 + random.below(12), 1 + random.below(28)),
        )
}

/// One typo: substitute, insert, delete or transpose a character.
pub fn typo(random: &mut Random, value: &str) -> String {
    let mut bytes = value.as_bytes().to_vec();
    if bytes.len() < 2 {
        return value.to_string();
    }
    let at = random.below(bytes.len() - 1);
    let letter = b'a' + random.below(26) as u8;
    match random.below(4) {
        0 => bytes[at] = letter,
        1 => bytes.insert(at, letter),
        2 => {
            bytes.remove(at);
        }
        _ => bytes.swap(at, at + 1),
    }
    String::from_utf8(bytes).unwrap_or_else(|_| value.to_string())
}

/// A duplicate of `original`, `rec-<n>-dup-0`, with one to four modifications.
pub fn duplicate(random: &mut Random, original: &Record) -> Record {
    let number = original.id.split('-').nth(1).unwrap_or("0");
    let mut copy = original.clone();
    copy.id = format!("rec-{number}-dup-0");
    let fields = ["given_name", "surname", "street_number", "address_1", "suburb", "postcode", "date_of_birth"];
    for _ in 0..1 + random.below(4) {
        let field = fields[random.below(fields.len())];
        let current = copy.get(field).unwrap_or_default().to_string();
        match random.below(10) {
            0 => {
                copy.values.remove(field);
            }
            1 if field == "given_name" || field == "surname" => {
                let given = copy.get("given_name").unwrap_or_default().to_string();
                let surname = copy.get("surname").unwrap_or_default().to_string();
                copy.set("given_name", surname);
                copy.set("surname", given);
            }
            _ => copy.set(field, typo(random, &current)),
        }
    }
    copy
}

/// `originals` people on the left; on the right, a duplicate of each of the first `duplicates`
/// and `strangers` new people; shuffled. The truth: equal numbers in the ids.
pub fn linkage(seed: u64, originals: usize, duplicates: usize, strangers: usize) -> (Vec<Record>, Vec<Record>) {
    let mut random = Random::new(seed);
    let left: Vec<Record> = (0..originals).map(|number| person(&mut random, number)).collect();
    let mut right: Vec<Record> = left.iter().take(duplicates).map(|record| duplicate(&mut random, record)).collect();
    right.extend((0..strangers).map(|offset| person(&mut random, originals + offset)));
    for index in (1..right.len()).rev() {
        let other = random.below(index + 1);
        right.swap(index, other);
    }
    (left, right)
}

/// Whether two ids name the same person.
pub fn same_person(left: &str, right: &str) -> bool {
    left.split('-').nth(1) == right.split('-').nth(1)
}
