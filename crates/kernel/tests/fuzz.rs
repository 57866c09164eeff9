//! Fuzz target for page tokens (docs/FUZZING.md): `Page::parse` of any `page_size` and
//! `page_token` answers a page or INVALID_ARGUMENT, never panics, and a token it accepts
//! re-encodes to itself.
//!
//! An input is `SIZE TOKEN` (as the corpus in `tests/__fuzz__/page_token/corpus/` writes it),
//! tried as it is and as a mutation of a corpus file, so that the random phase also tries
//! near-UUIDs and not only noise.

use std::time::Duration;

use tend_kernel::ApiError;
use tend_kernel::paging::{DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, Page};

/// Random inputs after the corpus, unless `BOLERO_RANDOM_ITERATIONS` says otherwise.
const ITERATIONS: usize = 20_000;
/// And at most this long, unless `BOLERO_RANDOM_TEST_TIME_MS` says otherwise.
const TIME: Duration = Duration::from_secs(3);

/// The corpus files, sorted by name.
fn corpus() -> Vec<Vec<u8>> {
    tend_kernel::fuzz::corpus(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/__fuzz__/page_token/corpus"),
    )
}

/// A corpus file with one to four bytes changed, inserted or removed, as `input` says.
fn mutate(seeds: &[Vec<u8>], input: &[u8]) -> Vec<u8> {
    let Some((&pick, edits)) = input.split_first() else {
        return seeds[0].clone();
    };
    let mut out = seeds[usize::from(pick) % seeds.len()].clone();
    for edit in edits.chunks_exact(3).take(1 + usize::from(pick >> 6)) {
        let [what, at, value] = [edit[0], edit[1], edit[2]];
        let at = usize::from(at) % (out.len() + 1);
        // Mostly characters a UUID is made of, so that mutants stay close to tokens.
        const BYTES: &[u8] = b"0123456789abcdefABCDEF-{}:xyz \0\xff";
        let byte = BYTES[usize::from(value) % BYTES.len()];
        match what % 3 {
            0 if at < out.len() => out[at] = byte,
            1 => out.insert(at, byte),
            _ if at < out.len() => {
                out.remove(at);
            }
            _ => {}
        }
    }
    out
}

/// `SIZE TOKEN`: a size that is not a number is taken from the input's length.
fn request(input: &[u8]) -> (u32, String) {
    let text = String::from_utf8_lossy(input);
    match text.split_once(' ') {
        Some((size, token)) => (size.parse().unwrap_or(text.len() as u32), token.to_owned()),
        None => (text.len() as u32 % 600, text.into_owned()),
    }
}

fn check(page_size: u32, token: &str) {
    match Page::parse(page_size, token) {
        Ok(page) => {
            let expected = if page_size == 0 { DEFAULT_PAGE_SIZE } else { page_size };
            assert_eq!(page.limit, u64::from(expected));
            assert!(page.limit >= 1 && page.limit <= u64::from(MAX_PAGE_SIZE));
            assert_eq!(page.after.is_none(), token.is_empty());
            if let Some(after) = &page.after {
                // The id a page continues after is the canonical form, and as the next
                // request's token it reads the same.
                assert_eq!(after.len(), 36, "{after:?}");
                assert_eq!(*after, after.to_ascii_lowercase());
                assert_eq!(Page::parse(page_size, after).ok(), Some(page.clone()));
                let ids = vec![after.clone(); page.limit as usize];
                assert_eq!(page.next_token(&ids, |id| id.as_str()), *after);
            }
        }
        Err(ApiError::InvalidArgument { field, problem }) => {
            assert!(field == "page_size" || field == "page_token", "{field}");
            // The message never echoes the token back.
            assert!(problem.len() <= 128, "{problem}");
            assert!(token.len() < 8 || !problem.contains(token), "{problem}");
        }
        Err(other) => panic!("{page_size} {token:?}: {other:?}"),
    }
}

#[test]
fn page_token() {
    let seeds = corpus();
    bolero::check!().with_iterations(ITERATIONS).with_test_time(TIME).for_each(|input: &[u8]| {
        let (page_size, token) = request(input);
        check(page_size, &token);
        let (page_size, token) = request(&mutate(&seeds, input));
        check(page_size, &token);
    });
}
