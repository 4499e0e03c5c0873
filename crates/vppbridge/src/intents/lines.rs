//! JSON-lines files of the declarative commands (`assign|unassign`, `users apply`): read with a
//! size bound, parsed line by line, every bad line reported with its number, and nothing
//! returned when one is bad (so nothing of that file is written).

use std::path::Path;

use anyhow::Context as _;
use serde::de::DeserializeOwned;

/// Largest file read (a line is about 60 bytes: a million lines).
pub const MAX_FILE_BYTES: u64 = 64 * 1024 * 1024;

/// Parses every non-blank line of `text` as a `T`, then checks it with `check` (which turns it
/// into the caller's entry or says what is wrong). `expected` describes a good line for the
/// JSON errors.
///
/// # Errors
/// The problems, one per bad line, each starting `line <n>:`.
pub fn parse<T: DeserializeOwned, O>(
    text: &str,
    expected: &str,
    mut check: impl FnMut(T) -> Result<O, String>,
) -> Result<Vec<O>, Vec<String>> {
    let mut out = Vec::new();
    let mut problems = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        if raw.trim().is_empty() {
            continue;
        }
        match serde_json::from_str::<T>(raw) {
            Ok(line) => match check(line) {
                Ok(o) => out.push(o),
                Err(e) => problems.push(format!("line {n}: {e}")),
            },
            Err(e) => problems.push(format!("line {n}: {e}; expected {expected}")),
        }
    }
    if problems.is_empty() {
        Ok(out)
    } else {
        Err(problems)
    }
}

/// Reads `path` (at most [`MAX_FILE_BYTES`]) and parses it with `parse_text`; bad lines are
/// printed on stderr, prefixed with the path.
///
/// # Errors
/// When the file cannot be read, is too large, or has bad lines (nothing is written then).
pub fn read<O>(
    path: &Path,
    parse_text: impl FnOnce(&str) -> Result<Vec<O>, Vec<String>>,
) -> anyhow::Result<Vec<O>> {
    let size = std::fs::metadata(path)
        .with_context(|| format!("cannot read {}", path.display()))?
        .len();
    anyhow::ensure!(
        size <= MAX_FILE_BYTES,
        "{} is {size} bytes; split it into files of at most {MAX_FILE_BYTES} bytes",
        path.display()
    );
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read {} as UTF-8 text", path.display()))?;
    match parse_text(&text) {
        Ok(e) => Ok(e),
        Err(problems) => {
            for p in &problems {
                eprintln!("{}: {p}", path.display());
            }
            anyhow::bail!(
                "{} has {} invalid line(s); nothing was written",
                path.display(),
                problems.len()
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_line_is_numbered_and_blank_lines_are_skipped() {
        let text = "1\n\n\"x\"\n-3\n";
        let r = parse::<i64, u64>(text, "a number", |n| {
            u64::try_from(n).map_err(|_| format!("{n} is negative"))
        });
        let problems = r.unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
        assert!(problems[0].starts_with("line 3:") && problems[0].contains("a number"));
        assert!(problems[1].starts_with("line 4:") && problems[1].contains("negative"));
        assert_eq!(parse::<i64, i64>("1\n2\n", "", Ok).unwrap(), vec![1, 2]);
    }
}
