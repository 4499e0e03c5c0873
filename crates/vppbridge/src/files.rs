//! Bounded reads of the small files vppbridge reads, and credentials kept out of messages.
//!
//! Every file vppbridge reads at start (the configuration, content tokens, notification
//! secrets, NATS credentials) is small. [`read_bounded`] reads only regular files (a FIFO would
//! block forever, `/dev/zero` would fill the memory) and at most [`MAX_FILE_BYTES`].
//! [`redact_url`] removes `user:password@` from a URL before it is printed or logged.

use std::io::Read;
use std::path::Path;

/// The largest file vppbridge reads: configuration, token, secret and credentials files are a
/// few kilobytes at most.
pub const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Reads a regular file of at most [`MAX_FILE_BYTES`].
///
/// # Errors
/// When the file cannot be opened or read, is not a regular file (a directory, FIFO, socket or
/// device), or is larger than the cap. The message names what is wrong, not the path (the
/// caller adds it).
pub fn read_bounded(path: &Path) -> std::io::Result<Vec<u8>> {
    check_regular(path)?;
    let file = std::fs::File::open(path)?;
    // Checked again on the open file, in case the path changed in between.
    if !file.metadata()?.is_file() {
        return Err(not_regular());
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("larger than {MAX_FILE_BYTES} bytes, which no vppbridge file should be"),
        ));
    }
    Ok(bytes)
}

/// Ok when `path` (after symbolic links, as Kubernetes mounts secrets) is a regular file.
///
/// # Errors
/// When it does not exist, cannot be examined, or is not a regular file.
pub fn check_regular(path: &Path) -> std::io::Result<()> {
    if std::fs::metadata(path)?.is_file() {
        Ok(())
    } else {
        Err(not_regular())
    }
}

fn not_regular() -> std::io::Error {
    std::io::Error::new(
        std::io::ErrorKind::InvalidInput,
        "not a regular file (a directory, FIFO, socket or device); name the file itself",
    )
}

/// [`read_bounded`] as UTF-8 text.
///
/// # Errors
/// As [`read_bounded`], and when the content is not UTF-8.
pub fn read_text(path: &Path) -> std::io::Result<String> {
    String::from_utf8(read_bounded(path)?).map_err(|_| {
        std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            "not UTF-8 text (a binary file?)",
        )
    })
}

/// `url` (or a comma-separated list of URLs) with any `user:password@` or `token@` replaced by
/// `***@`, for messages and logs.
pub fn redact_url(url: &str) -> String {
    url.split(',')
        .map(|part| {
            let start = part.find("://").map_or(0, |i| i + 3);
            let (head, rest) = part.split_at(start);
            let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
            match rest[..authority_end].rfind('@') {
                Some(at) => format!("{head}***{}", &rest[at..]),
                None => part.to_owned(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn credentials_in_urls_are_redacted() {
        let cases = [
            ("nats://user:hunter2@nats:4222", "nats://***@nats:4222"),
            ("nats://s3cr3t@nats:4222", "nats://***@nats:4222"),
            ("user:hunter2@nats:4222", "***@nats:4222"),
            (
                "nats://a:p@n1:4222, tls://n2:4222,nats://b:q@n3",
                "nats://***@n1:4222, tls://n2:4222,nats://***@n3",
            ),
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            ("ws://h/path@x", "ws://h/path@x"),
            ("nats://u:p@ss@h:1", "nats://***@h:1"),
        ];
        for (url, expected) in cases {
            assert_eq!(redact_url(url), expected, "{url}");
        }
    }

    #[test]
    fn a_fifo_is_refused_without_blocking() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        let made = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(made.success());
        let (tx, rx) = std::sync::mpsc::channel();
        let path = fifo.clone();
        std::thread::spawn(move || tx.send(read_bounded(&path).map(|b| b.len())));
        let result = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("read_bounded blocked on a FIFO");
        let e = result.unwrap_err().to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }

    #[test]
    fn devices_directories_and_huge_files_are_refused() {
        for special in ["/dev/zero", "/tmp"] {
            let e = read_bounded(Path::new(special)).unwrap_err().to_string();
            assert!(e.contains("not a regular file"), "{special}: {e}");
        }
        let dir = tempfile::tempdir().unwrap();
        let big = dir.path().join("big");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_FILE_BYTES + 1).unwrap();
        let e = read_bounded(&big).unwrap_err().to_string();
        assert!(e.contains("larger than"), "{e}");
        f.set_len(MAX_FILE_BYTES).unwrap();
        assert_eq!(read_bounded(&big).unwrap().len() as u64, MAX_FILE_BYTES);
        std::fs::write(&big, [0xff, 0xfe, b'a']).unwrap();
        let e = read_text(&big).unwrap_err().to_string();
        assert!(e.contains("UTF-8"), "{e}");
    }
}
