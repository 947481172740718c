//! Linux `/proc` readings: a process's memory high-water mark, CPU time per process and per
//! thread name, machine-wide busy/idle/iowait time, and the filesystem under a path.
//!
//! They are the evidence for "who is CPU-bound": the bench samples them around each load run.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::BoxError;
use crate::client::LoadResult;

/// Clock ticks per second of `/proc`'s CPU times (`USER_HZ`, 100 on every common Linux build;
/// querying it needs `sysconf`, i.e. libc, which this crate does not use).
const TICKS_PER_SEC: f64 = 100.0;

/// Resident memory of a process, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Memory {
    /// `VmHWM`: the peak resident set size, in KiB.
    pub(crate) peak_kib: u64,
    /// `VmRSS`: the current resident set size, in KiB.
    pub(crate) current_kib: u64,
}

/// Reads `VmHWM` and `VmRSS` of `pid`.
pub(crate) fn memory(pid: u32) -> io::Result<Memory> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let field = |name: &str| -> io::Result<u64> {
        status
            .lines()
            .find_map(|line| line.strip_prefix(name))
            .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
            .ok_or_else(|| io::Error::other(format!("no {name} in /proc/{pid}/status")))
    };
    Ok(Memory {
        peak_kib: field("VmHWM:")?,
        current_kib: field("VmRSS:")?,
    })
}

/// The name and user+system ticks of one `/proc/.../stat` line.
fn parse_stat(text: &str) -> Option<(String, u64)> {
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_owned();
    // After the name: state is field 3, utime field 14, stime field 15.
    let fields: Vec<&str> = text[close + 1..].split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((name, utime + stime))
}

/// The CPU time the calling thread has used (user and system), to the tick (10 ms).
pub(crate) fn thread_cpu() -> io::Result<Duration> {
    let stat = std::fs::read_to_string("/proc/thread-self/stat")?;
    let (_, ticks) = parse_stat(&stat).ok_or_else(|| io::Error::other("bad /proc stat"))?;
    Ok(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SEC))
}

/// The CPU time used so far by every process named `name` (`comm`), summed: PostgreSQL's
/// server processes for the scale-out report. Processes that ended in between are missed.
pub(crate) fn named_cpu(name: &str) -> io::Result<Duration> {
    let mut ticks = 0;
    for entry in std::fs::read_dir("/proc")? {
        let Ok(entry) = entry else { continue };
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((comm, used)) = parse_stat(&text) {
            if comm == name {
                ticks += used;
            }
        }
    }
    Ok(Duration::from_secs_f64(ticks as f64 / TICKS_PER_SEC))
}

/// CPU ticks of a process, in total and summed per thread name, at one instant.
#[derive(Clone, Debug)]
pub(crate) struct CpuSnapshot {
    at: Instant,
    total: u64,
    threads: BTreeMap<String, (u64, usize)>,
}

/// Samples the CPU time of `pid` and of each of its threads.
pub(crate) fn cpu(pid: u32) -> io::Result<CpuSnapshot> {
    let at = Instant::now();
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let (_, total) = parse_stat(&stat).ok_or_else(|| io::Error::other("bad /proc stat"))?;
    let mut threads = BTreeMap::new();
    for entry in std::fs::read_dir(format!("/proc/{pid}/task"))? {
        let Ok(entry) = entry else { continue };
        // A thread may exit between listing and reading; it is then left out.
        let Ok(text) = std::fs::read_to_string(entry.path().join("stat")) else {
            continue;
        };
        if let Some((name, ticks)) = parse_stat(&text) {
            let slot: &mut (u64, usize) = threads.entry(name).or_default();
            slot.0 += ticks;
            slot.1 += 1;
        }
    }
    Ok(CpuSnapshot { at, total, threads })
}

/// CPU used between two snapshots, in cores (1.0 = one core busy the whole time).
#[derive(Clone, Debug)]
pub(crate) struct CpuUsage {
    /// The whole process.
    pub(crate) cores: f64,
    /// Per thread name (`comm`, 15 characters at most), busiest first: cores and thread count.
    pub(crate) threads: Vec<(String, f64, usize)>,
}

/// The CPU used from `before` to `after`. Threads born in between count from zero.
pub(crate) fn usage(before: &CpuSnapshot, after: &CpuSnapshot) -> CpuUsage {
    let wall = (after.at - before.at).as_secs_f64().max(1e-9);
    let cores = |ticks: u64| ticks as f64 / TICKS_PER_SEC / wall;
    let mut threads: Vec<(String, f64, usize)> = after
        .threads
        .iter()
        .map(|(name, (ticks, count))| {
            let old = before.threads.get(name).map_or(0, |t| t.0);
            (name.clone(), cores(ticks.saturating_sub(old)), *count)
        })
        .filter(|(_, used, _)| *used > 0.0)
        .collect();
    threads.sort_by(|a, b| b.1.total_cmp(&a.1));
    CpuUsage {
        cores: cores(after.total.saturating_sub(before.total)),
        threads,
    }
}

/// Machine-wide CPU ticks from the first line of `/proc/stat`.
#[derive(Clone, Copy, Debug)]
pub(crate) struct MachineSnapshot {
    busy: u64,
    idle: u64,
    iowait: u64,
}

/// Samples `/proc/stat`.
pub(crate) fn machine() -> io::Result<MachineSnapshot> {
    let stat = std::fs::read_to_string("/proc/stat")?;
    let line = stat.lines().next().unwrap_or_default();
    let values: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|v| v.parse().ok())
        .collect();
    // user nice system idle iowait irq softirq steal ...
    let get = |i: usize| values.get(i).copied().unwrap_or(0);
    let idle = get(3);
    let iowait = get(4);
    let all: u64 = values.iter().take(8).sum();
    Ok(MachineSnapshot {
        busy: all.saturating_sub(idle + iowait),
        idle,
        iowait,
    })
}

/// Machine-wide shares of time between two samples: busy, idle, waiting for I/O (0..1 each).
pub(crate) fn machine_usage(before: MachineSnapshot, after: MachineSnapshot) -> (f64, f64, f64) {
    let busy = after.busy.saturating_sub(before.busy) as f64;
    let idle = after.idle.saturating_sub(before.idle) as f64;
    let iowait = after.iowait.saturating_sub(before.iowait) as f64;
    let all = (busy + idle + iowait).max(1.0);
    (busy / all, idle / all, iowait / all)
}

/// CPU samples of the client, the server and the machine around one phase.
#[derive(Clone, Debug)]
pub(crate) struct PhaseSampler {
    client: CpuSnapshot,
    server: CpuSnapshot,
    machine: MachineSnapshot,
    started: Instant,
    server_pid: u32,
}

/// What [`PhaseSampler::finish`] measured.
#[derive(Clone, Debug)]
pub(crate) struct PhaseCpu {
    /// The bench process (load generator).
    pub(crate) client: CpuUsage,
    /// The server process.
    pub(crate) server: CpuUsage,
    /// Machine-wide busy, idle and iowait shares.
    pub(crate) machine: (f64, f64, f64),
    /// The phase's wall time.
    pub(crate) wall: Duration,
}

impl PhaseCpu {
    /// The server's CPU time (all its threads) per request answered 200 in `result`.
    pub(crate) fn per_request(&self, result: &LoadResult) -> Result<Duration, BoxError> {
        Ok(self.wall.mul_f64(self.server.cores) / u32::try_from(result.ok.max(1))?)
    }
}

impl PhaseSampler {
    /// Samples now.
    pub(crate) fn start(server_pid: u32) -> io::Result<Self> {
        Ok(Self {
            client: cpu(std::process::id())?,
            server: cpu(server_pid)?,
            machine: machine()?,
            started: Instant::now(),
            server_pid,
        })
    }

    /// Samples again and returns the differences.
    pub(crate) fn finish(&self) -> io::Result<PhaseCpu> {
        Ok(PhaseCpu {
            client: usage(&self.client, &cpu(std::process::id())?),
            server: usage(&self.server, &cpu(self.server_pid)?),
            machine: machine_usage(self.machine, machine()?),
            wall: self.started.elapsed(),
        })
    }
}

/// The filesystem type and mount point under `path` (longest matching mount in `/proc/mounts`).
pub(crate) fn filesystem(path: &Path) -> Option<(String, String)> {
    let mounts = std::fs::read_to_string("/proc/mounts").ok()?;
    let path = path.canonicalize().ok()?;
    mounts
        .lines()
        .filter_map(|line| {
            let mut parts = line.split_whitespace();
            let _device = parts.next()?;
            let mount = parts.next()?;
            let kind = parts.next()?;
            path.starts_with(mount)
                .then(|| (mount.to_owned(), kind.to_owned()))
        })
        .max_by_key(|(mount, _)| mount.len())
        .map(|(mount, kind)| (kind, mount))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_lines_parse_even_with_spaces_in_the_name() {
        let line = "42 (tokio runtime) S 1 2 3 4 5 6 7 8 9 10 250 30 0 0 20 0";
        assert_eq!(parse_stat(line), Some(("tokio runtime".to_owned(), 280)));
    }

    #[test]
    fn this_process_is_readable() {
        let me = std::process::id();
        assert!(memory(me).unwrap().peak_kib > 0);
        assert!(!cpu(me).unwrap().threads.is_empty());
        assert!(filesystem(Path::new("/")).is_some());
        let start = thread_cpu().unwrap();
        let mut spin = 0u64;
        while thread_cpu().unwrap() - start < Duration::from_millis(20) {
            spin = std::hint::black_box(spin + 1);
        }
    }
}
