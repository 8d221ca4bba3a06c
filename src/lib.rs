//! zsift: find anomalous network connections in Zeek logs.
//!
//! The pipeline runs one way: [`ingest`] → filter → features → [`detect`] → [`embed`] /
//! [`cluster`] → export, with [`hosts`] beside the detectors (what each row's hosts and
//! pairs do: context features, behaviour scores, failure evidence, host rankings). The
//! terminal UI and the command line ([`cli`]) only call into it.

#[macro_use]
mod wide;

pub mod cancel;
pub mod cli;
pub mod cluster;
pub mod demo;
pub mod detect;
pub mod embed;
pub mod eval;
pub mod export;
#[cfg(feature = "fault-injection")]
pub mod fault;
pub mod features;
pub mod filter;
pub mod hosts;
pub mod ingest;
pub mod live;
pub mod memory;
pub mod modelfile;
mod neighbors;
pub mod pipeline;
pub mod protocol;
pub mod query;
pub mod reasons;
pub mod rows;
pub mod sanitize;
pub mod summary;
pub mod tui;
