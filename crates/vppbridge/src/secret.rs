//! Notification secrets: the shared secret Apple sends back as `Authorization: Bearer` with each
//! notification.
//!
//! Owns reading secret files, holding a secret only as its SHA-256 ([`SecretHash`]), comparing a
//! presented bearer value in constant time, the pair of secrets accepted during a rotation
//! ([`LocationSecrets`]), and `vppbridge secret new`. Must never log, print or `Debug` a secret.

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use base64::Engine;
use rand::RngCore;
use secrecy::{ExposeSecret, SecretString};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

/// Why a secret file could not be used.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    /// The file could not be read.
    #[error(
        "cannot read the notification secret file {path}: {source}; create one with `vppbridge secret new {path}`"
    )]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The file is empty (after trimming white space).
    #[error(
        "the notification secret file {path} is empty; write a new secret with `vppbridge secret new --force {path}`"
    )]
    Empty {
        /// The file.
        path: PathBuf,
    },
}

/// Reads a secret file and trims surrounding white space (a trailing newline is common).
///
/// # Errors
/// [`SecretError::Read`] when the file cannot be read, is not a regular file, is larger than
/// [`crate::files::MAX_FILE_BYTES`] or is not UTF-8; [`SecretError::Empty`] when it
/// holds nothing but white space.
pub fn read_secret_file(path: &Path) -> Result<SecretString, SecretError> {
    let text = crate::files::read_text(path).map_err(|source| SecretError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(SecretError::Empty {
            path: path.to_path_buf(),
        });
    }
    Ok(SecretString::from(trimmed.to_owned()))
}

/// The SHA-256 of a secret: all the receiver keeps in memory.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// Hashes a secret.
    pub fn of(secret: &str) -> Self {
        SecretHash(Sha256::digest(secret.as_bytes()).into())
    }

    /// Whether `candidate` is the secret, compared in constant time (over the hashes, so the
    /// time does not depend on where the candidate differs nor on its length).
    pub fn matches(&self, candidate: &str) -> bool {
        let other = Sha256::digest(candidate.as_bytes());
        self.0.ct_eq(other.as_slice()).into()
    }
}

impl std::fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("SecretHash([redacted])")
    }
}

/// The secrets a location accepts: the current one and, during a rotation, the previous one.
#[derive(Clone, Debug)]
pub struct LocationSecrets {
    current: SecretHash,
    previous: Option<SecretHash>,
}

impl LocationSecrets {
    /// From the secrets themselves.
    pub fn new(current: &str, previous: Option<&str>) -> Self {
        LocationSecrets {
            current: SecretHash::of(current),
            previous: previous.map(SecretHash::of),
        }
    }

    /// Reads the current secret's file and, when given, the previous one's (a location's
    /// `notification_secret_file` and `previous_notification_secret_file`).
    ///
    /// # Errors
    /// When either file cannot be read or is empty.
    pub fn load(current: &Path, previous: Option<&Path>) -> Result<Self, SecretError> {
        let current = read_secret_file(current)?;
        let previous = previous.map(read_secret_file).transpose()?;
        Ok(LocationSecrets::new(
            current.expose_secret(),
            previous.as_ref().map(|s| s.expose_secret()),
        ))
    }

    /// Whether `candidate` is one of the accepted secrets. Both are always compared, so the
    /// time does not tell which one matched.
    pub fn accepts(&self, candidate: &str) -> bool {
        let current = self.current.matches(candidate);
        let previous = self.previous.as_ref().is_some_and(|p| p.matches(candidate));
        current | previous
    }
}

/// A new random secret: 256 bits, URL-safe Base64 without padding (43 characters).
pub fn generate() -> String {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// Writes a new random secret to `path` with mode 0600.
///
/// # Errors
/// When the file exists and `force` is false, or it cannot be written.
///
/// Never writes through a symbolic link: a link at `path` is refused (with or without
/// `force`), and `force` replaces the file by renaming a new one over it, so a link put there
/// meanwhile is replaced, not followed.
pub fn write_new(path: &Path, force: bool) -> anyhow::Result<()> {
    if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
        anyhow::bail!(
            "{} is a symbolic link; vppbridge does not write a secret through a link: give the path of the file itself, or remove the link first",
            path.display()
        );
    }
    let exists = std::fs::symlink_metadata(path).is_ok();
    if exists && !force {
        anyhow::bail!(
            "{} already exists; pass --force to replace it (the old secret stops working unless you keep a copy as previous_notification_secret_file)",
            path.display()
        );
    }
    // A new file beside the target (create_new: never an existing file or link), renamed over
    // it: the target is replaced whole, mode 0600 from the start.
    let name = path
        .file_name()
        .map_or_else(|| "secret".into(), |n| n.to_string_lossy().into_owned());
    let temp = path.with_file_name(format!(".{name}.{}.tmp", &generate()[..8]));
    let written = (|| -> std::io::Result<()> {
        let mut file = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&temp)?;
        writeln!(file, "{}", generate())?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        anyhow::bail!("cannot write {}: {e}", path.display());
    }
    Ok(())
}

/// `vppbridge secret new PATH [--force]`.
///
/// # Errors
/// When the file exists and `force` is false, or it cannot be written.
pub fn new_command(path: &Path, force: bool) -> anyhow::Result<ExitCode> {
    write_new(path, force)?;
    println!(
        "wrote a new 256-bit notification secret to {} (mode 0600)",
        path.display()
    );
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn current_and_previous_secrets_are_accepted_and_others_refused() {
        let s = LocationSecrets::new("new-secret", Some("old-secret"));
        assert!(s.accepts("new-secret"));
        assert!(s.accepts("old-secret"));
        assert!(!s.accepts("new-secret "));
        assert!(!s.accepts(""));
        let only = LocationSecrets::new("new-secret", None);
        assert!(!only.accepts("old-secret"));
    }

    #[test]
    fn debug_output_never_shows_the_secret_or_its_hash() {
        let s = LocationSecrets::new("hunter2", Some("hunter3"));
        let text = format!("{s:?}");
        assert!(!text.contains("hunter"), "{text}");
        assert!(text.contains("redacted"));
    }

    #[test]
    fn secret_files_are_trimmed_and_empty_ones_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, "  abc\n").unwrap();
        assert_eq!(read_secret_file(&p).unwrap().expose_secret(), "abc");
        std::fs::write(&p, "\n").unwrap();
        let e = read_secret_file(&p).unwrap_err().to_string();
        assert!(e.contains("empty") && e.contains("secret new"), "{e}");
    }

    #[test]
    fn new_secret_is_256_bits_mode_0600_and_not_overwritten_without_force() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("secret");
        write_new(&p, false).unwrap();
        let first = read_secret_file(&p).unwrap().expose_secret().to_owned();
        let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&first)
            .unwrap();
        assert_eq!(bytes.len(), 32);
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let e = write_new(&p, false).unwrap_err().to_string();
        assert!(e.contains("--force"), "{e}");
        assert_eq!(read_secret_file(&p).unwrap().expose_secret(), first);
        write_new(&p, true).unwrap();
        assert_ne!(read_secret_file(&p).unwrap().expose_secret(), first);
        // A forced rewrite of a 0644 file leaves a 0600 one.
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
        write_new(&p, true).unwrap();
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(
            std::fs::read_dir(dir.path()).unwrap().count(),
            1,
            "no temporary file left"
        );
    }

    #[test]
    fn a_symbolic_link_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("precious");
        std::fs::write(&target, "keep me\n").unwrap();
        let link = dir.path().join("secret");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        for force in [false, true] {
            let e = write_new(&link, force).unwrap_err().to_string();
            assert!(e.contains("symbolic link"), "{e}");
        }
        assert_eq!(std::fs::read_to_string(&target).unwrap(), "keep me\n");
        assert!(
            std::fs::symlink_metadata(&link)
                .unwrap()
                .file_type()
                .is_symlink()
        );
        // A dangling link too (create_new alone would refuse it, but say why).
        std::fs::remove_file(&target).unwrap();
        let e = write_new(&link, true).unwrap_err().to_string();
        assert!(e.contains("symbolic link"), "{e}");
        assert!(!target.exists());
    }

    #[test]
    fn binary_and_special_secret_files_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("s");
        std::fs::write(&p, [0xff, 0xfe, 0x41]).unwrap();
        let e = read_secret_file(&p).unwrap_err().to_string();
        assert!(e.contains("UTF-8") && e.contains("secret new"), "{e}");
        let e = read_secret_file(Path::new("/dev/zero"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("not a regular file"), "{e}");
    }
}
