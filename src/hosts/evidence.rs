//! Failure evidence: how strongly a row's source, destination, pair, (source, port) or
//! (destination, port) goes unanswered more often than the log as a whole.
//!
//! Scans, sweeps, dead C&C servers and brute force against closed services all leave
//! connections that nobody answers, concentrated on a host or a service; ordinary traffic
//! fails now and then, spread thin. For each grouping level and each group of `n` rows of
//! which `k` went unanswered (`q = k / n`), against the log's rate `p0 = (K + 1) / (N + 2)`
//! (Laplace's rule keeps it strictly inside (0, 1)), the evidence is the one-sided
//! binomial log-likelihood ratio
//!
//! `LLR = n · [q ln(q / p0) + (1 − q) ln((1 − q) / (1 − p0))]` when `q > p0`, else 0,
//!
//! in nats (half the G statistic). By the Chernoff bound a group reaches `LLR ≥ t` by
//! chance with probability about `e^−t`, so `ln G` (G: groups at that level) is taken off,
//! leaving about one chance pass per level (Bonferroni, in log space). A row's evidence is
//! the largest of its groups' that is above 0: no constant is fitted to any log.
//!
//! Every row of a failing group takes its evidence, answered or not: the answered
//! connections of a scanner are the open ports it found.

use super::context::{Context, Groups};
use crate::reasons::{number, percent};

/// The grouping levels, in the order ties are resolved.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    /// The row's source.
    Src,
    /// The row's destination.
    Dst,
    /// Its (source, destination) pair.
    Pair,
    /// Its source and responder port.
    SrcPort,
    /// Its destination and responder port (one service).
    DstPort,
}

/// Per-row failure evidence.
#[derive(Debug, Clone)]
pub struct Evidence {
    /// Nats per row (0 when no group of the row fails significantly).
    pub nats: Vec<f64>,
    /// The level that gave each row its evidence.
    pub level: Vec<Option<Level>>,
    /// The log's unanswered rate `p0`.
    pub base: f64,
    /// Per level (in [`Level`] order): rows and unanswered rows of each group.
    counts: Vec<(Vec<u32>, Vec<u32>)>,
}

/// The one-sided binomial log-likelihood ratio of `k` unanswered among `n` against rate
/// `p0`; 0 unless most of the group went unanswered (`k / n > 1/2`) and more than the
/// log's rate. The majority rule is the effect size: a busy host failing 8% of the time
/// where the log fails 5% is significant over enough connections, but failing is not what
/// it does.
pub fn llr(k: u32, n: u32, p0: f64) -> f64 {
    if n == 0 {
        return 0.0;
    }
    let q = f64::from(k) / f64::from(n);
    if q <= p0 || q <= 0.5 {
        return 0.0;
    }
    let a = if q > 0.0 { q * (q / p0).ln() } else { 0.0 };
    let b = if q < 1.0 {
        (1.0 - q) * ((1.0 - q) / (1.0 - p0)).ln()
    } else {
        0.0
    };
    (f64::from(n) * (a + b)).max(0.0)
}

impl Evidence {
    /// The evidence of every row of `ctx`.
    pub fn of(ctx: &Context) -> Self {
        let n = ctx.len();
        let k: usize = ctx.failed.iter().filter(|&&f| f).count();
        let base = (k as f64 + 1.0) / (n as f64 + 2.0);
        let mut nats = vec![0.0; n];
        let mut level = vec![None; n];
        let levels: [(&Groups, Level); 5] = [
            (&ctx.by_src, Level::Src),
            (&ctx.by_dst, Level::Dst),
            (&ctx.by_pair, Level::Pair),
            (&ctx.by_sport, Level::SrcPort),
            (&ctx.by_dport, Level::DstPort),
        ];
        let mut counts = Vec::with_capacity(levels.len());
        for (g, l) in levels {
            let (rows, failed) = (g.counts(), ctx.failed_per(g));
            let per = group_evidence(&rows, &failed, g.len, base);
            counts.push((rows, failed));
            for (i, &k) in g.of.iter().enumerate() {
                let e = per[k as usize];
                if e > nats[i] {
                    nats[i] = e;
                    level[i] = Some(l);
                }
            }
        }
        Self {
            nats,
            level,
            base,
            counts,
        }
    }

    /// Why row `i` has evidence, in words (`None` without).
    pub fn reason(&self, ctx: &Context, i: usize) -> Option<String> {
        let l = self.level[i]?;
        let (g, what) = match l {
            Level::Src => (
                &ctx.by_src,
                format!("src {}", ctx.addrs[ctx.src[i] as usize]),
            ),
            Level::Dst => (
                &ctx.by_dst,
                format!("dst {}", ctx.addrs[ctx.dst[i] as usize]),
            ),
            Level::Pair => (
                &ctx.by_pair,
                format!(
                    "{} -> {}",
                    ctx.addrs[ctx.src[i] as usize], ctx.addrs[ctx.dst[i] as usize]
                ),
            ),
            Level::SrcPort => (
                &ctx.by_sport,
                format!(
                    "{} to {}",
                    ctx.addrs[ctx.src[i] as usize], ctx.ports[ctx.port[i] as usize]
                ),
            ),
            Level::DstPort => (
                &ctx.by_dport,
                format!(
                    "{} {}",
                    ctx.addrs[ctx.dst[i] as usize], ctx.ports[ctx.port[i] as usize]
                ),
            ),
        };
        let (rows, failed) = &self.counts[l as usize];
        let k = g.of[i] as usize;
        let (n, f) = (rows[k], failed[k]);
        Some(format!(
            "{what}: {f} of {n} unanswered (log {}), {} nats",
            percent(self.base),
            number((self.nats[i] * 10.0).round() / 10.0)
        ))
    }
}

/// Evidence of each group of `g` above chance: LLR − ln G, at least 0.
fn group_evidence(counts: &[u32], failed: &[u32], groups: usize, base: f64) -> Vec<f64> {
    let chance = (groups.max(1) as f64).ln();
    failed
        .iter()
        .zip(counts)
        .map(|(&k, &n)| (llr(k, n, base) - chance).max(0.0))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn llr_in_closed_form() {
        // All of 10 unanswered against a 10% rate: 10 · ln(1 / 0.1).
        assert!((llr(10, 10, 0.1) - 10.0 * 10f64.ln()).abs() < 1e-12);
        // 15 of 20 against 10%: 20 · [0.75 ln 7.5 + 0.25 ln(0.25 / 0.9)].
        let want = 20.0 * (0.75 * 7.5f64.ln() + 0.25 * (0.25f64 / 0.9).ln());
        assert!((llr(15, 20, 0.1) - want).abs() < 1e-12);
        // Half or less unanswered: however many connections, no evidence.
        assert_eq!(llr(10, 20, 0.1), 0.0);
        assert_eq!(llr(800, 10_000, 0.05), 0.0);
        // At or below the log's rate: no evidence; empty groups: none.
        assert_eq!(llr(9, 10, 0.95), 0.0);
        assert_eq!(llr(0, 10, 0.1), 0.0);
        assert_eq!(llr(0, 0, 0.1), 0.0);
    }

    #[test]
    fn evidence_grows_with_group_size() {
        // The same share unanswered is stronger evidence over more connections.
        assert!(llr(40, 50, 0.05) > llr(4, 5, 0.05));
        assert!(llr(4, 5, 0.05) > 0.0);
    }
}
