//! Fuzz target for the event envelope (docs/FUZZING.md): what a consumer reads from a stream
//! entry, decoded as every consumer does it (the envelope, its tenant, its payload as the type
//! the consumer expects, `customers.erased` as the people it erases), and a dead letter's JSON.
//! A stream entry that is not an event is poison (an error value), never a panic.
//!
//! Inputs are the files of `tests/__fuzz__/event_envelope/corpus/`, then random bytes, each
//! tried as it is and as a mutation of a corpus file (bytes changed, inserted, cut), so that
//! most mutants are still envelopes with a damaged field.

use std::time::Duration;

use prost::Message as _;
use tend_proto::v1::{self, EventEnvelope};
use tend_queue::{DeadLetter, HandlerError};
use tend_store::events::{self, ErasedPeople};

/// Random inputs after the corpus, unless `BOLERO_RANDOM_ITERATIONS` says otherwise.
const ITERATIONS: usize = 20_000;
/// And at most this long, unless `BOLERO_RANDOM_TEST_TIME_MS` says otherwise.
const TIME: Duration = Duration::from_secs(3);

/// The corpus files, sorted by name.
fn corpus() -> Vec<Vec<u8>> {
    tend_kernel::fuzz::corpus(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/__fuzz__/event_envelope/corpus"),
    )
}

/// A corpus file with one to eight edits, as `input` says (each edit: what, where, value).
fn mutate(seeds: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    let Some((&pick, edits)) = input.split_first() else {
        return seeds[0].clone();
    };
    let mut out = seeds[usize::from(pick) % seeds.len()].clone();
    for edit in edits.chunks_exact(4).take(1 + usize::from(pick >> 5)) {
        let [what, high, low, value] = [edit[0], edit[1], edit[2], edit[3]];
        let at = (usize::from(high) << 8 | usize::from(low)) % (out.len() + 1);
        match what % 5 {
            0 | 1 => {
                if let Some(byte) = out.get_mut(at) {
                    *byte = value;
                }
            }
            2 => out.insert(at, value),
            3 => {
                let end = (at + usize::from(value % 8)).min(out.len());
                out.drain(at..end);
            }
            _ => out.truncate(at),
        }
    }
    out
}

/// Decodes `bytes` as each consumer would; panics only when a property breaks.
fn check(bytes: &[u8]) {
    if let Some(letter) = DeadLetter::decode(bytes) {
        check_envelope(&letter.payload);
    }
    check_envelope(bytes);
}

fn check_envelope(bytes: &[u8]) {
    let Ok(envelope) = EventEnvelope::decode(bytes) else {
        return;
    };
    // What decodes encodes and decodes to itself (unknown fields aside, which are dropped).
    let again = EventEnvelope::decode(envelope.encode_to_vec().as_slice());
    assert_eq!(again.as_ref().ok(), Some(&envelope));

    if let Ok(tenant) = events::tenant(&envelope) {
        assert_eq!(tenant.as_str(), envelope.tenant);
    }
    let received = events::payload::<v1::InteractionReceived>(&envelope);
    assert!(received.is_err() || envelope.r#type == "tend.v1.InteractionReceived");
    expect_poison(received.err());
    match events::payload::<v1::CustomerErased>(&envelope) {
        Ok(erased) => {
            assert_eq!(envelope.r#type, "tend.v1.CustomerErased");
            let people = ErasedPeople::from_event(&erased);
            assert!(people.customer_id.as_ref().is_none_or(|id| !id.trim().is_empty() && id.trim() == id));
            assert!(people.profile_ids.iter().all(|id| !id.is_empty()));
            assert!(people.profile_ids.windows(2).all(|pair| pair[0] < pair[1]), "sorted, no repeats");
            assert_eq!(people.is_empty(), people.customer_id.is_none() && people.profile_ids.is_empty());
        }
        Err(error) => expect_poison(Some(error)),
    }
}

/// An envelope that cannot be read is poison: retrying will not help.
fn expect_poison(error: Option<HandlerError>) {
    if let Some(error) = error {
        assert!(matches!(error, HandlerError::Poison(_)), "{error:?}");
    }
}

#[test]
fn event_envelope() {
    let seeds = corpus();
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        check(input);
        check(&mutate(&seeds, input));
    });
}
