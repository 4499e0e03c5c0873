//! The receiver's pure stages timed in this process, without HTTP or NATS: a micro measurement
//! (no statistics library) of where a request's CPU time goes in `ingest`, to measure each cut
//! of the hot path on its own. Each stage runs over the same fresh bodies as the ingestion
//! benchmark; the figure is the median of [`REPEATS`] passes, in nanoseconds per body.

use std::time::Instant;

use serde::Serialize;

use super::alternate::median;
use super::ingestion::notification_body;
use vppbridge::ingest;

/// Bodies per pass.
const BODIES: usize = 20_000;
/// Passes per stage.
const REPEATS: usize = 7;

/// Nanoseconds per body of each stage.
#[derive(Debug, Clone, Serialize)]
pub struct StageResults {
    /// Bodies per pass.
    pub bodies: usize,
    /// `ingest::parse_envelope`: UTF-8, depth and duplicate-key checks, JSON parse, envelope.
    pub parse_envelope_ns: f64,
    /// `ingest::normalise`: envelope → typed notification.
    pub normalise_ns: f64,
    /// `ingest::outgoing`: the CloudEvent's bytes.
    pub outgoing_ns: f64,
    /// All three.
    pub total_ns: f64,
}

/// Times the stages.
///
/// # Errors
/// When a body is refused (a bug in the benchmark's body).
pub fn run() -> anyhow::Result<StageResults> {
    let bodies: Vec<_> = (0..BODIES).map(notification_body).collect();
    let now = chrono::Utc::now();
    let per_body = |f: &dyn Fn() -> anyhow::Result<()>| -> anyhow::Result<f64> {
        let mut passes = Vec::new();
        for _ in 0..REPEATS {
            let t = Instant::now();
            f()?;
            passes.push(t.elapsed().as_nanos() as f64 / BODIES as f64);
        }
        Ok(median(passes.into_iter()).unwrap_or(0.0))
    };
    let refused = |e: ingest::IngestError| anyhow::anyhow!("the benchmark's body is refused: {e}");
    let parse_envelope_ns = per_body(&|| {
        for b in &bodies {
            std::hint::black_box(ingest::parse_envelope(b).map_err(refused)?);
        }
        Ok(())
    })?;
    let envelopes: Vec<_> = bodies
        .iter()
        .map(|b| ingest::parse_envelope(b).map_err(refused))
        .collect::<Result<_, _>>()?;
    let normalise_ns = per_body(&|| {
        for e in &envelopes {
            std::hint::black_box(ingest::normalise("bench", e.clone()).map_err(refused)?);
        }
        Ok(())
    })?;
    // The clone above is part of the figure: subtract it.
    let clone_ns = per_body(&|| {
        for e in &envelopes {
            std::hint::black_box(e.clone());
        }
        Ok(())
    })?;
    let notifications: Vec<_> = envelopes
        .iter()
        .map(|e| ingest::normalise("bench", e.clone()).map_err(refused))
        .collect::<Result<_, _>>()?;
    let outgoing_ns = per_body(&|| {
        for n in &notifications {
            std::hint::black_box(ingest::outgoing(n, now)?);
        }
        Ok(())
    })?;
    let normalise_ns = (normalise_ns - clone_ns).max(0.0);
    Ok(StageResults {
        bodies: BODIES,
        parse_envelope_ns,
        normalise_ns,
        outgoing_ns,
        total_ns: parse_envelope_ns + normalise_ns + outgoing_ns,
    })
}
