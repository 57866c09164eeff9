//! Near-duplicate clustering on real signatures from `tend-text`.

// Helpers outside `#[test]` functions too: a panic is the failure report here.
#![allow(clippy::unwrap_used)]

use chrono::{DateTime, Duration, Utc};
use tend_text::{Analyzer, Input, PERMUTATIONS, Signature};
use tend_trends::cluster::{Assignment, ClusterConfig, ClusterIndex, SIGNATURE_LEN};

fn signature(text: &str) -> Signature {
    Analyzer::default().enrich(&Input::new(text)).signature
}

fn t(minutes: i64) -> DateTime<Utc> {
    DateTime::from_timestamp(1_750_000_000, 0).unwrap() + Duration::minutes(minutes)
}

fn index() -> ClusterIndex {
    ClusterIndex::new(ClusterConfig::default()).unwrap()
}

const ORIGINAL: &str = "@acme my flight 2231 from denver was cancelled again and nobody at the desk can tell me \
                        when the next one leaves, three hours in line and still no answer";

/// Edits of a few words each (replacements, an insertion, a deletion, a different mention).
const EDITS: [&str; 5] = [
    "@acme my flight 2231 from denver was cancelled again and nobody at the gate can tell me \
     when the next one leaves, three hours in line and still no answer",
    "@acme my flight 2231 from denver was cancelled again and nobody at the desk can tell me \
     when the next one leaves, four hours in line and still no answer!!",
    "@acmeair my flight 2231 from denver was cancelled AGAIN and nobody at the desk can tell me \
     when the next one leaves, three hours in line and still no answer at all",
    "my flight 2231 from denver was cancelled again and nobody at the desk can tell me \
     when the next one leaves, three hours in this line and still no answer",
    "@acme flight 2231 from denver was cancelled again and nobody at the desk can tell me \
     when the next one leaves, 3 hours in line and still no answer",
];

const UNRELATED: [&str; 5] = [
    "@acme thanks for the quick refund, the agent on chat was lovely and sorted it in minutes",
    "does anyone know if the lounge at terminal b is open before six in the morning",
    "@acme my package was marked delivered yesterday but there is nothing at my door, order 5512",
    "the new app update logs me out every time I open the boarding pass screen, please fix",
    "cancelled my subscription today, the price went up twice this year and the service got worse",
];

#[test]
fn signature_length_matches_tend_text() {
    assert_eq!(SIGNATURE_LEN, PERMUTATIONS);
    assert_eq!(signature(ORIGINAL).0.len(), SIGNATURE_LEN);
}

#[test]
fn near_duplicates_join_and_unrelated_posts_do_not() {
    let mut index = index();
    let first = index.insert("orig", &signature(ORIGINAL).0, t(0)).unwrap();
    assert_eq!(first, Assignment { cluster_id: "orig".into(), size: 1, new_cluster: true, similarity: 1.0 });
    for (i, text) in UNRELATED.iter().enumerate() {
        let a = index.insert(&format!("other{i}"), &signature(text).0, t(1 + i as i64)).unwrap();
        assert!(a.new_cluster, "unrelated post {i} joined {}", a.cluster_id);
        assert_eq!(a.size, 1);
    }
    for (i, text) in EDITS.iter().enumerate() {
        let estimated = signature(ORIGINAL).jaccard(&signature(text));
        let a = index.insert(&format!("edit{i}"), &signature(text).0, t(10 + i as i64)).unwrap();
        assert_eq!(a.cluster_id, "orig", "edit {i} (estimated Jaccard {estimated}) did not join: {a:?}");
        assert_eq!(a.size, i as u64 + 2);
        assert!(!a.new_cluster);
        assert!(a.similarity >= 0.5);
    }
    assert_eq!(index.len(), 1 + UNRELATED.len());
    assert_eq!(index.members(), 1 + UNRELATED.len() + EDITS.len());
    let largest = index.largest(1);
    assert_eq!(largest[0].id, "orig");
    assert_eq!(largest[0].size, 1 + EDITS.len() as u64);
}

#[test]
fn a_repost_joins_its_original() {
    let mut index = index();
    index.insert("orig", &signature(ORIGINAL).0, t(0)).unwrap();
    index.insert("noise", &signature(UNRELATED[0]).0, t(1)).unwrap();
    let repost = format!("RT @angry_flyer: {ORIGINAL}");
    // "rt" stays a token (mentions and ":" do not): one extra shingle, not a different text.
    let estimated = signature(ORIGINAL).jaccard(&signature(&repost));
    assert!((0.8..1.0).contains(&estimated), "{estimated}");
    let a = index.insert("rt1", &signature(&repost).0, t(2)).unwrap();
    assert_eq!(a.cluster_id, "orig");
    assert_eq!(a.size, 2);
    // A repost of a repost, and a repost of an edit.
    let again = format!("RT @someone: RT @angry_flyer: {ORIGINAL}");
    assert_eq!(index.insert("rt2", &signature(&again).0, t(3)).unwrap().cluster_id, "orig");
    let of_edit = format!("RT @x: {}", EDITS[2]);
    assert_eq!(index.insert("rt3", &signature(&of_edit).0, t(4)).unwrap().cluster_id, "orig");
    // A short original (4 tokens) still holds: 2 of 3 shingles shared.
    let short = "refund still not received";
    index.insert("short", &signature(short).0, t(5)).unwrap();
    assert_eq!(index.insert("rt4", &signature(&format!("RT @y: {short}")).0, t(6)).unwrap().cluster_id, "short");
}

#[test]
fn empty_signatures_never_cluster() {
    let mut index = index();
    let empty = signature("@acme 🙄🙄 https://t.co/xyz");
    assert!(empty.is_empty());
    let a = index.insert("e1", &empty.0, t(0)).unwrap();
    let b = index.insert("e2", &empty.0, t(1)).unwrap();
    assert_eq!((a.cluster_id.as_str(), a.size, a.new_cluster), ("e1", 1, true));
    assert_eq!((b.cluster_id.as_str(), b.size, b.new_cluster), ("e2", 1, true));
    // Nor does a real post join them, nor they it.
    index.insert("real", &signature(ORIGINAL).0, t(2)).unwrap();
    assert_eq!(index.insert("e3", &empty.0, t(3)).unwrap().cluster_id, "e3");
    assert_eq!(index.len(), 4);
    index.expire(t(24 * 60));
    assert_eq!(index.cluster("e1"), None);
    assert_eq!(index.cluster("e2").map(|c| c.size), Some(1));
}

#[test]
fn reinserting_a_member_changes_nothing() {
    let mut index = index();
    let first = index.insert("p1", &signature(ORIGINAL).0, t(0)).unwrap();
    let joined = index.insert("p2", &signature(EDITS[0]).0, t(1)).unwrap();
    // At-least-once delivery: the same posts again, even with another time or signature.
    assert_eq!(index.insert("p2", &signature(EDITS[0]).0, t(1)).unwrap(), joined);
    assert_eq!(index.insert("p2", &signature(UNRELATED[1]).0, t(5)).unwrap(), joined);
    let again = index.insert("p1", &signature(ORIGINAL).0, t(0)).unwrap();
    assert_eq!(again, Assignment { size: 2, ..first });
    assert_eq!(index.members(), 2);
    assert_eq!(index.cluster("p1").map(|c| c.size), Some(2));
}

#[test]
fn expiry_shrinks_and_forgets_clusters() {
    let mut index = index();
    index.insert("orig", &signature(ORIGINAL).0, t(0)).unwrap();
    for (i, text) in EDITS.iter().enumerate() {
        index.insert(&format!("edit{i}"), &signature(text).0, t(60 * (i as i64 + 1))).unwrap();
    }
    index.insert("lone", &signature(UNRELATED[2]).0, t(90)).unwrap();
    assert_eq!(index.cluster("orig").map(|c| c.size), Some(6));
    // Nothing is a day old yet.
    assert_eq!(index.expire(t(24 * 60 - 1)), 0);
    // The original leaves; its cluster keeps its id while later members remain.
    assert_eq!(index.expire(t(24 * 60)), 1);
    let view = index.cluster("orig").unwrap();
    assert_eq!(view.size, 5);
    assert_eq!(view.first_at, t(0));
    assert_eq!(index.cluster_of("orig"), None);
    assert_eq!(index.cluster_of("edit0"), Some("orig"));
    // A new edit still joins through the remaining members.
    let late = index.insert("late", &signature(EDITS[3]).0, t(24 * 60 + 70)).unwrap();
    // "edit0" (1 h) left when "late" came in (25 h 10 min): four edits and "late".
    assert_eq!((late.cluster_id.as_str(), late.size), ("orig", 5), "{late:?}");
    assert_eq!(index.cluster("lone").map(|c| c.size), Some(1), "the lone post leaves at 25 h 30 min");
    // Everything leaves: the cluster is forgotten; the same text now opens a new cluster.
    index.expire(t(3 * 24 * 60));
    assert!(index.is_empty());
    assert_eq!(index.len(), 0);
    assert_eq!(index.cluster("orig"), None);
    let reborn = index.insert("next", &signature(ORIGINAL).0, t(3 * 24 * 60)).unwrap();
    assert!(reborn.new_cluster);
    assert_eq!(reborn.cluster_id, "next");
}

#[test]
fn out_of_order_posts_are_placed_and_expire_at_their_own_time() {
    let mut index = index();
    index.insert("b", &signature(EDITS[0]).0, t(10)).unwrap();
    // Arrives later but was posted earlier.
    let a = index.insert("a", &signature(ORIGINAL).0, t(2)).unwrap();
    assert_eq!(a.cluster_id, "b");
    let view = index.cluster("b").unwrap();
    assert_eq!((view.first_at, view.last_at, view.size), (t(2), t(10), 2));
    index.insert("c", &signature(EDITS[1]).0, t(5)).unwrap();
    // "a" (t 2) leaves first, then "c" (t 5), then "b" (t 10).
    assert_eq!(index.expire(t(24 * 60 + 2)), 1);
    assert_eq!(index.cluster_of("a"), None);
    assert_eq!(index.cluster("b").map(|c| c.size), Some(2));
    assert_eq!(index.expire(t(24 * 60 + 5)), 1);
    assert_eq!(index.cluster_of("c"), None);
    assert_eq!(index.expire(t(24 * 60 + 10)), 1);
    assert!(index.is_empty());
}

/// A stream of posts over two days: families of edits and reposts, plus unrelated posts.
fn stream() -> Vec<(String, Vec<u32>, DateTime<Utc>)> {
    let mut posts = Vec::new();
    let mut minute = 0;
    for round in 0..40 {
        let family = round % 4;
        let base = match family {
            0 => ORIGINAL.to_string(),
            1 => EDITS[round % EDITS.len()].to_string(),
            2 => format!("RT @fan{round}: {ORIGINAL}"),
            _ => format!("{} #round{round}", UNRELATED[round % UNRELATED.len()]),
        };
        for k in 0..3 {
            let text = if k == 0 { base.clone() } else { format!("{base} take {k}") };
            // Some posts arrive a few minutes out of order.
            let at = t(minute - (k as i64 % 2) * 7);
            posts.push((format!("p{round}-{k}"), signature(&text).0, at));
            minute += 41;
        }
    }
    posts
}

fn replay(posts: &[(String, Vec<u32>, DateTime<Utc>)]) -> (ClusterIndex, Vec<Assignment>) {
    let mut index = index();
    let out = posts.iter().map(|(id, sig, at)| index.insert(id, sig, *at).unwrap()).collect();
    (index, out)
}

#[test]
fn replay_gives_the_same_clusters() {
    let posts = stream();
    let (first, a) = replay(&posts);
    let (second, b) = replay(&posts);
    assert_eq!(a, b);
    let mut x: Vec<_> = first.clusters().collect();
    let mut y: Vec<_> = second.clusters().collect();
    x.sort_by(|p, q| p.id.cmp(&q.id));
    y.sort_by(|p, q| p.id.cmp(&q.id));
    assert_eq!(x, y);
    // The stream spans more than a day: clusters lived and died.
    assert!(a.iter().any(|x| x.size >= 5));
    assert!(first.members() < posts.len());
}

#[test]
fn restore_rebuilds_the_ids_routing_stored() {
    let posts = stream();
    let (original, assigned) = replay(&posts);
    // Routing restarts; it replays the posts still in the window with the ids it recorded.
    let newest = posts.iter().map(|p| p.2).max().unwrap();
    let mut rebuilt = index();
    for ((id, sig, at), a) in posts.iter().zip(&assigned) {
        if newest - *at < Duration::hours(24) {
            let r = rebuilt.restore(id, sig, *at, &a.cluster_id).unwrap();
            assert_eq!(r.cluster_id, a.cluster_id);
        }
    }
    let mut x: Vec<_> = original.clusters().map(|c| (c.id, c.size, c.last_at)).collect();
    let mut y: Vec<_> = rebuilt.clusters().map(|c| (c.id, c.size, c.last_at)).collect();
    x.sort();
    y.sort();
    assert_eq!(x, y);
    // And the next post lands in the same cluster in both.
    let next = signature(&format!("RT @late: {ORIGINAL}"));
    let mut original = original;
    let after = newest + Duration::minutes(1);
    assert_eq!(original.insert("next", &next.0, after).unwrap(), rebuilt.insert("next", &next.0, after).unwrap());
}

#[test]
fn max_members_drops_the_oldest_first() {
    let config = ClusterConfig { max_members: 3, ..Default::default() };
    let mut index = ClusterIndex::new(config).unwrap();
    index.insert("orig", &signature(ORIGINAL).0, t(0)).unwrap();
    index.insert("edit0", &signature(EDITS[0]).0, t(1)).unwrap();
    index.insert("lone", &signature(UNRELATED[0]).0, t(2)).unwrap();
    assert_eq!((index.members(), index.len()), (3, 2));
    // A fourth post: the oldest ("orig") leaves as if it had expired; its cluster keeps its id.
    let a = index.insert("edit1", &signature(EDITS[1]).0, t(3)).unwrap();
    assert_eq!((a.cluster_id.as_str(), a.size), ("orig", 2));
    assert_eq!(index.cluster_of("orig"), None);
    assert_eq!(index.members(), 3);
    assert_eq!(index.len(), 2);
    let view = index.cluster("orig").unwrap();
    assert_eq!((view.size, view.first_at), (2, t(0)));
    assert_eq!(view.growth.iter().map(|g| g.members).sum::<u64>(), 2);
    // Next "edit0", then "lone": a cluster whose last member leaves is forgotten.
    index.insert("other", &signature(UNRELATED[1]).0, t(4)).unwrap();
    index.insert("other2", &signature(UNRELATED[2]).0, t(5)).unwrap();
    assert_eq!(index.cluster("lone"), None);
    assert_eq!(index.cluster("orig").map(|c| c.size), Some(1));
    assert_eq!((index.members(), index.len()), (3, 3));
    let sum: u64 = index.clusters().map(|c| c.size).sum();
    assert_eq!(sum, 3);
    // A restore makes room the same way: "edit1", the last of "orig", leaves first, so the
    // restore opens "orig" again under its recorded id.
    let r = index.restore("edit2", &signature(EDITS[2]).0, t(6), "orig").unwrap();
    assert_eq!((r.cluster_id.as_str(), r.size, r.new_cluster), ("orig", 1, true));
    assert_eq!(index.cluster_of("edit1"), None);
    assert_eq!(index.cluster("orig").map(|c| c.first_at), Some(t(6)));
    assert_eq!(index.members(), 3);
}
