//! The tabs, one module each: its state, the keys it handles and how it draws (as
//! gitui's components). [`crate::tui::app`] keeps what they share (the log, the results,
//! the job, the filter) and hands each key to the tab shown.

pub mod anomalies;
pub mod clusters;
pub mod histograms;
pub mod hosts;
pub mod overview;
pub mod scatter;
pub mod timestrip;
