//! The machine a benchmark ran on: cores, memory and CPU model, read from `/proc` so the
//! results say where they come from.

use serde::Serialize;

/// Where the benchmarks ran.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    /// Cores available to this process.
    pub cores: usize,
    /// Total memory, in GiB.
    pub memory_gib: f64,
    /// The CPU model name (`/proc/cpuinfo`).
    pub cpu: String,
    /// The operating system and architecture.
    pub os: String,
}

impl Machine {
    /// Reads the current machine's description; unknown parts are left empty or zero.
    pub fn current() -> Self {
        let cores = std::thread::available_parallelism().map_or(0, usize::from);
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|t| {
                t.lines()
                    .find(|l| l.starts_with("model name"))
                    .and_then(|l| l.split_once(':'))
                    .map(|(_, v)| v.trim().to_owned())
            })
            .unwrap_or_default();
        let memory_gib = std::fs::read_to_string("/proc/meminfo")
            .ok()
            .and_then(|t| {
                let line = t.lines().find(|l| l.starts_with("MemTotal:"))?;
                let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
                Some(kb / (1024.0 * 1024.0))
            })
            .unwrap_or(0.0);
        Machine {
            cores,
            memory_gib,
            cpu,
            os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        }
    }
}
