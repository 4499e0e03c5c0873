//! Fuzz target `envelope`: arbitrary bytes as a notification body, through the envelope parser
//! and the normaliser, exactly as the receiver hands them over after authentication and the
//! body-size limit.
//!
//! It looks for panics, stack overflows (deep nesting), runaway memory and time (huge numbers,
//! long strings) on any input: every body must end in `Ok` or a typed error, never a crash.

#![no_main]

use libfuzzer_sys::fuzz_target;

/// The receiver refuses larger bodies with 413 before parsing (`http.max_body_bytes`).
const MAX_BODY_BYTES: usize = 1024 * 1024;

fuzz_target!(|body: &[u8]| {
    if body.len() > MAX_BODY_BYTES {
        return;
    }
    let first = vppbridge::ingest::parse_notification("school", body);
    // Parsing is pure: the same bytes must get the same verdict.
    let second = vppbridge::ingest::parse_notification("school", body);
    assert_eq!(first.is_ok(), second.is_ok());
});
