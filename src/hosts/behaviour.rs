//! Behaviour scores: what attacks look like as a host's or a pair's connections.
//!
//! Each score is a pure function of a few numbers or series, in `[0, 1]`, with the words an
//! operator reads. The thresholds are the ones the field's tools use, not fitted to any
//! log:
//! - **scan**: Zeek's `scan.zeek` policy reports an address scan at 25 distinct hosts and a
//!   port scan at 15 distinct ports; a scan reaches full score there, scaled by the share
//!   of the touched hosts (or ports) that never answered.
//! - **beacon**: RITA's published method (Active Countermeasures): regular intervals
//!   (Bowley skewness near 0, small median absolute deviation), connections spread over the
//!   whole span, and similar sizes. Our dispersion is relative to the median (a jitter of a
//!   second means little for an hourly beacon and much for a 2-second one), a steady rhythm
//!   is required (see [`beacon`]), and a beacon needs at least [`MIN_BEACON`] connections
//!   at least [`MIN_PERIOD`] apart.
//! - **long connection**: an hour, where RITA starts reporting long connections.
//! - **exfiltration**: the producer–consumer ratio `(out − in) / (out + in)` (Bhattacharya's
//!   PCR), weighed by how much left, from 10 kB (an ordinary request) to 100 MB (full).
//! - **brute force**: Zeek's SSH policy reports 30 failed guesses within 30 minutes; here 30
//!   short TCP sessions to one service (each guess a new session), at ten a minute for a
//!   full score.
//! - **DNS tunnel** (dns logs): data carried in query names needs a new name per message
//!   under one domain the tunnel's owner runs (iodine, dnscat2), each name tens of encoded
//!   characters long. RITA ranks domains by their distinct subdomains; here one client's
//!   distinct names under one registered domain, from [`TUNNEL_NAMES_FROM`] (a site's own
//!   handful of hosts and CDN shards) to [`TUNNEL_NAMES`] for a full score, weighed by how
//!   long their labels under the domain are ([`TUNNEL_LEN_FROM`] to [`TUNNEL_LEN`]
//!   characters).
//! - **DGA** (dns logs): malware that generates domain names tries many before one
//!   resolves, so its client gets NXDOMAIN for many random-looking names. Here the distinct
//!   names answered NXDOMAIN to one client, from [`DGA_NAMES_FROM`] (a mistyped name, a
//!   search-domain suffix retried) to [`DGA_NAMES`], weighed by their mean entropy (from
//!   [`DGA_ENTROPY_FROM`] to [`DGA_ENTROPY`] bits per character).

use crate::reasons::{number, percent};

/// A behaviour score and its explanation.
#[derive(Debug, Clone, PartialEq)]
pub struct Score {
    /// In `[0, 1]`; 0 when the behaviour is absent or cannot be judged.
    pub value: f64,
    /// Plain words (empty when the value is below [`WORDS_MIN`]).
    pub reason: String,
}

impl Score {
    /// No such behaviour.
    pub fn none() -> Self {
        Self {
            value: 0.0,
            reason: String::new(),
        }
    }

    /// A score; its words are only made from [`WORDS_MIN`] up (nothing shows them below,
    /// and a scan of the internet has a million pairs to score).
    fn new(value: f64, reason: impl FnOnce() -> String) -> Self {
        let value = if value.is_finite() {
            value.clamp(0.0, 1.0)
        } else {
            0.0
        };
        let reason = if value >= WORDS_MIN {
            reason()
        } else {
            String::new()
        };
        Self { value, reason }
    }
}

/// Scores from which a behaviour is put in words: half way to a full score (half of
/// Zeek's scan thresholds, half an hour, half of the brute-force pace).
pub const WORDS_MIN: f64 = 0.5;

/// The behaviours, in display order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Behaviour {
    /// Many hosts or ports touched, few answering.
    Scan,
    /// Regular calls to one destination.
    Beacon,
    /// Connections lasting hours.
    Long,
    /// Far more bytes out than in.
    Exfil,
    /// Many short sessions to one service.
    Brute,
    /// Many long, distinct query names under one domain (dns logs).
    Tunnel,
    /// Many random-looking names that do not exist (dns logs).
    Dga,
}

impl Behaviour {
    /// Every behaviour, in display order.
    pub const ALL: [Behaviour; 7] = [
        Behaviour::Scan,
        Behaviour::Beacon,
        Behaviour::Long,
        Behaviour::Exfil,
        Behaviour::Brute,
        Behaviour::Tunnel,
        Behaviour::Dga,
    ];

    /// Its name in four letters, for narrow columns.
    pub fn short(self) -> &'static str {
        match self {
            Behaviour::Scan => "scan",
            Behaviour::Beacon => "beac",
            Behaviour::Long => "long",
            Behaviour::Exfil => "exfl",
            Behaviour::Brute => "brut",
            Behaviour::Tunnel => "tunl",
            Behaviour::Dga => "dga",
        }
    }

    /// Its name in output and queries.
    pub fn name(self) -> &'static str {
        match self {
            Behaviour::Scan => "scan",
            Behaviour::Beacon => "beacon",
            Behaviour::Long => "long",
            Behaviour::Exfil => "exfil",
            Behaviour::Brute => "brute",
            Behaviour::Tunnel => "tunnel",
            Behaviour::Dga => "dga",
        }
    }
}

/// Distinct hosts at which a source's probes of one port make an address scan (Zeek's
/// `Scan::addr_scan_threshold`).
pub const SCAN_HOSTS: f64 = 25.0;
/// Distinct ports at which probes of one host make a port scan (Zeek's
/// `Scan::port_scan_threshold`).
pub const SCAN_PORTS: f64 = 15.0;
/// Fewest connections of a pair to judge it a beacon: quartiles of fewer than five
/// intervals are not estimates.
pub const MIN_BEACON: usize = 6;
/// Shortest median interval of a beacon, in seconds: repeats within a second are machine
/// bursts (a scan's probes, a page's parallel requests), while C&C frameworks call home
/// every few seconds to hours.
pub const MIN_PERIOD: f64 = 1.0;
/// Seconds from which a connection is long (RITA's threshold).
pub const LONG_SECS: f64 = 3600.0;
/// Short sessions to one service that make brute force (Zeek's SSH guessing limit).
pub const BRUTE_SESSIONS: f64 = 30.0;
/// Short sessions a minute at which brute force scores full: faster than a person
/// retyping a password, slower than any guessing tool's default pace.
pub const BRUTE_RATE: f64 = 10.0;
/// Bytes (both ways) under which an answered session is short: a login exchange (SSH,
/// RDP, HTTP authentication) fits in a few kilobytes.
pub const SHORT_BYTES: f64 = 10_000.0;

/// Distinct names under one domain from which one client's queries may be a tunnel: a
/// site's own hosts and a CDN's shards seldom pass ten for one client.
pub const TUNNEL_NAMES_FROM: f64 = 10.0;
/// Distinct names under one domain at which a tunnel scores full: a few kilobytes moved
/// at a few dozen bytes a name.
pub const TUNNEL_NAMES: f64 = 200.0;
/// Characters of a name's labels under its domain from which it may carry data (`www`,
/// `mail`, `cdn-3` do not).
pub const TUNNEL_LEN_FROM: f64 = 10.0;
/// Characters at which a name surely carries data (encoders fill labels of up to 63).
pub const TUNNEL_LEN: f64 = 30.0;
/// Distinct NXDOMAIN names of one client from which it may run a DGA.
pub const DGA_NAMES_FROM: f64 = 5.0;
/// Distinct NXDOMAIN names at which a DGA scores full (generators try hundreds a day).
pub const DGA_NAMES: f64 = 50.0;
/// Bits per character below which names read as words: English words and brand names
/// of under a dozen letters sit under 3.
pub const DGA_ENTROPY_FROM: f64 = 2.5;
/// Bits per character at which names are random: a dozen random letters and digits
/// average about 3.3, more with length.
pub const DGA_ENTROPY: f64 = 3.3;

fn ramp(x: f64, full: f64) -> f64 {
    (x / full).clamp(0.0, 1.0)
}

/// 0 at `from`, 1 at `full`, linear between.
fn ramp_from(x: f64, from: f64, full: f64) -> f64 {
    ((x - from) / (full - from)).clamp(0.0, 1.0)
}

/// 0 at `from`, 1 at `full`, linear in the logarithm between (counts over orders of
/// magnitude).
fn log_ramp(x: f64, from: f64, full: f64) -> f64 {
    if x <= from {
        return 0.0;
    }
    ((x / from).ln() / (full / from).ln()).clamp(0.0, 1.0)
}

/// A name from a log (attacker's text) for a reason: neutralised, and cut after 60
/// characters (a tunnel's names run to 253).
fn name_text(name: &str) -> String {
    let clean = crate::sanitize::sanitize(name);
    match clean.char_indices().nth(60) {
        Some((at, _)) => format!("{}…", &clean[..at]),
        None => clean.into_owned(),
    }
}

/// A DNS tunnel: one client asked `names` distinct names under `domain`, their labels
/// under it `mean_len` characters long on average (over the names).
pub fn tunnel(domain: &str, names: usize, mean_len: f64) -> Score {
    let v = log_ramp(names as f64, TUNNEL_NAMES_FROM, TUNNEL_NAMES)
        * ramp_from(mean_len, TUNNEL_LEN_FROM, TUNNEL_LEN);
    Score::new(v, || {
        format!(
            "{names} distinct names under {}, {} characters each",
            name_text(domain),
            number(mean_len)
        )
    })
}

/// A domain generation algorithm: `names` distinct names asked by one client did not
/// exist, with `mean_entropy` bits per character on average (names with a chosen part
/// only: a failed reverse lookup says nothing of generated names).
pub fn dga(names: usize, mean_entropy: f64, example: &str) -> Score {
    let v = log_ramp(names as f64, DGA_NAMES_FROM, DGA_NAMES)
        * ramp_from(mean_entropy, DGA_ENTROPY_FROM, DGA_ENTROPY);
    Score::new(v, || {
        format!(
            "{names} names that do not exist ({} bits/char), such as {}",
            number(mean_entropy),
            name_text(example)
        )
    })
}

/// An address scan by one source on one port: `unanswered` of the `hosts` it reached there
/// never answered.
pub fn scan_hosts(port: &str, unanswered: usize, hosts: usize) -> Score {
    if hosts == 0 || unanswered == 0 {
        return Score::none();
    }
    let share = unanswered as f64 / hosts as f64;
    Score::new(ramp(unanswered as f64, SCAN_HOSTS) * share, || {
        format!("{port} on {hosts} hosts, {} unanswered", percent(share))
    })
}

/// A port scan of one host: `unanswered` of the `ports` reached on it never answered;
/// `sources` probed them (one for a scan by one source, many for a distributed one).
pub fn scan_ports(host: &str, unanswered: usize, ports: usize, sources: usize) -> Score {
    if ports == 0 || unanswered == 0 {
        return Score::none();
    }
    let share = unanswered as f64 / ports as f64;
    Score::new(ramp(unanswered as f64, SCAN_PORTS) * share, || {
        let by = if sources > 1 {
            format!(" by {sources} sources")
        } else {
            String::new()
        };
        format!("{ports} ports on {host}{by}, {} unanswered", percent(share))
    })
}

/// A sweep by one source over any mix of hosts and ports: `unanswered` of the `services`
/// (host and port) it reached never answered. Zeek's address-scan threshold, counted in
/// services rather than hosts of one port.
pub fn scan_services(unanswered: usize, services: usize) -> Score {
    if services == 0 || unanswered == 0 {
        return Score::none();
    }
    let share = unanswered as f64 / services as f64;
    Score::new(ramp(unanswered as f64, SCAN_HOSTS) * share, || {
        format!(
            "{services} host:port services, {} unanswered",
            percent(share)
        )
    })
}

/// Quartiles of sorted values (linear interpolation).
fn quartiles(sorted: &[f64]) -> (f64, f64, f64) {
    let q = |p| crate::features::quantile_sorted(sorted, p);
    (q(0.25), q(0.5), q(0.75))
}

/// Median absolute deviation of sorted values around their median.
fn mad(sorted: &[f64], median: f64) -> f64 {
    let mut d: Vec<f64> = sorted.iter().map(|v| (v - median).abs()).collect();
    d.sort_by(f64::total_cmp);
    crate::features::quantile_sorted(&d, 0.5)
}

/// 1 − |Bowley skewness| of sorted values: 1 for a symmetric spread (or none).
fn symmetry(sorted: &[f64]) -> f64 {
    let (q1, q2, q3) = quartiles(sorted);
    if q3 - q1 <= 0.0 {
        return 1.0;
    }
    1.0 - ((q3 + q1 - 2.0 * q2) / (q3 - q1)).abs().min(1.0)
}

/// 1 − MAD / median of sorted values, in `[0, 1]`: 1 when all are the same.
fn steadiness(sorted: &[f64]) -> f64 {
    let median = crate::features::quantile_sorted(sorted, 0.5);
    let m = mad(sorted, median);
    if m == 0.0 {
        return 1.0;
    }
    if median <= 0.0 {
        return 0.0;
    }
    1.0 - (m / median).min(1.0)
}

/// Beacon score of a pair from its connections' start times and sizes (bytes both ways),
/// in any order; unset times (NaN) are left out.
///
/// From the intervals between consecutive starts: steadiness (1 − MAD/median), symmetry
/// (1 − |Bowley skew|) and coverage ((n − 1) · median / span: near 1 when the calls fill
/// the span, small for bursts); from the sizes: the mean of their symmetry and steadiness.
/// The raw score is the interval steadiness times the mean of the other three: RITA's
/// ingredients, but a steady rhythm is required, since symmetry, coverage and similar sizes
/// are common in random traffic too (many Poisson arrivals of equal sizes score about 0.25
/// raw, against about 0.7 in RITA's plain mean). The score is the raw score above what
/// random arrivals of as many connections reach by chance ([`beacon_chance`]), rescaled to
/// `[0, 1]`: a perfect beacon scores 1 however few its calls. Fewer than [`MIN_BEACON`]
/// timed connections, or a median interval under [`MIN_PERIOD`], score 0.
pub fn beacon(ts: &[f64], sizes: &[f64]) -> Score {
    let mut t: Vec<f64> = ts.iter().copied().filter(|v| v.is_finite()).collect();
    if t.len() < MIN_BEACON {
        return Score::none();
    }
    t.sort_by(f64::total_cmp);
    let mut gaps: Vec<f64> = t.windows(2).map(|w| w[1] - w[0]).collect();
    gaps.sort_by(f64::total_cmp);
    let (_, median, _) = quartiles(&gaps);
    let span = t[t.len() - 1] - t[0];
    if median < MIN_PERIOD || span <= 0.0 {
        return Score::none();
    }
    let coverage = ((gaps.len() as f64 * median) / span).min(1.0);
    let mut s: Vec<f64> = sizes.iter().copied().filter(|v| v.is_finite()).collect();
    s.sort_by(f64::total_cmp);
    let size = if s.is_empty() {
        0.0
    } else {
        (symmetry(&s) + steadiness(&s)) / 2.0
    };
    let jitter = mad(&gaps, median);
    let raw = steadiness(&gaps) * (symmetry(&gaps) + coverage + size) / 3.0;
    let chance = beacon_chance(gaps.len());
    Score::new((raw - chance) / (1.0 - chance), || {
        format!(
            "every {} ± {}, {} times",
            seconds(median),
            seconds(jitter),
            t.len()
        )
    })
}

/// The raw beacon score that random arrivals of `intervals` + 1 connections of equal
/// sizes (the worst case) reach once in a hundred pairs, from above: `0.35 + 1.1 /
/// √intervals` gives 0.84, 0.72, 0.60, 0.51, 0.46 and 0.41 at 5, 9, 19, 49, 99 and 299
/// intervals, where simulated Poisson and uniform arrivals reach 0.82, 0.72, 0.60, 0.48,
/// 0.42 and 0.34. The score counts from there: a few calls that happen to line up are no
/// beacon.
pub fn beacon_chance(intervals: usize) -> f64 {
    (0.35 + 1.1 / (intervals.max(1) as f64).sqrt()).min(0.99)
}

/// A duration for text: `0.4 s`, `60.0 s`, `12 min`, `2.3 h`, `3.1 d`.
pub fn seconds(s: f64) -> String {
    if s < 100.0 {
        format!("{s:.1} s")
    } else if s < 6000.0 {
        format!("{:.0} min", s / 60.0)
    } else if s < 172_800.0 {
        format!("{:.1} h", s / 3600.0)
    } else if s < 8.64e10 {
        format!("{:.1} d", s / 86_400.0)
    } else {
        // Over a million days: only a hostile or broken log says so.
        format!("{} d", crate::reasons::number((s / 86_400.0).min(f64::MAX)))
    }
}

/// The long-connection score of a connection of `seconds` (without its words).
pub fn long_value(seconds: f64) -> f64 {
    if seconds.is_nan() {
        0.0
    } else {
        ramp(seconds, LONG_SECS)
    }
}

/// Long connection: the longest of a pair's connections, and all of them together.
pub fn long(longest: f64, total: f64, conns: usize) -> Score {
    if longest.is_nan() || longest <= 0.0 {
        return Score::none();
    }
    Score::new(long_value(longest), || {
        let all = if conns > 1 {
            format!(" ({conns} connections, {} in all)", seconds(total))
        } else {
            String::new()
        };
        format!("longest {}{all}", seconds(longest))
    })
}

/// A byte count for text: `512 B`, `41 kB`, `3.2 MB`, `1.5 GB`.
pub fn bytes(b: f64) -> String {
    if b < 1e3 {
        format!("{b:.0} B")
    } else if b < 1e6 {
        format!("{:.0} kB", b / 1e3)
    } else if b < 1e9 {
        format!("{:.1} MB", b / 1e6)
    } else if b < 1e15 {
        format!("{:.1} GB", b / 1e9)
    } else {
        format!("{} GB", crate::reasons::number((b / 1e9).min(f64::MAX)))
    }
}

/// Exfiltration: `out` bytes sent against `inb` received, over all of a pair's
/// connections. PCR × size weight (log scale, 10 kB → 0, 100 MB → 1).
pub fn exfil(out: f64, inb: f64) -> Score {
    if out.is_nan() || out <= 0.0 {
        return Score::none();
    }
    let inb = inb.max(0.0);
    let pcr = (out - inb) / (out + inb);
    let weight = ((out / 1e4).log10() / 4.0).clamp(0.0, 1.0);
    Score::new(pcr.max(0.0) * weight, || {
        format!("sent {}, received {}", bytes(out), bytes(inb))
    })
}

/// Brute force against one service: `short` of its `sessions` were answered and short
/// (under [`SHORT_BYTES`] both ways), over `span` seconds.
pub fn brute(service: &str, short: usize, sessions: usize, span: f64) -> Score {
    if short == 0 || sessions == 0 {
        return Score::none();
    }
    let share = short as f64 / sessions as f64;
    let per_min = short as f64 / (span.max(0.0) / 60.0).max(1.0);
    Score::new(
        ramp(short as f64, BRUTE_SESSIONS) * share * ramp(per_min, BRUTE_RATE),
        || {
            format!(
                "{short} short sessions to {service}, {}/min, {} of all",
                number(per_min),
                percent(share)
            )
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    #[test]
    fn perfect_beacon_scores_one() {
        let ts: Vec<f64> = (0..312).map(|i| 1000.0 + 60.0 * i as f64).collect();
        let s = beacon(&ts, &vec![420.0; 312]);
        assert_eq!(s.value, 1.0);
        assert_eq!(s.reason, "every 60.0 s ± 0.0 s, 312 times");
    }

    #[test]
    fn jittered_beacon_stays_high_and_random_arrivals_do_not() {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        // ±0.4 s uniform jitter on a 60 s period, sizes ±2%.
        let ts: Vec<f64> = (0..300)
            .map(|i| 60.0 * i as f64 + rng.gen_range(-0.4..0.4))
            .collect();
        let sizes: Vec<f64> = (0..300)
            .map(|_| 500.0 * rng.gen_range(0.98..1.02))
            .collect();
        let jittered = beacon(&ts, &sizes).value;
        assert!(jittered > 0.9, "{jittered}");
        // Poisson arrivals of the same mean rate and sizes spread over orders of magnitude.
        let mut t = 0.0;
        let ts: Vec<f64> = (0..300)
            .map(|_| {
                t += -60.0 * (1.0 - rng.gen::<f64>()).ln();
                t
            })
            .collect();
        let sizes: Vec<f64> = (0..300)
            .map(|_| 10f64.powf(rng.gen_range(2.0..6.0)))
            .collect();
        let random = beacon(&ts, &sizes).value;
        // Exponential intervals: steadiness ≈ 0.31, symmetry ≈ 0.74, coverage ≈ 0.69.
        assert!(random < 0.35, "{random}");
        assert!(jittered - random > 0.6);
    }

    #[test]
    fn random_arrivals_are_rarely_beacons_at_any_count() {
        // The chance level is the 99th percentile of random arrivals of equal sizes: a
        // few percent of such pairs score above 0, almost none reach a reason.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(11);
        for n in [6usize, 10, 20, 50, 200] {
            let trials = 1000;
            let (mut above, mut reason) = (0, 0);
            for _ in 0..trials {
                let ts: Vec<f64> = (0..n).map(|_| rng.gen_range(0.0..3600.0)).collect();
                let v = beacon(&ts, &vec![500.0; n]).value;
                above += usize::from(v > 0.0);
                reason += usize::from(v >= 0.5);
            }
            assert!(
                above <= trials * 3 / 100,
                "{n}: {above} of {trials} above 0"
            );
            assert!(
                reason <= trials / 200,
                "{n}: {reason} of {trials} reach 0.5"
            );
        }
    }

    #[test]
    fn beacon_needs_enough_distinct_times() {
        assert_eq!(beacon(&[1.0, 2.0, 3.0, 4.0, 5.0], &[1.0; 5]).value, 0.0);
        // Identical timestamps: no interval, no beacon (and no NaN).
        assert_eq!(beacon(&[5.0; 50], &[1.0; 50]), Score::none());
        // A burst of probes a few milliseconds apart is no beacon.
        let burst: Vec<f64> = (0..200).map(|i| i as f64 * 0.005).collect();
        assert_eq!(beacon(&burst, &[0.0; 200]).value, 0.0);
        // Unset times are left out.
        let mut ts = vec![f64::NAN; 10];
        ts.extend((0..5).map(|i| i as f64));
        assert_eq!(beacon(&ts, &[1.0; 15]).value, 0.0);
    }

    #[test]
    fn sweep_of_hosts_and_ports() {
        // 412 hosts on one port, 98% silent.
        let s = scan_hosts("23/tcp", 404, 412);
        assert!((s.value - 404.0 / 412.0).abs() < 1e-12);
        assert_eq!(s.reason, "23/tcp on 412 hosts, 98% unanswered");
        // Below Zeek's threshold the score grows linearly.
        assert!((scan_hosts("23/tcp", 5, 5).value - 0.2).abs() < 1e-12);
        // A client whose peers all answer is no scanner.
        assert_eq!(scan_hosts("443/tcp", 0, 900).value, 0.0);
        let s = scan_services(180, 180);
        assert_eq!(
            (s.value, s.reason.as_str()),
            (1.0, "180 host:port services, 100% unanswered")
        );
        let s = scan_ports("10.0.0.5", 15, 20, 1);
        assert!((s.value - 0.75).abs() < 1e-12);
        assert_eq!(s.reason, "20 ports on 10.0.0.5, 75% unanswered");
        assert_eq!(
            scan_ports("10.0.0.5", 30, 30, 28).reason,
            "30 ports on 10.0.0.5 by 28 sources, 100% unanswered"
        );
    }

    #[test]
    fn long_exfil_and_brute_in_closed_form() {
        assert_eq!(long(1800.0, 1800.0, 1).value, 0.5);
        assert_eq!(long(7200.0, 9000.0, 3).value, 1.0);
        assert_eq!(long(0.0, 0.0, 3).value, 0.0);
        // 100 MB out, nothing in: full; 1 MB out, 1 MB in: none.
        assert!((exfil(1e8, 0.0).value - 1.0).abs() < 1e-12);
        assert_eq!(exfil(1e6, 1e6).value, 0.0);
        // 1 MB out, 10 kB in: PCR 0.980, weight 0.5.
        assert!((exfil(1e6, 1e4).value - 0.5 * 0.99e6 / 1.01e6).abs() < 1e-12);
        // Below half a score nothing shows its words, so none are made.
        assert_eq!(exfil(1e6, 1e4).reason, "");
        assert_eq!(exfil(1e7, 1e4).reason, "sent 10.0 MB, received 10 kB");
        // 60 short sessions in 5 minutes: full; one a minute (a poller): a tenth.
        assert_eq!(brute("22/tcp", 60, 60, 300.0).value, 1.0);
        let slow = brute("22/tcp", 60, 60, 3600.0).value;
        assert!((slow - 0.1).abs() < 1e-12, "{slow}");
        assert_eq!(brute("22/tcp", 0, 60, 600.0).value, 0.0);
    }

    #[test]
    fn no_score_is_nan() {
        for s in [
            beacon(&[f64::NAN; 3], &[f64::NAN; 3]),
            exfil(f64::NAN, 1.0),
            exfil(1.0, f64::NAN),
            long(f64::NAN, f64::NAN, 0),
            brute("x", 1, 1, f64::NAN),
            scan_hosts("x", 0, 0),
            scan_ports("x", 0, 0, 0),
        ] {
            assert!(
                s.value.is_finite() && (0.0..=1.0).contains(&s.value),
                "{s:?}"
            );
        }
    }
}
