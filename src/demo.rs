//! The demo log embedded in the binary: one hour of a small office network with injected
//! anomalies (a port scan, a large upload, a beacon, DNS to an odd resolver, SSH brute
//! force). `demo/generate.py` makes it; `demo/README.md` lists the anomalies.

use crate::ingest::{self, IngestError, Log};

/// The demo log's text (Zeek TSV).
pub const DEMO_LOG: &[u8] = include_bytes!("../demo/conn.log");

/// The name the demo log goes by in messages and exports.
pub const DEMO_NAME: &str = "demo/conn.log";

/// Loads the embedded demo log.
pub fn load() -> Result<Log, IngestError> {
    ingest::load_bytes(DEMO_NAME, DEMO_LOG)
}
