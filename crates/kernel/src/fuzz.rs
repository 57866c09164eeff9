//! What every crate's fuzz targets share (docs/FUZZING.md): reading a target's corpus, the seeds
//! its mutators start from. Test support; nothing in the services calls it.

use std::path::Path;

/// The files of the corpus directory `dir`, sorted by name.
///
/// # Panics
/// When `dir` cannot be read or holds no file: a fuzz target without its corpus is a broken
/// checkout, not a pass.
pub fn corpus(dir: &Path) -> Vec<Vec<u8>> {
    let fail = |what: &dyn std::fmt::Debug, error: std::io::Error| -> ! { panic!("{what:?}: {error}") };
    let mut paths: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|error| fail(&dir, error))
        .map(|entry| entry.map(|entry| entry.path()).unwrap_or_else(|error| fail(&dir, error)))
        .collect();
    paths.sort();
    let seeds: Vec<Vec<u8>> =
        paths.iter().map(|path| std::fs::read(path).unwrap_or_else(|error| fail(path, error))).collect();
    assert!(!seeds.is_empty(), "{} holds no corpus file", dir.display());
    seeds
}
