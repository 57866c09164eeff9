//! Layered configuration: built-in defaults → an optional TOML file → environment variables
//! named `TEND__SECTION__KEY` (double underscores separate the levels, so
//! `TEND__SERVER__LISTEN=0.0.0.0:50051` sets `server.listen`).
//!
//! Each binary defines one typed struct (with `#[serde(default)]` sections) and loads it with
//! [`load`]; values that parse but make no sense are rejected by [`Validate`] with an error that
//! names the key and says what to put there.

use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

/// The environment variable prefix; nesting separator is `__`.
pub const ENV_PREFIX: &str = "TEND";

/// Why configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The configuration file named on the command line does not exist.
    #[error("configuration file {path} does not exist")]
    MissingFile {
        /// The path that was given.
        path: PathBuf,
    },
    /// A source could not be read or a value has the wrong type.
    #[error("invalid configuration: {0}")]
    Parse(#[from] config::ConfigError),
    /// A value parsed but is not acceptable.
    #[error("invalid configuration: `{key}` {problem}")]
    Invalid {
        /// The dotted key, e.g. `server.listen`.
        key: String,
        /// What is wrong and how to fix it.
        problem: String,
    },
}

impl ConfigError {
    /// An [`ConfigError::Invalid`] for `key`.
    pub fn invalid(key: impl Into<String>, problem: impl Into<String>) -> Self {
        Self::Invalid { key: key.into(), problem: problem.into() }
    }
}

/// Checks an optional URL setting: empty is allowed (the feature is off or the default is used);
/// otherwise it must start with one of `schemes` (e.g. `["http://", "https://"]`). `expected`
/// is shown in the error, e.g. "http://otel-collector:4317".
pub fn check_optional_url(key: &str, value: &str, schemes: &[&str], expected: &str) -> Result<(), ConfigError> {
    if value.is_empty() || schemes.iter().any(|scheme| value.starts_with(scheme)) {
        return Ok(());
    }
    Err(ConfigError::invalid(key, format!("must be empty or a URL like {expected}")))
}

/// Checks the meaning of a configuration once it has parsed.
pub trait Validate {
    /// Returns the first problem found, naming its key.
    fn validate(&self) -> Result<(), ConfigError>;
}

/// Loads `T` from its defaults, then `file` if given (it must exist), else `tend.toml` in the
/// working directory if present, then the `TEND__…` environment; and validates it.
pub fn load<T>(file: Option<&Path>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Default + serde::Serialize + Validate,
{
    load_from(file, std::env::vars())
}

/// [`load`] with the environment given explicitly, for tests.
pub fn load_from<T>(file: Option<&Path>, env: impl IntoIterator<Item = (String, String)>) -> Result<T, ConfigError>
where
    T: DeserializeOwned + Default + serde::Serialize + Validate,
{
    let defaults = config::Config::try_from(&T::default())?;
    let mut builder = config::Config::builder().add_source(defaults);
    match file {
        Some(path) if !path.exists() => {
            return Err(ConfigError::MissingFile { path: path.to_path_buf() });
        }
        Some(path) => builder = builder.add_source(config::File::from(path)),
        None => builder = builder.add_source(config::File::with_name("tend.toml").required(false)),
    }
    let env_source = config::Environment::with_prefix(ENV_PREFIX)
        .prefix_separator("__")
        .separator("__")
        .try_parsing(true)
        .source(Some(env.into_iter().collect()));
    let loaded: T = builder.add_source(env_source).build()?.try_deserialize()?;
    loaded.validate()?;
    Ok(loaded)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;
    use serde::{Deserialize, Serialize};

    #[derive(Debug, Default, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct Sample {
        server: SampleServer,
    }

    #[derive(Debug, Serialize, Deserialize, PartialEq)]
    #[serde(default)]
    struct SampleServer {
        listen: String,
        limit: u32,
    }

    impl Default for SampleServer {
        fn default() -> Self {
            Self { listen: "127.0.0.1:1".into(), limit: 7 }
        }
    }

    impl Validate for Sample {
        fn validate(&self) -> Result<(), ConfigError> {
            if self.server.limit == 0 {
                return Err(ConfigError::invalid("server.limit", "must be at least 1"));
            }
            Ok(())
        }
    }

    #[test]
    fn defaults_then_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.toml");
        std::fs::write(&path, "[server]\nlisten = \"0.0.0.0:9\"\nlimit = 3\n").unwrap();
        let env = [("TEND__SERVER__LIMIT".to_string(), "5".to_string())];
        let loaded: Sample = load_from(Some(&path), env).unwrap();
        assert_eq!(loaded.server.listen, "0.0.0.0:9");
        assert_eq!(loaded.server.limit, 5);
    }

    #[test]
    fn invalid_value_names_the_key() {
        let env = [("TEND__SERVER__LIMIT".to_string(), "0".to_string())];
        let error = load_from::<Sample>(None, env).unwrap_err().to_string();
        assert!(error.contains("server.limit"), "{error}");
    }

    #[test]
    fn missing_file_is_an_error() {
        let error = load_from::<Sample>(Some(Path::new("/nonexistent/tend.toml")), []).unwrap_err();
        assert!(matches!(error, ConfigError::MissingFile { .. }));
    }
}
