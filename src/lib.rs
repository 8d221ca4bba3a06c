//! zsift: find anomalous network connections in Zeek logs.
//!
//! The pipeline runs one way: [`ingest`] → filter → features → [`detect`] → embed /
//! cluster → export. The TUI and the CLI only call into it.

pub mod cancel;
pub mod detect;
