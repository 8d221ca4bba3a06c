//! Faults on demand, for the tests that check the terminal is restored however the UI
//! ends and that a failed export replaces no file. Compiled only with the
//! `fault-injection` feature, which is for tests and never part of a shipped build.
//!
//! `ZSIFT_FAULT=panic` makes the UI thread panic after it drew its first frame;
//! `ZSIFT_FAULT=abort` makes the UI's process abort there (as a failed allocation does);
//! `ZSIFT_FAULT=panic-worker` makes the worker thread panic as it starts a job (the UI
//! shows it as the job's error and stays up); `ZSIFT_FAULT=export-clusters` makes an
//! export fail as it writes `clusters.txt` (after `clusters.json`, while the tables are
//! being written).

/// Whether the fault `name` is asked for in `ZSIFT_FAULT`.
pub fn wanted(name: &str) -> bool {
    std::env::var("ZSIFT_FAULT").is_ok_and(|v| v == name)
}
