//! `vppbridge token inspect FILE`: organisation, expiry and days left, as an exit code too.

use std::path::Path;
use std::process::ExitCode;

use chrono::Utc;

use apple_vpp::token::{ContentToken, EXPIRY_WARNING_DAYS, TokenError, TokenStatus};
use apple_vpp::types::format_apple_date;

/// `token inspect`'s exit code for a token's status: 0 valid, 3 expiring soon, 4 expired.
pub fn exit_code(status: TokenStatus) -> u8 {
    match status {
        TokenStatus::Valid => 0,
        TokenStatus::ExpiresSoon => 3,
        TokenStatus::Expired => 4,
    }
}

/// Exit code when the file is not a content token.
pub const EXIT_NOT_A_TOKEN: u8 = 2;
/// Exit code when the file cannot be read.
pub const EXIT_UNREADABLE: u8 = 1;

/// `vppbridge token inspect FILE`: prints organisation, expiry and days left (never the
/// secret). Exits 0 when valid, 3 when it expires within 30 days, 4 when expired, 2 when the
/// file is not a content token (1 when it cannot be read).
pub fn inspect_command(file: &Path) -> ExitCode {
    let token = match ContentToken::from_file(file) {
        Ok(t) => t,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(match e {
                TokenError::Unreadable { .. } => EXIT_UNREADABLE,
                _ => EXIT_NOT_A_TOKEN,
            });
        }
    };
    let now = Utc::now();
    let status = token.status(now);
    println!("file:         {}", file.display());
    println!("organisation: {}", token.org_name);
    println!("expires:      {}", format_apple_date(token.expires_at));
    println!("days left:    {}", token.days_left(now).max(0));
    match status {
        TokenStatus::Valid => println!("status:       valid"),
        TokenStatus::ExpiresSoon => println!(
            "status:       expires within {EXPIRY_WARNING_DAYS} days: download a new .vpptoken (Settings → Apps and Books) and replace the file"
        ),
        TokenStatus::Expired => println!(
            "status:       EXPIRED: download a new .vpptoken (Settings → Apps and Books) and replace the file"
        ),
    }
    ExitCode::from(exit_code(status))
}
