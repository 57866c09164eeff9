//! What the fuzz targets of this binary's file readers share (docs/FUZZING.md): their corpus
//! in `src/__fuzz__/<target>/corpus/`, a mutator of its files, and the budget of one run.

use std::time::Duration;

/// Random inputs per target after the corpus, unless `BOLERO_RANDOM_ITERATIONS` says otherwise.
pub const ITERATIONS: usize = 3_000;
/// And at most this long, unless `BOLERO_RANDOM_TEST_TIME_MS` says otherwise.
pub const TIME: Duration = Duration::from_secs(3);

/// The files of `target`'s corpus, sorted by name.
pub fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(format!("src/__fuzz__/{target}/corpus"));
    tend_kernel::fuzz::corpus(&dir)
}

/// One corpus file with one to eight edits, as `input` says: its first byte picks the file,
/// every next four bytes are one edit (what, where, where, value); `tokens` are spliced in.
pub fn mutate(seeds: &[Vec<u8>], tokens: &[&str], input: &[u8]) -> Vec<u8> {
    let Some((&pick, edits)) = input.split_first() else {
        return seeds[0].clone();
    };
    let mut out = seeds[usize::from(pick) % seeds.len()].clone();
    for edit in edits.chunks_exact(4).take(1 + usize::from(pick >> 5)) {
        let [what, high, low, value] = [edit[0], edit[1], edit[2], edit[3]];
        let at = (usize::from(high) << 8 | usize::from(low)) % (out.len() + 1);
        match what % 6 {
            0 | 1 => {
                if let Some(byte) = out.get_mut(at) {
                    *byte = value;
                }
            }
            2 | 3 => {
                let token = tokens[usize::from(value) % tokens.len()];
                out.splice(at..at, token.bytes());
            }
            4 => {
                let end = (at + usize::from(value % 16)).min(out.len());
                out.drain(at..end);
            }
            _ => out.insert(at, value),
        }
    }
    out
}
