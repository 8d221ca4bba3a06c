//! Context: what each connection's hosts and pairs do across the analysed rows.
//!
//! One connection says little about a scan (one unanswered SYN), a beacon (one small
//! exchange) or brute force (one short login). Its context does: how many hosts and ports
//! its source touched and how many of them answered, how often and how regularly the same
//! pair talks, how many sources reach the same service. [`Context::build`] groups the
//! selected rows by source, destination, pair, (source, port), (destination, port) and
//! (source, destination, port) once; the behaviour scores ([`super::behaviour`]) and the
//! per-row context features ([`Context::column`]) are read off those groups.
//!
//! A port is a responder port *and* its protocol (`53/udp` and `53/tcp` are two services).
//! Groups are numbered in order of first appearance, so every result is the same whatever
//! the number of threads.

use std::hash::Hash;

use polars::prelude::*;
use rustc_hash::FxHashMap;

use crate::filter::string_values;

/// Conn states in which the originator's attempt was seen and the responder never
/// accepted it: no reply (`S0`), refused (`REJ`), the originator gave up before any answer
/// (`RSTOS0`, `SH`). Not `RSTRH` and `SHR` (the responder did answer; the originator's SYN
/// was missed) nor `OTH` (no handshake seen: midstream traffic or a capture gap), which
/// say more about the sensor than about the hosts.
pub const UNANSWERED: [&str; 4] = ["S0", "REJ", "RSTOS0", "SH"];

/// The context features, in the order [`Context::column`] knows them, with what each
/// measures (for the README, the feature picker and `--features`).
pub const FEATURES: [(&str, &str); 17] = [
    ("src.conns", "connections from the row's source"),
    ("src.hosts", "distinct destinations of the source"),
    ("src.ports", "distinct destination ports of the source"),
    (
        "src.failed",
        "share of the source's connections that got no answer",
    ),
    (
        "src.rate",
        "the source's connections per minute over its active span",
    ),
    ("dst.conns", "connections to the row's destination"),
    ("dst.srcs", "distinct sources reaching the destination"),
    ("dst.ports", "distinct ports reached on the destination"),
    (
        "dst.failed",
        "share of the destination's connections that got no answer",
    ),
    (
        "pair.conns",
        "connections between the row's source and destination",
    ),
    (
        "pair.out",
        "bytes the source sent the destination, all connections",
    ),
    (
        "pair.in",
        "bytes the destination sent the source, all connections",
    ),
    ("pair.duration", "seconds of all the pair's connections"),
    (
        "sport.hosts",
        "distinct destinations the source reached on this port",
    ),
    (
        "sport.failed",
        "share of the source's connections on this port that got no answer",
    ),
    (
        "dport.srcs",
        "distinct sources reaching this port of the destination",
    ),
    (
        "dport.odd",
        "how much rarer the destination is for its port than the port's destinations \
         usually are, in nats",
    ),
];

/// Whether `name` is a context feature (of any log, or of a dns, http or ssl log: see
/// [`crate::protocol`]).
pub fn is_feature(name: &str) -> bool {
    FEATURES.iter().any(|(n, _)| *n == name) || crate::protocol::is_feature(name)
}

/// A partition of rows into groups: `of[i]` is row i's group, numbered from 0 in order of
/// first appearance.
#[derive(Debug, Clone, Default)]
pub struct Groups {
    /// Group of each row.
    pub of: Vec<u32>,
    /// Number of groups.
    pub len: usize,
}

impl Groups {
    fn by<K: Hash + Eq + Copy>(keys: impl Iterator<Item = K>, hint: usize) -> Self {
        let mut ids: FxHashMap<K, u32> = FxHashMap::default();
        ids.reserve(hint / 4);
        let of: Vec<u32> = keys
            .map(|k| {
                let next = ids.len() as u32;
                *ids.entry(k).or_insert(next)
            })
            .collect();
        Self { of, len: ids.len() }
    }

    /// Rows by the pair of their values in `a` and `b`.
    pub fn by_pairs(a: &[u32], b: &[u32]) -> Self {
        Self::by(
            a.iter()
                .zip(b)
                .map(|(&x, &y)| (u64::from(x) << 32) | u64::from(y)),
            a.len(),
        )
    }

    /// Rows per group.
    pub fn counts(&self) -> Vec<u32> {
        let mut c = vec![0u32; self.len];
        for &g in &self.of {
            c[g as usize] += 1;
        }
        c
    }

    /// For each group, how many distinct groups of `finer` (a refinement of this
    /// partition: rows of one `finer` group share a group here) it holds.
    pub fn distinct(&self, finer: &Groups) -> Vec<u32> {
        self.distinct_where(finer, |_| true)
    }

    /// For each group, how many distinct groups `f` of `finer` it holds with `keep(f)`.
    pub fn distinct_where(&self, finer: &Groups, keep: impl Fn(usize) -> bool) -> Vec<u32> {
        let mut seen = vec![false; finer.len];
        let mut d = vec![0u32; self.len];
        for (&g, &f) in self.of.iter().zip(&finer.of) {
            if !seen[f as usize] {
                seen[f as usize] = true;
                d[g as usize] += u32::from(keep(f as usize));
            }
        }
        d
    }

    /// For each group, the value of `values` (one per row) its rows share: the group of a
    /// coarser partition, an address, a port.
    pub fn shared(&self, values: &[u32]) -> Vec<u32> {
        let mut p = vec![0u32; self.len];
        for (&k, &v) in self.of.iter().zip(values) {
            p[k as usize] = v;
        }
        p
    }

    /// Each group's rows, in row order (offsets into one flat list).
    pub fn members(&self) -> Members {
        let counts = self.counts();
        let mut start = Vec::with_capacity(self.len + 1);
        let mut acc = 0u32;
        start.push(0);
        for c in &counts {
            acc += c;
            start.push(acc);
        }
        let mut fill: Vec<u32> = start[..self.len].to_vec();
        let mut rows = vec![0u32; self.of.len()];
        for (i, &g) in self.of.iter().enumerate() {
            rows[fill[g as usize] as usize] = i as u32;
            fill[g as usize] += 1;
        }
        Members { start, rows }
    }
}

/// Rows of each group of a [`Groups`].
#[derive(Debug, Clone)]
pub struct Members {
    start: Vec<u32>,
    rows: Vec<u32>,
}

impl Members {
    /// The rows of group g, in row order.
    pub fn of(&self, g: usize) -> &[u32] {
        &self.rows[self.start[g] as usize..self.start[g + 1] as usize]
    }
}

/// The analysed rows as the context sees them, and their groups.
#[derive(Debug, Clone)]
pub struct Context {
    /// Frame row of each context row (the selection).
    pub rows: Vec<u32>,
    /// Address texts; `src` and `dst` index into it (`-` for unset).
    pub addrs: Vec<String>,
    /// Source address of each row.
    pub src: Vec<u32>,
    /// Destination address of each row.
    pub dst: Vec<u32>,
    /// Port names (`443/tcp`); `port` indexes into it.
    pub ports: Vec<String>,
    /// Responder port and protocol of each row.
    pub port: Vec<u32>,
    /// Seconds since the epoch (NaN when unset).
    pub ts: Vec<f64>,
    /// Bytes the originator sent (unset as 0).
    pub out: Vec<f64>,
    /// Bytes the responder sent (unset as 0).
    pub inb: Vec<f64>,
    /// Duration in seconds (unset as 0).
    pub duration: Vec<f64>,
    /// Whether the connection got no proper answer (see [`UNANSWERED`]).
    pub failed: Vec<bool>,
    /// Rows by source.
    pub by_src: Groups,
    /// Rows by destination.
    pub by_dst: Groups,
    /// Rows by (source, destination).
    pub by_pair: Groups,
    /// Rows by (source, port).
    pub by_sport: Groups,
    /// Rows by (destination, port).
    pub by_dport: Groups,
    /// Rows by (source, destination, port): one service of one peer.
    pub by_service: Groups,
    /// A dns log's query names (`None` for other logs).
    pub dns: Option<crate::protocol::DnsRows>,
    /// The features of a dns, http or ssl log's fields ([`crate::protocol`]).
    pub protocol: Vec<(&'static str, Vec<f64>)>,
}

/// Whether an address is one no host answers from: multicast, or the IPv4 broadcast.
pub fn no_answer_expected(addr: &str) -> bool {
    match addr.parse::<std::net::IpAddr>() {
        Ok(std::net::IpAddr::V4(a)) => a.is_multicast() || a.is_broadcast(),
        Ok(std::net::IpAddr::V6(a)) => a.is_multicast(),
        Err(_) => false,
    }
}

/// A numeric column's values for the selected rows, as the features read them (times in
/// seconds); unset, non-finite, missing or non-numeric as NaN.
fn numbers(frame: &DataFrame, name: &str, rows: &[u32]) -> Vec<f64> {
    match crate::features::numeric_values(frame, name) {
        Ok(col) => rows
            .iter()
            .map(|&r| col[r as usize].unwrap_or(f64::NAN))
            .collect(),
        Err(_) => vec![f64::NAN; rows.len()],
    }
}

fn zero_unset(v: Vec<f64>) -> Vec<f64> {
    v.into_iter()
        .map(|x| if x.is_nan() { 0.0 } else { x.max(0.0) })
        .collect()
}

/// Interns texts as numbers in order of first appearance.
fn intern<'a>(
    values: impl Iterator<Item = Option<&'a str>>,
    names: &mut Vec<String>,
    ids: &mut FxHashMap<Option<&'a str>, u32>,
) -> Vec<u32> {
    values
        .map(|v| {
            *ids.entry(v).or_insert_with(|| {
                names.push(v.unwrap_or("-").to_string());
                (names.len() - 1) as u32
            })
        })
        .collect()
}

/// [`intern`] of the source, then the destination addresses of the frame rows `rows`
/// when both are held as codes of one dictionary: by code (one code per text), each
/// address's text made once, rather than each row's text found and hashed.
fn intern_coded(
    frame: &DataFrame,
    rows: &[u32],
    names: &mut Vec<String>,
) -> Option<(Vec<u32>, Vec<u32>)> {
    let coded = |c: &str| frame.column(c).ok()?.cat32().ok();
    let (orig, resp) = (coded("id.orig_h")?, coded("id.resp_h")?);
    let mapping = orig.get_mapping();
    if !std::sync::Arc::ptr_eq(mapping, resp.get_mapping()) {
        return None;
    }
    let mut ids: FxHashMap<Option<u32>, u32> = FxHashMap::default();
    let mut ids_of = |ca: &polars::prelude::Categorical32Chunked| {
        let codes = ca.physical();
        rows.iter()
            .map(|&r| {
                let code = codes.get(r as usize);
                *ids.entry(code).or_insert_with(|| {
                    let text = code.and_then(|c| mapping.cat_to_str(c));
                    names.push(text.unwrap_or("-").to_string());
                    (names.len() - 1) as u32
                })
            })
            .collect::<Vec<u32>>()
    };
    let src = ids_of(orig);
    let dst = ids_of(resp);
    Some((src, dst))
}

impl Context {
    /// Groups the selected frame rows. Missing columns count as unset: a log without
    /// addresses has one source and one destination.
    pub fn build(frame: &DataFrame, rows: &[u32]) -> Self {
        let n = rows.len();
        let text = |c: &str| {
            let all = string_values(frame, c);
            rows.iter()
                .map(move |&r| all[r as usize])
                .collect::<Vec<_>>()
        };
        let mut addrs = Vec::new();
        let (src, dst) = match intern_coded(frame, rows, &mut addrs) {
            Some(ids) => ids,
            None => {
                let (orig, resp) = (text("id.orig_h"), text("id.resp_h"));
                let mut ids = FxHashMap::default();
                let src = intern(orig.iter().copied(), &mut addrs, &mut ids);
                let dst = intern(resp.iter().copied(), &mut addrs, &mut ids);
                (src, dst)
            }
        };

        let proto = text("proto");
        let resp_p = numbers(frame, "id.resp_p", rows);
        let mut ports = Vec::new();
        let mut port_ids: FxHashMap<(Option<u32>, u8), u32> = FxHashMap::default();
        // Protocol texts as slots; past 255 distinct ones (only a hostile log has that
        // many) the rest share slot 255, named `other`, and lose nothing but their name.
        let mut proto_ids: FxHashMap<Option<&str>, u8> = FxHashMap::default();
        let mut protos: Vec<Option<&str>> = Vec::new();
        let port: Vec<u32> = resp_p
            .iter()
            .zip(&proto)
            .map(|(&p, &pr)| {
                let pi = *proto_ids.entry(pr).or_insert_with(|| {
                    if protos.len() < 255 {
                        protos.push(pr);
                        (protos.len() - 1) as u8
                    } else {
                        255
                    }
                });
                // Ports are counts below 65536; anything else is kept apart as its value.
                let p = (!p.is_nan()).then(|| p.clamp(0.0, f64::from(u32::MAX)) as u32);
                *port_ids.entry((p, pi)).or_insert_with(|| {
                    let num = p.map_or_else(|| "-".to_string(), |p| p.to_string());
                    let name = match protos.get(usize::from(pi)) {
                        _ if pi == 255 => Some("other"),
                        Some(&pr) => pr,
                        None => None,
                    };
                    ports.push(match name {
                        Some(pr) => format!("{num}/{pr}"),
                        None => num,
                    });
                    (ports.len() - 1) as u32
                })
            })
            .collect();

        let state = text("conn_state");
        let ts = numbers(frame, "ts", rows);
        let out = zero_unset(numbers(frame, "orig_bytes", rows));
        let inb = zero_unset(numbers(frame, "resp_bytes", rows));
        let duration = zero_unset(numbers(frame, "duration", rows));

        let pair_key = |i: usize| (u64::from(src[i]) << 32) | u64::from(dst[i]);
        let (by_src, by_dst, by_pair, by_sport, by_dport, by_service) = {
            let ((a, b), (c, (d, (e, f)))) = rayon::join(
                || {
                    rayon::join(
                        || Groups::by(src.iter().copied(), n),
                        || Groups::by(dst.iter().copied(), n),
                    )
                },
                || {
                    rayon::join(
                        || Groups::by((0..n).map(pair_key), n),
                        || {
                            rayon::join(
                                || Groups::by((0..n).map(|i| (src[i], port[i])), n),
                                || {
                                    rayon::join(
                                        || Groups::by((0..n).map(|i| (dst[i], port[i])), n),
                                        || Groups::by((0..n).map(|i| (pair_key(i), port[i])), n),
                                    )
                                },
                            )
                        },
                    )
                },
            );
            (a, b, c, d, e, f)
        };
        // Unanswered, where an answer was due: never to multicast or broadcast addresses
        // (nobody answers those by design), and over UDP or ICMP only as a probe (at most
        // a probe and a retry from the source to that service): one-way streams such as
        // syslog, NetFlow export or SNMP traps never get an answer either.
        let silent_addr: Vec<bool> = addrs.iter().map(|a| no_answer_expected(a)).collect();
        let svc_size = by_service.counts();
        let failed: Vec<bool> = (0..n)
            .map(|i| {
                state[i].is_some_and(|s| UNANSWERED.contains(&s))
                    && !silent_addr[dst[i] as usize]
                    && (proto[i] == Some("tcp") || svc_size[by_service.of[i] as usize] <= 2)
            })
            .collect();
        let dns = crate::protocol::DnsRows::of(frame, rows);
        let protocol = crate::protocol::columns(frame, rows, &by_src, dns.as_ref());
        Self {
            rows: rows.to_vec(),
            addrs,
            src,
            dst,
            ports,
            port,
            ts,
            out,
            inb,
            duration,
            failed,
            by_src,
            by_dst,
            by_pair,
            by_sport,
            by_dport,
            by_service,
            dns,
            protocol,
        }
    }

    /// The grouping that ranks `unit`.
    pub fn groups(&self, unit: super::Unit) -> &Groups {
        match unit {
            super::Unit::Src => &self.by_src,
            super::Unit::Dst => &self.by_dst,
            super::Unit::Pair => &self.by_pair,
        }
    }

    /// Number of rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether there are no rows.
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Failed connections per group of `g`.
    pub fn failed_per(&self, g: &Groups) -> Vec<u32> {
        let mut c = vec![0u32; g.len];
        for (&k, &f) in g.of.iter().zip(&self.failed) {
            c[k as usize] += u32::from(f);
        }
        c
    }

    /// Sum of `v` per group of `g`.
    pub fn sum_per(g: &Groups, v: &[f64]) -> Vec<f64> {
        let mut s = vec![0.0; g.len];
        for (&k, &x) in g.of.iter().zip(v) {
            s[k as usize] += x;
        }
        s
    }

    /// A context feature's value for every row, by name (see [`FEATURES`]); `None` for
    /// an unknown name. Every value is finite.
    pub fn column(&self, name: &str) -> Option<Vec<f64>> {
        let per_row =
            |g: &Groups, v: Vec<f64>| -> Vec<f64> { g.of.iter().map(|&k| v[k as usize]).collect() };
        let share = |g: &Groups| -> Vec<f64> {
            let f = self.failed_per(g);
            let c = g.counts();
            per_row(
                g,
                f.iter()
                    .zip(&c)
                    .map(|(&f, &c)| f64::from(f) / f64::from(c.max(1)))
                    .collect(),
            )
        };
        let as_f = |v: Vec<u32>| v.into_iter().map(f64::from).collect::<Vec<_>>();
        Some(match name {
            "src.conns" => per_row(&self.by_src, as_f(self.by_src.counts())),
            "src.hosts" => per_row(&self.by_src, as_f(self.by_src.distinct(&self.by_pair))),
            "src.ports" => per_row(&self.by_src, as_f(self.by_src.distinct(&self.by_sport))),
            "src.failed" => share(&self.by_src),
            "src.rate" => per_row(&self.by_src, self.rate_per(&self.by_src)),
            "dst.conns" => per_row(&self.by_dst, as_f(self.by_dst.counts())),
            "dst.srcs" => per_row(&self.by_dst, as_f(self.by_dst.distinct(&self.by_pair))),
            "dst.ports" => per_row(&self.by_dst, as_f(self.by_dst.distinct(&self.by_dport))),
            "dst.failed" => share(&self.by_dst),
            "pair.conns" => per_row(&self.by_pair, as_f(self.by_pair.counts())),
            "pair.out" => per_row(&self.by_pair, Self::sum_per(&self.by_pair, &self.out)),
            "pair.in" => per_row(&self.by_pair, Self::sum_per(&self.by_pair, &self.inb)),
            "pair.duration" => per_row(&self.by_pair, Self::sum_per(&self.by_pair, &self.duration)),
            "sport.hosts" => per_row(
                &self.by_sport,
                as_f(self.by_sport.distinct(&self.by_service)),
            ),
            "sport.failed" => share(&self.by_sport),
            "dport.srcs" => per_row(
                &self.by_dport,
                as_f(self.by_dport.distinct(&self.by_service)),
            ),
            "dport.odd" => per_row(&self.by_dport, self.oddness()),
            other => {
                if let Some(v) = self
                    .dns
                    .as_ref()
                    .and_then(|d| d.column(other, &self.by_src))
                {
                    return Some(v);
                }
                return self
                    .protocol
                    .iter()
                    .find(|(n, _)| *n == other)
                    .map(|(_, v)| v.clone());
            }
        })
    }

    /// Per (destination, port): its surprisal among the port's connections, −ln P(dst |
    /// port), less the port's entropy H(dst | port) (the surprisal its destinations have
    /// on average), at least 0. A port served by one resolver gives its one odd resolver
    /// several nats; a port spread over many servers (HTTPS) gives each about 0.
    fn oddness(&self) -> Vec<f64> {
        let size = self.by_dport.counts();
        let port_of = self.by_dport.shared(&self.port);
        let mut total = vec![0.0f64; self.ports.len()];
        for (g, &c) in size.iter().enumerate() {
            total[port_of[g] as usize] += f64::from(c);
        }
        let surprisal: Vec<f64> = size
            .iter()
            .enumerate()
            .map(|(g, &c)| -(f64::from(c) / total[port_of[g] as usize]).ln())
            .collect();
        let mut entropy = vec![0.0f64; self.ports.len()];
        for (g, &c) in size.iter().enumerate() {
            let p = port_of[g] as usize;
            entropy[p] += f64::from(c) / total[p] * surprisal[g];
        }
        surprisal
            .iter()
            .enumerate()
            .map(|(g, &s)| (s - entropy[port_of[g] as usize]).max(0.0))
            .collect()
    }

    /// Seconds from the first to the last timed connection of each group (0 with fewer
    /// than two).
    pub fn span_per(&self, g: &Groups) -> Vec<f64> {
        let mut lo = vec![f64::INFINITY; g.len];
        let mut hi = vec![f64::NEG_INFINITY; g.len];
        for (&k, &t) in g.of.iter().zip(&self.ts) {
            if t.is_finite() {
                lo[k as usize] = lo[k as usize].min(t);
                hi[k as usize] = hi[k as usize].max(t);
            }
        }
        lo.iter()
            .zip(&hi)
            .map(|(l, h)| if h >= l { h - l } else { 0.0 })
            .collect()
    }

    /// Connections per minute of each group over its active span (first to last
    /// connection, at least a minute: a burst within a minute is its count per minute).
    fn rate_per(&self, g: &Groups) -> Vec<f64> {
        g.counts()
            .iter()
            .zip(self.span_per(g))
            .map(|(&c, span)| f64::from(c) / (span / 60.0).max(1.0))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    type Row<'a> = (&'a str, &'a str, i64, &'a str, &'a str, f64);

    /// A frame of connections: (src, dst, port, proto, state, ts).
    fn frame(rows: &[Row]) -> DataFrame {
        let text = |k: usize| -> Vec<String> {
            rows.iter()
                .map(|r| [r.0, r.1, r.3, r.4][k].to_string())
                .collect()
        };
        df!(
            "id.orig_h" => text(0),
            "id.resp_h" => text(1),
            "id.resp_p" => rows.iter().map(|r| r.2).collect::<Vec<_>>(),
            "proto" => text(2),
            "conn_state" => text(3),
            "ts" => rows.iter().map(|r| r.5).collect::<Vec<_>>()
        )
        .unwrap()
    }

    fn all(f: &DataFrame) -> Context {
        Context::build(f, &(0..f.height() as u32).collect::<Vec<_>>())
    }

    #[test]
    fn groups_count_rows_and_distinct_peers() {
        let f = frame(&[
            ("a", "x", 80, "tcp", "SF", 0.0),
            ("a", "x", 443, "tcp", "SF", 60.0),
            ("a", "y", 80, "tcp", "S0", 120.0),
            ("b", "x", 80, "tcp", "SF", 180.0),
        ]);
        let c = all(&f);
        assert_eq!(c.column("src.conns").unwrap(), vec![3.0, 3.0, 3.0, 1.0]);
        assert_eq!(c.column("src.hosts").unwrap(), vec![2.0, 2.0, 2.0, 1.0]);
        assert_eq!(c.column("src.ports").unwrap(), vec![2.0, 2.0, 2.0, 1.0]);
        assert_eq!(c.column("dst.srcs").unwrap(), vec![2.0, 2.0, 1.0, 2.0]);
        assert_eq!(c.column("dport.srcs").unwrap(), vec![2.0, 1.0, 1.0, 2.0]);
        assert_eq!(c.column("sport.hosts").unwrap(), vec![2.0, 1.0, 2.0, 1.0]);
        let third = 1.0 / 3.0;
        assert_eq!(
            c.column("src.failed").unwrap(),
            vec![third, third, third, 0.0]
        );
        // 3 connections over 2 minutes; one connection: its count per (at least) a minute.
        assert_eq!(c.column("src.rate").unwrap(), vec![1.5, 1.5, 1.5, 1.0]);
        assert_eq!(c.ports[..2], ["80/tcp".to_string(), "443/tcp".to_string()]);
        assert!(c.column("nope").is_none());
    }

    #[test]
    fn unanswered_only_where_an_answer_was_due() {
        let mut rows = vec![
            ("a", "x", 22, "tcp", "S0", 0.0),                 // unanswered
            ("a", "x", 22, "tcp", "REJ", 1.0),                // refused
            ("a", "x", 22, "tcp", "RSTRH", 2.0),              // the responder answered
            ("a", "x", 22, "tcp", "OTH", 3.0),                // no handshake seen
            ("a", "239.255.255.250", 1900, "udp", "S0", 4.0), // multicast
            ("a", "ff02::fb", 5353, "udp", "S0", 5.0),        // IPv6 multicast
            ("a", "255.255.255.255", 67, "udp", "S0", 6.0),   // broadcast
            ("a", "z", 161, "udp", "S0", 7.0),                // a UDP probe
        ];
        // A one-way UDP stream (syslog): never answered, never a failure.
        rows.extend((0..5).map(|i| ("a", "log", 514, "udp", "S0", 10.0 + f64::from(i))));
        let c = all(&frame(&rows));
        let want = [true, true, false, false, false, false, false, true];
        assert_eq!(c.failed[..8], want);
        assert!(c.failed[8..].iter().all(|&f| !f));
    }

    #[test]
    fn an_odd_server_for_its_port_stands_out() {
        // Nine hosts ask the office resolver, one asks an outside one; HTTPS goes to ten
        // servers once each.
        let mut rows: Vec<Row> = Vec::new();
        let hosts = ["h0", "h1", "h2", "h3", "h4", "h5", "h6", "h7", "h8", "h9"];
        for (i, h) in hosts.iter().enumerate() {
            let resolver = if i == 9 { "outside" } else { "office" };
            rows.push((h, resolver, 53, "udp", "SF", i as f64));
            rows.push((h, hosts[(i + 1) % 10], 443, "tcp", "SF", i as f64));
        }
        let c = all(&frame(&rows));
        let odd = c.column("dport.odd").unwrap();
        // −ln(1/10) − H, H = 0.9 ln(1/0.9) + 0.1 ln(10) (the port's entropy).
        let h = 0.9 * (1.0f64 / 0.9).ln() + 0.1 * 10f64.ln();
        assert!((odd[18] - (10f64.ln() - h)).abs() < 1e-12, "{}", odd[18]);
        // The office resolver is below the port's entropy: 0; HTTPS is spread evenly: 0.
        assert_eq!(odd[0], 0.0);
        assert!(odd.iter().skip(1).step_by(2).all(|&v| v.abs() < 1e-12));
    }
}

#[cfg(test)]
mod coded_tests {
    use super::*;

    /// Addresses held as dictionary codes are numbered as their texts are: the same
    /// names, in the same order, and the same number for each row, with unset addresses
    /// and the text `-`; rows selected out of order and repeated.
    #[test]
    fn coded_addresses_are_numbered_as_their_texts() {
        let addr = |i: usize| match i % 9 {
            0 => None,
            1 => Some("-".to_string()),
            k => Some(format!("10.0.{}.{}", k % 3, i % 5)),
        };
        let orig: Vec<Option<String>> = (0..200).map(addr).collect();
        let resp: Vec<Option<String>> = (0..200).map(|i| addr(i * 7 + 3)).collect();
        let plain = df!("id.orig_h" => &orig, "id.resp_h" => &resp).unwrap();
        let mut columns = plain.columns().to_vec();
        crate::ingest::text::compact(&mut columns);
        let coded = DataFrame::new(200, columns).unwrap();
        assert!(matches!(
            coded.column("id.resp_h").unwrap().dtype(),
            DataType::Categorical(..)
        ));
        let rows: Vec<u32> = (0..200u32).rev().step_by(2).chain([7, 7, 0]).collect();
        let mut names = Vec::new();
        let (src, dst) = intern_coded(&coded, &rows, &mut names).expect("coded");
        assert!(intern_coded(&plain, &rows, &mut Vec::new()).is_none());
        let a = Context::build(&plain, &rows);
        assert_eq!(
            (names, src, dst),
            (a.addrs.clone(), a.src.clone(), a.dst.clone())
        );
        let b = Context::build(&coded, &rows);
        assert_eq!((b.addrs, b.src, b.dst), (a.addrs, a.src, a.dst));
    }
}
