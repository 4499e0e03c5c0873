//! Why a file is not a content token, each case saying which file the user probably meant.

use std::path::PathBuf;

/// Where a content token comes from, for error messages.
const WHERE: &str = "download the location's content token (a .vpptoken file) in Apple School Manager or Apple Business under Settings → Apps and Books";

/// What is wrong with a would-be content token. Never carries the token's secret.
#[derive(Debug, thiserror::Error)]
pub enum TokenError {
    /// The file cannot be read.
    #[error("cannot read the content token file {}: {source}; check the path and its permissions", path.display())]
    Unreadable {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// A parse error, with the file it came from.
    #[error("{}: {source}", path.display())]
    InFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it.
        source: Box<TokenError>,
    },
    /// Nothing but whitespace.
    #[error("the file is empty; {WHERE}")]
    Empty,
    /// An Automated Device Enrollment server token (`*_smime.p7m`): S/MIME, PKCS#7.
    #[error(
        "this is an Automated Device Enrollment server token ({form}, usually named *_smime.p7m, from Settings → Device Management), not a content token; {WHERE}"
    )]
    AdeServerToken {
        /// How it was recognised (MIME header, DER or PEM PKCS#7).
        form: &'static str,
    },
    /// A PEM certificate, key or other PEM object.
    #[error(
        "this is a PEM {kind} (for example the MDM push or TLS certificate), not a content token; {WHERE}"
    )]
    Pem {
        /// `certificate`, `private key`, or the PEM label.
        kind: String,
    },
    /// JSON where Base64 was expected: a decoded token.
    #[error(
        "the file holds JSON, which looks like a decoded content token; Apple needs the original Base64 text: use the .vpptoken file exactly as downloaded"
    )]
    DecodedJson,
    /// Binary or text that is not Base64.
    #[error("the file is not Base64 text, so it is not a content token; {WHERE}")]
    NotBase64,
    /// Base64 of something other than JSON.
    #[error(
        "the file is Base64 but does not decode to JSON, so it is not a content token; {WHERE}"
    )]
    NotJson,
    /// JSON without the three string fields.
    #[error("the decoded token lacks the field(s) {}; a .vpptoken holds token, expDate and orgName: {WHERE}", missing.join(", "))]
    MissingFields {
        /// The missing (or non-string) fields.
        missing: Vec<&'static str>,
    },
    /// `expDate` that is not a date.
    #[error(
        "the token's expDate {value:?} is not a date like 2030-11-08T22:33:22+0000; the file may be damaged: {WHERE}"
    )]
    BadDate {
        /// The value found (not secret).
        value: String,
    },
}

impl TokenError {
    /// The error without the file wrapper.
    pub fn kind(&self) -> &TokenError {
        match self {
            TokenError::InFile { source, .. } => source.kind(),
            other => other,
        }
    }
}
