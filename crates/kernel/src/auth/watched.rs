//! A file re-read when it changes: credentials (keys, JWKS) rotate without a restart.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::SystemTime;

/// A file and what it looked like when it was last read.
#[derive(Debug)]
pub(super) struct WatchedFile {
    path: PathBuf,
    /// Modification time and length at the last read.
    seen: Mutex<Option<(SystemTime, u64)>>,
}

impl WatchedFile {
    /// A file not read yet.
    pub fn new(path: PathBuf) -> Self {
        Self { path, seen: Mutex::new(None) }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file's text if it changed (modification time or length) since the last call that
    /// returned it, `None` if not. Text that its caller cannot use is not offered again until
    /// the file changes: the error is reported once, not at every check.
    pub fn read_if_changed(&self) -> Result<Option<String>, String> {
        let cannot = |error: std::io::Error| format!("cannot read {}: {error}", self.path.display());
        let metadata = std::fs::metadata(&self.path).map_err(cannot)?;
        let now = metadata.modified().ok().map(|modified| (modified, metadata.len()));
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        if now.is_some() && *seen == now {
            return Ok(None);
        }
        let text = std::fs::read_to_string(&self.path).map_err(cannot)?;
        *seen = now;
        Ok(Some(text))
    }
}
