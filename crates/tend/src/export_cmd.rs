//! `tend customers export`: a subject access export (GDPR article 15) of one customer, as the
//! JSON document identity assembles from every service (`ExportCustomerData`, admin only).

use anyhow::Context as _;
use tend_proto::v1;

use crate::cli;
use crate::commands::{connect, failed};

/// Writes the export of `args.id` to `args.out`, or to standard output.
pub async fn export(args: cli::ExportArgs) -> anyhow::Result<()> {
    let client = connect(&args.connection).await?;
    let request = v1::ExportCustomerDataRequest { customer_id: args.id };
    let export = client
        .identity()
        // An export may be up to 64 MiB, past the 4 MiB a client accepts by default.
        .max_decoding_message_size(tend_client::export::MAX_EXPORT_BYTES + 1024 * 1024)
        .export_customer_data(request)
        .await
        .map_err(failed)?
        .into_inner();
    match args.out {
        Some(path) => {
            std::fs::write(&path, export.json.as_bytes())
                .with_context(|| format!("cannot write {}", path.display()))?;
            eprintln!("wrote {} ({} bytes)", path.display(), export.json.len());
        }
        None => println!("{}", export.json),
    }
    Ok(())
}
