//! vppbridge child processes for the benchmarks: the binary under test runs as its own process
//! (as in production), with its log in a file, killed when dropped. Also reads a process's peak
//! resident memory (`VmHWM` in `/proc/<pid>/status`) and CPU time (`/proc/<pid>/stat`).

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use tokio::process::{Child, Command};

/// A running `vppbridge` subcommand.
#[derive(Debug)]
pub struct VppChild {
    child: Child,
    log: PathBuf,
    what: String,
}

/// The `vppbridge` executable: `$VPPBRIDGE_BIN` when set, else the one built beside this one
/// (`cargo build --release` builds both into the same folder).
///
/// # Errors
/// When neither exists.
pub fn vppbridge_exe() -> anyhow::Result<PathBuf> {
    if let Some(p) = std::env::var_os("VPPBRIDGE_BIN") {
        return Ok(PathBuf::from(p));
    }
    let me = std::env::current_exe().context("cannot find this executable")?;
    let exe = me.with_file_name(format!("vppbridge{}", std::env::consts::EXE_SUFFIX));
    anyhow::ensure!(
        exe.is_file(),
        "{} does not exist: build it first (cargo build --release --bin vppbridge) or set VPPBRIDGE_BIN",
        exe.display()
    );
    Ok(exe)
}

impl VppChild {
    /// Starts the production `vppbridge` executable ([`vppbridge_exe`]) with `args`, logging at
    /// `info` (standard error) into `log`.
    ///
    /// # Errors
    /// When the executable cannot be found or started.
    pub fn spawn(args: &[&str], log: &Path) -> anyhow::Result<Self> {
        Self::spawn_exe(&vppbridge_exe()?, args, log)
    }

    /// Starts `exe` with `args` the same way (the bench's own executable for the bare pipe).
    ///
    /// # Errors
    /// When the executable cannot be started.
    pub fn spawn_exe(exe: &Path, args: &[&str], log: &Path) -> anyhow::Result<Self> {
        let file = std::fs::File::create(log)
            .with_context(|| format!("cannot create the log file {}", log.display()))?;
        let child = Command::new(exe)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(file)
            // The production default, whatever the bench's own level: log lines cost time.
            .env("RUST_LOG", "info")
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("cannot start {} {}", exe.display(), args.join(" ")))?;
        Ok(VppChild {
            child,
            log: log.to_owned(),
            what: format!("vppbridge {}", args.first().copied().unwrap_or_default()),
        })
    }

    /// The child's process id (None once it has been reaped).
    pub fn pid(&self) -> Option<u32> {
        self.child.id()
    }

    /// The child's exit status if it has exited.
    ///
    /// # Errors
    /// When the status cannot be read.
    pub fn try_exit(&mut self) -> anyhow::Result<Option<std::process::ExitStatus>> {
        Ok(self.child.try_wait()?)
    }

    /// Waits for a one-off command to exit.
    ///
    /// # Errors
    /// When it exits unsuccessfully (with the end of its log, see [`Self::failure`]) or its
    /// status cannot be read.
    pub async fn succeed(mut self) -> anyhow::Result<()> {
        let status = self.child.wait().await?;
        anyhow::ensure!(
            status.success(),
            "{}",
            self.failure(&format!("exited with {status}"))
        );
        Ok(())
    }

    /// An error naming the child, its exit and the end of its log.
    pub fn failure(&self, what: &str) -> anyhow::Error {
        anyhow::anyhow!(
            "{} {what}; last lines of its log ({}):\n{}",
            self.what,
            self.log.display(),
            tail(&self.log, 15)
        )
    }

    /// Stops the child with SIGKILL and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}

/// The last `lines` lines of the file at `path` (empty when it cannot be read).
pub fn tail(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// Peak resident set size of process `pid` so far, in bytes (`VmHWM`); None when the process
/// is gone or the platform has no `/proc`.
pub fn peak_rss_bytes(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    parse_vm_hwm(&status)
}

/// CPU time process `pid` has used so far (user + system, all threads), in seconds: `utime` +
/// `stime` of `/proc/<pid>/stat`. None when the process is gone or the platform has no `/proc`.
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_cpu_seconds(&stat)
}

/// Clock ticks per second of `/proc/<pid>/stat` (`USER_HZ`, 100 on every Linux architecture
/// the kernel exports to user space; read without libc's `sysconf`).
const USER_HZ: f64 = 100.0;

fn parse_cpu_seconds(stat: &str) -> Option<f64> {
    // The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Field 3 (state) is fields[0]; utime is field 14, stime field 15.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / USER_HZ)
}

fn parse_vm_hwm(status: &str) -> Option<u64> {
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    // "VmHWM:	   12345 kB"
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// Polls `check` every `every` until it answers `Some`, the child exits, or `timeout` passes.
///
/// # Errors
/// When the child exits first or the deadline passes; the error carries the log's tail.
pub async fn poll_until<T, F, Fut>(
    child: &mut VppChild,
    timeout: Duration,
    every: Duration,
    what: &str,
    mut check: F,
) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        if let Some(v) = check().await {
            return Ok(v);
        }
        if let Some(status) = child.try_exit()? {
            return Err(child.failure(&format!("exited ({status}) before {what}")));
        }
        if tokio::time::Instant::now() >= deadline {
            return Err(child.failure(&format!("did not reach {what} within {timeout:?}")));
        }
        tokio::time::sleep(every).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_hwm_is_read_in_bytes() {
        let status =
            "Name:\tvppbridge\nVmPeak:\t  200000 kB\nVmHWM:\t   51200 kB\nVmRSS:\t 40000 kB\n";
        assert_eq!(parse_vm_hwm(status), Some(51200 * 1024));
        assert_eq!(parse_vm_hwm("Name:\tx\n"), None);
    }

    #[test]
    fn cpu_time_is_utime_plus_stime_in_seconds() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 3 0 100 0";
        assert_eq!(parse_cpu_seconds(stat), Some(3.0));
        assert_eq!(parse_cpu_seconds("42 (x) S 1"), None);
        assert!(cpu_seconds(std::process::id()).is_some());
    }

    #[test]
    fn this_process_has_a_peak_rss() {
        let peak = peak_rss_bytes(std::process::id());
        assert!(peak.is_some_and(|b| b > 0), "{peak:?}");
    }
}
