//! The waiting board: the queue's work items, grouped by what they require, and the best item
//! an agent may take now (docs/QUEUE.md). Pure and in memory; the dispatcher keeps it in step
//! with the database, which stays the truth.
//!
//! Items with the same requirements (queue, channel, language, skills) form a group, ordered
//! twice: by priority (then age) and by SLA deadline. The best item of a group is its earliest
//! deadline if that deadline is near (within the board's risk window: an item about to breach
//! goes before a fresher, higher one), else its highest priority. The best item for an agent is
//! the best of the groups the agent qualifies for, so a decision costs a look at each group's
//! heads, however many items wait: requirement signatures are few (tens to hundreds), items many.

use std::cmp::Reverse;
use std::collections::{BTreeSet, HashMap};

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// What an item requires of the agent who takes it; items alike share a group.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Requirements {
    /// The queue it waits in.
    pub queue: String,
    /// Its channel (`tend.v1.Channel`): the agent must have capacity for it.
    pub channel: i32,
    /// The language the agent must answer in; empty for any.
    pub language: String,
    /// Skills with their least level, sorted by name.
    pub skills: Vec<(String, u32)>,
}

/// A case waiting for an agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Item {
    /// The case.
    pub case_id: String,
    /// What it requires.
    pub requirements: Requirements,
    /// Its priority, 0 to 100.
    pub priority: u32,
    /// When its first response is due, if an SLA applies.
    pub due_at: Option<Millis>,
    /// When it began to wait.
    pub enqueued_at: Millis,
    /// The case's topics (an item on a hot topic is offered to the topic's experts first).
    pub topics: Vec<String>,
}

/// What an agent can take now.
#[derive(Clone, Copy, Debug)]
pub struct Taker<'a> {
    /// The queues they take work from, sorted.
    pub queues: &'a [String],
    /// The languages they answer in, sorted.
    pub languages: &'a [String],
    /// Their skills and levels, sorted by name.
    pub skills: &'a [(String, u32)],
    /// The channels they have room for now (spare capacity above zero), sorted.
    pub channels: &'a [i32],
}

impl Taker<'_> {
    /// Whether this agent may take items that require `requirements`.
    pub fn qualifies(&self, requirements: &Requirements) -> bool {
        self.channels.binary_search(&requirements.channel).is_ok()
            && self.queues.binary_search(&requirements.queue).is_ok()
            && (requirements.language.is_empty() || self.languages.binary_search(&requirements.language).is_ok())
            && requirements.skills.iter().all(|(skill, level)| {
                self.skills
                    .binary_search_by(|(have, _)| have.as_str().cmp(skill))
                    .is_ok_and(|at| self.skills[at].1 >= *level)
            })
    }
}

/// Where an item stands in the board's order: lower is taken first.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct Rank {
    /// 0 when its deadline is near (ordered by deadline), 1 otherwise (ordered by priority).
    tier: u8,
    due_at: Millis,
    priority: Reverse<u32>,
    enqueued_at: Millis,
    seq: u64,
}

#[derive(Debug, Default)]
struct Group {
    by_priority: BTreeSet<(Reverse<u32>, Millis, u64)>,
    /// In [`Rank`]'s order among items at risk: deadline, then priority, then age.
    by_due: BTreeSet<(Millis, Reverse<u32>, Millis, u64)>,
}

impl Group {
    fn is_empty(&self) -> bool {
        self.by_priority.is_empty()
    }

    /// The group's best item at `now`, items counting as at risk `window` ms before their
    /// deadline.
    fn best(&self, now: Millis, window: Millis) -> Option<Rank> {
        if let Some(&(due_at, priority, enqueued_at, seq)) = self.by_due.first()
            && due_at.saturating_sub(window) <= now
        {
            return Some(Rank { tier: 0, due_at, priority, enqueued_at, seq });
        }
        let &(priority, enqueued_at, seq) = self.by_priority.first()?;
        Some(Rank { tier: 1, due_at: 0, priority, enqueued_at, seq })
    }
}

/// The waiting items of one tenant.
#[derive(Debug)]
pub struct Board {
    /// How long before its deadline an item goes ahead of higher priorities.
    risk_window: Millis,
    groups: HashMap<Requirements, Group>,
    items: HashMap<u64, Item>,
    by_case: HashMap<String, u64>,
    next_seq: u64,
}

impl Board {
    /// An empty board whose items go ahead of higher priorities `risk_window` ms before their
    /// deadline.
    pub fn new(risk_window: Millis) -> Self {
        Self { risk_window, groups: HashMap::new(), items: HashMap::new(), by_case: HashMap::new(), next_seq: 0 }
    }

    /// How many items wait.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// How many distinct requirement signatures wait (what a decision's cost grows with).
    pub fn groups(&self) -> usize {
        self.groups.len()
    }

    /// The waiting item of `case_id`.
    pub fn get(&self, case_id: &str) -> Option<&Item> {
        self.by_case.get(case_id).map(|seq| &self.items[seq])
    }

    /// Puts `item` on the board, replacing the case's item if it waits already (its priority
    /// or requirements changed).
    pub fn insert(&mut self, item: Item) {
        self.remove(&item.case_id);
        let seq = self.next_seq;
        self.next_seq += 1;
        let group = self.groups.entry(item.requirements.clone()).or_default();
        group.by_priority.insert((Reverse(item.priority), item.enqueued_at, seq));
        if let Some(due_at) = item.due_at {
            group.by_due.insert((due_at, Reverse(item.priority), item.enqueued_at, seq));
        }
        self.by_case.insert(item.case_id.clone(), seq);
        self.items.insert(seq, item);
    }

    /// Takes the case's item off the board (assigned, resolved, no longer waiting).
    pub fn remove(&mut self, case_id: &str) -> Option<Item> {
        let seq = self.by_case.remove(case_id)?;
        let item = self.items.remove(&seq)?;
        if let Some(group) = self.groups.get_mut(&item.requirements) {
            group.by_priority.remove(&(Reverse(item.priority), item.enqueued_at, seq));
            if let Some(due_at) = item.due_at {
                group.by_due.remove(&(due_at, Reverse(item.priority), item.enqueued_at, seq));
            }
            if group.is_empty() {
                self.groups.remove(&item.requirements);
            }
        }
        Some(item)
    }

    /// The best item `taker` may take at `now`, left on the board.
    pub fn best_for(&self, taker: &Taker<'_>, now: Millis) -> Option<&Item> {
        self.groups
            .iter()
            .filter(|(requirements, _)| taker.qualifies(requirements))
            .filter_map(|(_, group)| group.best(now, self.risk_window))
            .min()
            .map(|rank| &self.items[&rank.seq])
    }

    /// The best item `taker` may take at `now` among those `allowed` lets through (an agent
    /// skips the items they declined), left on the board. Each group is walked from its head
    /// until an allowed item: as cheap as [`Board::best_for`] while few items are refused.
    pub fn best_for_where(&self, taker: &Taker<'_>, now: Millis, allowed: impl Fn(&Item) -> bool) -> Option<&Item> {
        let mut best: Option<Rank> = None;
        for (requirements, group) in &self.groups {
            if !taker.qualifies(requirements) {
                continue;
            }
            let at_risk = group
                .by_due
                .iter()
                .take_while(|(due_at, ..)| due_at.saturating_sub(self.risk_window) <= now)
                .map(|&(due_at, priority, enqueued_at, seq)| Rank { tier: 0, due_at, priority, enqueued_at, seq });
            let by_priority = group.by_priority.iter().map(|&(priority, enqueued_at, seq)| Rank {
                tier: 1,
                due_at: 0,
                priority,
                enqueued_at,
                seq,
            });
            let found = at_risk.chain(by_priority).find(|rank| allowed(&self.items[&rank.seq]));
            if let Some(rank) = found
                && best.is_none_or(|best| rank < best)
            {
                best = Some(rank);
            }
        }
        best.map(|rank| &self.items[&rank.seq])
    }

    /// The queues with waiting items, the one whose best item goes first at `now` first.
    pub fn queues_by_urgency(&self, now: Millis) -> Vec<&str> {
        let mut best: HashMap<&str, Rank> = HashMap::new();
        for (requirements, group) in &self.groups {
            if let Some(rank) = group.best(now, self.risk_window) {
                let entry = best.entry(requirements.queue.as_str()).or_insert(rank);
                *entry = (*entry).min(rank);
            }
        }
        let mut queues: Vec<(Rank, &str)> = best.into_iter().map(|(queue, rank)| (rank, queue)).collect();
        queues.sort();
        queues.into_iter().map(|(_, queue)| queue).collect()
    }

    /// The waiting items in the order they would be taken at `now` by an agent who qualifies
    /// for all of them (for statistics and tests; costs a sort of every item).
    pub fn in_order(&self, now: Millis) -> Vec<&Item> {
        self.in_order_where(now, |_| true)
    }

    /// The waiting items that `keep` keeps, in the order [`Board::in_order`] gives (costs a
    /// look at every item and a sort of those kept).
    pub fn in_order_where(&self, now: Millis, keep: impl Fn(&Item) -> bool) -> Vec<&Item> {
        let mut ranked: Vec<(Rank, &Item)> = self
            .items
            .iter()
            .filter(|(_, item)| keep(item))
            .map(|(&seq, item)| {
                let at_risk = item.due_at.is_some_and(|due_at| due_at.saturating_sub(self.risk_window) <= now);
                let rank = Rank {
                    tier: if at_risk { 0 } else { 1 },
                    due_at: if at_risk { item.due_at.unwrap_or_default() } else { 0 },
                    priority: Reverse(item.priority),
                    enqueued_at: item.enqueued_at,
                    seq,
                };
                (rank, item)
            })
            .collect();
        ranked.sort_by_key(|(rank, _)| *rank);
        ranked.into_iter().map(|(_, item)| item).collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const MINUTE: Millis = 60_000;
    const CHAT: i32 = 5;
    const X: i32 = 1;

    fn item(case_id: &str, priority: u32, enqueued_at: Millis) -> Item {
        Item {
            case_id: case_id.into(),
            requirements: Requirements { queue: "default".into(), channel: CHAT, ..Requirements::default() },
            priority,
            due_at: None,
            enqueued_at,
            topics: Vec::new(),
        }
    }

    fn strings(values: &[&str]) -> Vec<String> {
        values.iter().map(|value| (*value).to_owned()).collect()
    }

    struct Agent {
        queues: Vec<String>,
        languages: Vec<String>,
        skills: Vec<(String, u32)>,
        channels: Vec<i32>,
    }

    impl Agent {
        fn new() -> Self {
            Self {
                queues: strings(&["default"]),
                languages: strings(&["en"]),
                skills: Vec::new(),
                channels: vec![CHAT],
            }
        }

        fn taker(&self) -> Taker<'_> {
            Taker { queues: &self.queues, languages: &self.languages, skills: &self.skills, channels: &self.channels }
        }
    }

    fn best(board: &Board, agent: &Agent, now: Millis) -> Option<String> {
        board.best_for(&agent.taker(), now).map(|item| item.case_id.clone())
    }

    #[test]
    fn the_queue_with_the_most_urgent_item_comes_first() {
        let mut board = Board::new(10 * MINUTE);
        board.insert(item("calm", 90, 0));
        let mut urgent = item("urgent", 10, 0);
        urgent.requirements.queue = "retention".into();
        urgent.due_at = Some(5 * MINUTE);
        board.insert(urgent);
        assert_eq!(board.queues_by_urgency(0), ["retention", "default"]);
        assert_eq!(board.queues_by_urgency(-60 * MINUTE), ["default", "retention"], "not at risk yet");
    }

    #[test]
    fn an_agent_skips_the_items_they_passed_on() {
        let mut board = Board::new(10 * MINUTE);
        board.insert(item("high", 90, 0));
        board.insert(item("low", 10, 0));
        let agent = Agent::new();
        let pick = |skip: &'static str| {
            board.best_for_where(&agent.taker(), 0, |item| item.case_id != skip).map(|item| item.case_id.clone())
        };
        assert_eq!(pick("nothing").as_deref(), Some("high"));
        assert_eq!(pick("high").as_deref(), Some("low"));
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("high"));
    }

    #[test]
    fn the_highest_priority_goes_first_then_the_oldest() {
        let mut board = Board::new(10 * MINUTE);
        board.insert(item("low", 20, 0));
        board.insert(item("high-late", 80, 5));
        board.insert(item("high-early", 80, 1));
        let agent = Agent::new();
        let mut taken = Vec::new();
        while let Some(case_id) = best(&board, &agent, 100) {
            board.remove(&case_id).unwrap();
            taken.push(case_id);
        }
        assert_eq!(taken, ["high-early", "high-late", "low"]);
        assert!(board.is_empty());
        assert_eq!(board.groups(), 0, "an emptied group goes");
    }

    #[test]
    fn an_item_near_its_deadline_goes_before_higher_priorities() {
        let mut board = Board::new(10 * MINUTE);
        board.insert(item("vip", 90, 0));
        board.insert(Item { due_at: Some(60 * MINUTE), ..item("due-in-an-hour", 30, 0) });
        board.insert(Item { due_at: Some(45 * MINUTE), ..item("due-sooner", 10, 0) });
        let agent = Agent::new();
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("vip"), "nothing near its deadline yet");
        assert_eq!(best(&board, &agent, 36 * MINUTE).as_deref(), Some("due-sooner"), "9 minutes left");
        let order: Vec<&str> = board.in_order(55 * MINUTE).iter().map(|item| item.case_id.as_str()).collect();
        assert_eq!(order, ["due-sooner", "due-in-an-hour", "vip"], "both at risk, the earlier deadline first");
    }

    #[test]
    fn an_agent_gets_only_what_they_qualify_for() {
        let mut board = Board::new(MINUTE);
        let needs = |case_id: &str, priority: u32, change: &dyn Fn(&mut Requirements)| {
            let mut item = item(case_id, priority, 0);
            change(&mut item.requirements);
            item
        };
        board.insert(needs("retention-expert", 90, &|r| r.skills = vec![("retention".into(), 4)]));
        board.insert(needs("spanish", 80, &|r| r.language = "es".into()));
        board.insert(needs("on-x", 70, &|r| r.channel = X));
        board.insert(needs("other-queue", 60, &|r| r.queue = "vip".into()));
        board.insert(needs("billing", 50, &|r| r.skills = vec![("billing".into(), 2)]));
        board.insert(needs("anyone", 10, &|_| {}));

        let mut agent = Agent::new();
        agent.skills = vec![("billing".into(), 3), ("retention".into(), 2)];
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("billing"), "retention level 2 is below 4");
        agent.skills[1].1 = 4;
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("retention-expert"));
        board.remove("retention-expert");
        board.remove("billing");
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("anyone"));
        agent.languages = strings(&["en", "es"]);
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("spanish"));
        agent.channels = vec![X];
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("on-x"), "no room for another chat");
        agent.channels = Vec::new();
        assert_eq!(best(&board, &agent, 0), None, "no room at all");
        agent.channels = vec![CHAT];
        agent.queues = strings(&["default", "vip"]);
        board.remove("spanish");
        assert_eq!(best(&board, &agent, 0).as_deref(), Some("other-queue"));
    }

    #[test]
    fn a_case_waits_once_and_a_new_priority_replaces_the_old() {
        let mut board = Board::new(MINUTE);
        board.insert(item("a", 10, 0));
        board.insert(item("b", 50, 0));
        board.insert(item("a", 90, 0));
        assert_eq!(board.len(), 2);
        assert_eq!(best(&board, &Agent::new(), 0).as_deref(), Some("a"));
        assert_eq!(board.get("a").unwrap().priority, 90);
        assert!(board.remove("a").is_some());
        assert!(board.remove("a").is_none());
        assert_eq!(best(&board, &Agent::new(), 0).as_deref(), Some("b"));
    }

    /// Against a plain reference: the board's pick for an agent is the first item they qualify
    /// for in `in_order`, over many random boards.
    #[test]
    fn the_best_pick_is_the_first_qualifying_item_in_order() {
        let mut state = 0x2545_f491_4f6c_dd1d_u64;
        let mut next = |bound: u64| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state % bound
        };
        for _ in 0..200 {
            let mut board = Board::new(5 * MINUTE);
            for n in 0..40 {
                let mut item =
                    item(&format!("c{n}"), u32::try_from(next(101)).unwrap(), i64::try_from(next(1000)).unwrap());
                item.requirements.channel = if next(2) == 0 { CHAT } else { X };
                item.requirements.language = ["", "en", "es"][usize::try_from(next(3)).unwrap()].into();
                if next(3) == 0 {
                    item.requirements.skills = vec![("billing".into(), u32::try_from(next(5)).unwrap() + 1)];
                }
                if next(2) == 0 {
                    item.due_at = Some(i64::try_from(next(60)).unwrap() * MINUTE);
                }
                board.insert(item);
            }
            let mut agent = Agent::new();
            agent.skills = vec![("billing".into(), u32::try_from(next(5)).unwrap() + 1)];
            if next(2) == 0 {
                agent.channels = vec![X, CHAT];
            }
            let now = i64::try_from(next(60)).unwrap() * MINUTE;
            let expected = board
                .in_order(now)
                .into_iter()
                .find(|item| agent.taker().qualifies(&item.requirements))
                .map(|item| item.case_id.clone());
            assert_eq!(best(&board, &agent, now), expected);
        }
    }
}
