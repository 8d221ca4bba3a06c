//! This process's memory, as the kernel counts it (Linux `/proc/self/status`), for the
//! UI's header: an operator on a shared sensor box needs to see what zsift holds.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Resident memory now and at its peak, in bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Memory {
    /// Resident set size (`VmRSS`).
    pub resident: u64,
    /// Peak resident set size (`VmHWM`).
    pub peak: u64,
}

/// How long a reading is reused (the header is drawn up to ten times a second).
const FRESH: Duration = Duration::from_millis(500);

static LAST: Mutex<Option<(Instant, Memory)>> = Mutex::new(None);

/// The process's memory; `None` where `/proc` is not available. Readings are cached for
/// half a second.
pub fn now() -> Option<Memory> {
    let mut last = LAST.lock().ok()?;
    if let Some((t, m)) = *last {
        if t.elapsed() < FRESH {
            return Some(m);
        }
    }
    let m = read()?;
    *last = Some((Instant::now(), m));
    Some(m)
}

fn read() -> Option<Memory> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let kb = |key: &str| -> Option<u64> {
        s.lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse::<u64>()
            .ok()
            .map(|v| v * 1024)
    };
    Some(Memory {
        resident: kb("VmRSS:")?,
        peak: kb("VmHWM:")?,
    })
}

/// When the last stage ended (the first one's start: [`trace_start`]).
static STAGE_START: std::sync::Mutex<Option<std::time::Instant>> = std::sync::Mutex::new(None);
/// The process's processor seconds when the current stage started.
static STAGE_CPU: std::sync::Mutex<f64> = std::sync::Mutex::new(0.0);

/// Seconds of processor time the process has used, in user and system mode, over all its
/// threads (0 where unknown).
fn cpu_seconds() -> f64 {
    #[cfg(unix)]
    {
        // SAFETY: getrusage writes one rusage into the zeroed struct it is given.
        let mut u: libc::rusage = unsafe { std::mem::zeroed() };
        if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) } == 0 {
            let t = |v: libc::timeval| v.tv_sec as f64 + v.tv_usec as f64 / 1e6;
            return t(u.ru_utime) + t(u.ru_stime);
        }
    }
    0.0
}

/// Whether `ZSIFT_MEMORY_TRACE` is set.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("ZSIFT_MEMORY_TRACE").is_some())
}

/// Marks the start of the first stage [`trace`] times (the program's start).
pub fn trace_start() {
    if tracing() {
        *STAGE_START.lock().unwrap_or_else(|e| e.into_inner()) = Some(std::time::Instant::now());
        *STAGE_CPU.lock().unwrap_or_else(|e| e.into_inner()) = cpu_seconds();
    }
}

/// With `ZSIFT_MEMORY_TRACE` set, writes to standard error the resident memory at the end
/// of `stage`, its peak since the previous stage (the kernel's mark is reset each time)
/// and the seconds it took (and the processor seconds, over all threads: twice the
/// seconds on two busy cores), to find which stage holds or builds what, how long it
/// takes and whether it keeps the cores busy: `load`, `context`, `features`,
/// `detectors`... Nothing otherwise.
pub fn trace(stage: &str) {
    if !tracing() {
        return;
    }
    let now = std::time::Instant::now();
    let since = STAGE_START
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .replace(now)
        .map_or(String::new(), |t| {
            let cpu = cpu_seconds();
            let before = std::mem::replace(
                &mut *STAGE_CPU.lock().unwrap_or_else(|e| e.into_inner()),
                cpu,
            );
            format!(
                ", {:.2} s (processor {:.2} s)",
                (now - t).as_secs_f64(),
                cpu - before
            )
        });
    if let Some(m) = read() {
        eprintln!(
            "zsift: memory after {stage}: resident {} MB, peak during it {} MB{since}",
            m.resident >> 20,
            m.peak >> 20
        );
    }
    // Writing 5 resets the peak mark (VmHWM) to the resident size now.
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Blocks from this size up are mapped on their own ([`return_large_blocks`]): twice
/// glibc's first threshold. Below it are a row's or a block's small vectors, reused at
/// once; above it columns, blocks of rows and score vectors, which one stage frees and the
/// next seldom asks for again at the same size.
const OWN_MAPPING_FROM: usize = 256 * 1024;

/// Has large blocks mapped on their own and unmapped when freed, rather than carved from
/// glibc's arenas, where freed memory stays resident (glibc raises its threshold up to
/// 32 MiB as large blocks are freed, so after the first stage most blocks stay in the
/// arenas). For a run whose peak memory matters more than a few percent of its time
/// (`zsift score`: at 1M rows, a peak about a tenth lower for about a tenth more time;
/// the terminal UI, which holds its analysis while it is shown).
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets a parameter of the allocator, before or between
    // allocations; a value it refuses leaves the default.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, OWN_MAPPING_FROM as libc::c_int);
    }
}

/// Hands memory that was freed back to the system (glibc keeps freed blocks in its
/// arenas, where they count as resident): called after each stage that builds and drops
/// large temporaries, so that the memory shown and held is what zsift uses.
pub fn release() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only walks the allocator's own free lists.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// Bytes as a short human figure: `812 MB`, `1.4 GB`.
pub fn human(bytes: u64) -> String {
    let mb = bytes as f64 / 1e6;
    if mb < 1000.0 {
        format!("{mb:.0} MB")
    } else {
        format!("{:.1} GB", mb / 1000.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_this_process_and_sees_an_allocation() {
        let before = read().expect("/proc/self/status");
        assert!(before.resident > 0 && before.peak >= before.resident);
        // Touch 64 MB so that it is resident.
        let v = std::hint::black_box(vec![1u8; 64 << 20]);
        let after = read().unwrap();
        // Other tests of this process allocate and free meanwhile, and may have set the
        // peak already: what must hold is that the 64 MB are seen while held.
        assert!(
            after.resident >= 60 << 20 && after.peak >= after.resident,
            "{before:?} {after:?}"
        );
        drop(v);
    }

    #[test]
    fn human_figures() {
        assert_eq!(human(812_000_000), "812 MB");
        assert_eq!(human(1_400_000_000), "1.4 GB");
    }
}
