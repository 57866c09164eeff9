//! `tend keys …`: API keys made and hashed on this machine; nothing is sent anywhere.

use std::io::Read as _;

use anyhow::{Context as _, bail};
use tend_kernel::auth::{ApiKeyConfig, Role, digest_hex, generate_key};

use crate::cli::{KeyRole, KeysCommand, NewKeyArgs};

/// Runs a `tend keys` command.
pub fn keys(command: KeysCommand) -> anyhow::Result<()> {
    match command {
        KeysCommand::New(args) => new_key(args),
        KeysCommand::Hash => {
            let mut key = String::new();
            std::io::stdin().read_to_string(&mut key).context("reading the key from standard input")?;
            let key = key.trim();
            if key.is_empty() {
                bail!("no key on standard input");
            }
            println!("{}", digest_hex(key));
            Ok(())
        }
    }
}

fn new_key(args: NewKeyArgs) -> anyhow::Result<()> {
    let role = match args.role {
        KeyRole::Admin => Role::Admin,
        KeyRole::Agent => Role::Agent,
        KeyRole::Service => Role::Service,
        KeyRole::Viewer => Role::Viewer,
        KeyRole::Website => Role::Website,
    };
    let key = generate_key();
    let mut entry = ApiKeyConfig::plain(&args.name, "", args.tenant.as_deref(), role);
    entry.sha256 = digest_hex(&key);
    entry.agent = args.agent;
    entry.check(|field| format!("--{field}")).map_err(|error| anyhow::anyhow!("{error}"))?;
    let entry = toml::to_string(&KeysEntry { keys: vec![entry] })?;
    eprintln!("The key (give it to the caller; it is not shown again):");
    println!("{key}");
    eprintln!("\nAdd this to the keys file ([auth] keys_file), or as [[auth.keys]] to the config:\n");
    eprint!("{entry}");
    Ok(())
}

/// A keys file of one entry, for printing.
#[derive(serde::Serialize)]
struct KeysEntry {
    keys: Vec<ApiKeyConfig>,
}
