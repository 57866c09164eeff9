//! Reading labelled examples from CSV.

use std::io::Read;

use crate::error::Error;

/// Read `text,label` CSV (a header row naming a `text` and a `label` column, in any order and
/// case; other columns are ignored) into `(text, label)` pairs.
///
/// Errors name the line: a missing header column, a row without the text or label field, an
/// empty label, invalid UTF-8 or malformed CSV.
pub fn read_labels<R: Read>(reader: R) -> Result<Vec<(String, String)>, Error> {
    let mut rdr = csv::ReaderBuilder::new().has_headers(true).flexible(true).from_reader(reader);
    let headers = rdr.headers().map_err(|e| csv_error(&e, 1))?.clone();
    let find =
        |name: &str| headers.iter().position(|h| h.trim().trim_start_matches('\u{feff}').eq_ignore_ascii_case(name));
    let (Some(text_col), Some(label_col)) = (find("text"), find("label")) else {
        return Err(Error::Csv { line: 1, message: "header must name a `text` and a `label` column".into() });
    };
    let mut out = Vec::new();
    for result in rdr.records() {
        let record = result.map_err(|e| csv_error(&e, 0))?;
        let line = record.position().map_or(0, |p| p.line());
        let (Some(text), Some(label)) = (record.get(text_col), record.get(label_col)) else {
            return Err(Error::Csv {
                line,
                message: format!("expected at least {} fields, found {}", text_col.max(label_col) + 1, record.len()),
            });
        };
        let label = label.trim();
        if label.is_empty() {
            return Err(Error::Csv { line, message: "empty label".into() });
        }
        out.push((text.to_string(), label.to_string()));
    }
    Ok(out)
}

fn csv_error(e: &csv::Error, fallback_line: u64) -> Error {
    let line = e.position().map_or(fallback_line, |p| p.line());
    let message = match e.kind() {
        csv::ErrorKind::Utf8 { .. } => "invalid UTF-8".to_string(),
        csv::ErrorKind::UnequalLengths { expected_len, len, .. } => {
            format!("expected {expected_len} fields, found {len}")
        }
        _ => e.to_string(),
    };
    Error::Csv { line, message }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_and_reports_lines() {
        let ok = read_labels("label,text\npositive,\"great, thanks\"\nnegative,awful\n".as_bytes());
        assert_eq!(
            ok,
            Ok(vec![
                ("great, thanks".to_string(), "positive".to_string()),
                ("awful".to_string(), "negative".to_string())
            ])
        );
        let missing = read_labels("text,label\nfine,neutral\nno label here,\n".as_bytes());
        assert_eq!(missing, Err(Error::Csv { line: 3, message: "empty label".into() }));
        let short = read_labels("text,label\nfine,neutral\nonly text\n".as_bytes());
        assert!(matches!(short, Err(Error::Csv { line: 3, .. })), "{short:?}");
        let header = read_labels("body,tag\nx,y\n".as_bytes());
        assert!(matches!(header, Err(Error::Csv { line: 1, .. })));
    }
}
