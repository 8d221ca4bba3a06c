//! Choosing rows: by service, by address (the source or destination is one of a list of
//! addresses or networks, as the seed notebook picked "a few IPs"), and the rows to train
//! on (a label, as the seed fit only on benign rows).

use std::collections::HashMap;
use std::net::IpAddr;

use polars::prelude::*;

/// An address or a network to match `id.orig_h` / `id.resp_h` against.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub enum IpMatch {
    /// One address.
    Addr(IpAddr),
    /// A network in CIDR notation.
    Net(IpAddr, u8),
}

impl IpMatch {
    /// Parses `10.0.0.1`, `fd00::1` or `10.0.0.0/8`.
    pub fn parse(s: &str) -> Result<Self, String> {
        let s = s.trim();
        match s.split_once('/') {
            None => s
                .parse()
                .map(IpMatch::Addr)
                .map_err(|_| format!("not an IP address: {s:?}")),
            Some((a, p)) => {
                let addr: IpAddr = a.parse().map_err(|_| format!("not a network: {s:?}"))?;
                let max = if addr.is_ipv4() { 32 } else { 128 };
                let prefix: u8 = p
                    .parse()
                    .ok()
                    .filter(|&p| p <= max)
                    .ok_or_else(|| format!("bad prefix length in {s:?}"))?;
                Ok(IpMatch::Net(addr, prefix))
            }
        }
    }

    /// Whether `addr` matches.
    pub fn matches(&self, addr: IpAddr) -> bool {
        match *self {
            IpMatch::Addr(a) => a == addr,
            IpMatch::Net(net, prefix) => match (net, addr) {
                (IpAddr::V4(n), IpAddr::V4(a)) => {
                    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
                    u32::from(n) & mask == u32::from(a) & mask
                }
                (IpAddr::V6(n), IpAddr::V6(a)) => {
                    let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
                    u128::from(n) & mask == u128::from(a) & mask
                }
                _ => false,
            },
        }
    }
}

impl std::fmt::Display for IpMatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            IpMatch::Addr(a) => write!(f, "{a}"),
            IpMatch::Net(a, p) => write!(f, "{a}/{p}"),
        }
    }
}

/// Which rows to analyse.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Filter {
    /// Keep rows whose `service` is one of these (empty: all). A value matches a service
    /// exactly or as one part of Zeek's comma-joined list (`dns` matches `dns,ssl`); `-`
    /// matches unset.
    pub services: Vec<String>,
    /// Keep rows whose source or destination matches one of these (empty: all).
    pub ips: Vec<IpMatch>,
    /// Keep rows between the two hosts of one of these pairs, in either direction
    /// (empty: all).
    pub pairs: Vec<(IpAddr, IpAddr)>,
}

impl Filter {
    /// Whether the filter keeps every row.
    pub fn is_empty(&self) -> bool {
        self.services.is_empty() && self.ips.is_empty() && self.pairs.is_empty()
    }

    /// Indices (into the frame) of the rows kept, in order.
    pub fn select(&self, frame: &DataFrame) -> Vec<u32> {
        let n = frame.height();
        let mut keep = vec![true; n];
        if !self.services.is_empty() {
            let col = string_values(frame, "service");
            let mut memo: HashMap<Option<&str>, bool> = HashMap::new();
            for (k, v) in keep.iter_mut().zip(&col) {
                *k &= *memo.entry(*v).or_insert_with(|| {
                    self.services.iter().any(|s| match v {
                        None => s == "-",
                        Some(v) => v == s || v.split(',').any(|p| p == s),
                    })
                });
            }
        }
        if !self.ips.is_empty() || !self.pairs.is_empty() {
            let orig = string_values(frame, "id.orig_h");
            let resp = string_values(frame, "id.resp_h");
            // Each distinct address text is parsed once.
            let mut parsed: HashMap<&str, Option<IpAddr>> = HashMap::new();
            fn addr<'a>(
                v: Option<&'a str>,
                parsed: &mut HashMap<&'a str, Option<IpAddr>>,
            ) -> Option<IpAddr> {
                let v = v?;
                *parsed.entry(v).or_insert_with(|| v.parse().ok())
            }
            for (i, k) in keep.iter_mut().enumerate() {
                if !*k {
                    continue;
                }
                let o = addr(orig.get(i).copied().flatten(), &mut parsed);
                let r = addr(resp.get(i).copied().flatten(), &mut parsed);
                let by_ip = self.ips.is_empty()
                    || [o, r]
                        .into_iter()
                        .flatten()
                        .any(|a| self.ips.iter().any(|m| m.matches(a)));
                let by_pair = self.pairs.is_empty()
                    || matches!((o, r), (Some(o), Some(r)) if self
                        .pairs
                        .iter()
                        .any(|&(a, b)| (o == a && r == b) || (o == b && r == a)));
                *k = by_ip && by_pair;
            }
        }
        keep.iter()
            .enumerate()
            .filter(|(_, &k)| k)
            .map(|(i, _)| i as u32)
            .collect()
    }

    /// A one-line description for headers and messages.
    pub fn describe(&self) -> String {
        let mut parts = Vec::new();
        if !self.services.is_empty() {
            parts.push(format!("service {}", self.services.join("|")));
        }
        if !self.ips.is_empty() {
            let ips: Vec<String> = self.ips.iter().map(ToString::to_string).collect();
            parts.push(format!("ip {}", ips.join("|")));
        }
        if !self.pairs.is_empty() {
            let pairs: Vec<String> = self
                .pairs
                .iter()
                .map(|(a, b)| format!("{a}<->{b}"))
                .collect();
            parts.push(format!("pair {}", pairs.join("|")));
        }
        if parts.is_empty() {
            "all rows".into()
        } else {
            parts.join(", ")
        }
    }
}

/// A string column's values, one per frame row (`None` for unset, or for every row if the
/// column is missing or not text).
pub fn string_values<'a>(frame: &'a DataFrame, column: &str) -> Vec<Option<&'a str>> {
    match crate::ingest::text::Texts::column(frame, column) {
        Some(t) => t.to_vec(),
        None => vec![None; frame.height()],
    }
}

/// An integer column's values (ports, counts), `None` where unset; `None` when the frame
/// has no such integer column.
pub fn int_values(frame: &DataFrame, column: &str) -> Option<Vec<Option<i64>>> {
    let c = frame.column(column).ok()?;
    match c.dtype() {
        DataType::Int32 => Some(c.i32().ok()?.iter().map(|v| v.map(i64::from)).collect()),
        _ => Some(c.i64().ok()?.iter().collect()),
    }
}

/// The name of the label column, if the log has one.
pub const LABEL_COLUMN: &str = "label";

/// For each selected row, whether its label equals `label` (case-insensitive). `Err` if
/// the log has no such column.
pub fn label_mask(
    frame: &DataFrame,
    rows: &[u32],
    column: &str,
    label: &str,
) -> Result<Vec<bool>, String> {
    let values = crate::ingest::text::Texts::column(frame, column)
        .ok_or_else(|| format!("the log has no text column {column:?} to train on a label"))?
        .to_vec();
    Ok(rows
        .iter()
        .map(|&r| values[r as usize].is_some_and(|v| v.eq_ignore_ascii_case(label)))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame() -> DataFrame {
        df!(
            "service" => [Some("dns"), Some("ssl"), None, Some("smb,gssapi"), Some("dns")],
            "id.orig_h" => ["10.0.0.1", "10.0.0.2", "10.0.1.9", "192.168.1.1", "fd00::1"],
            "id.resp_h" => ["8.8.8.8", "10.0.0.1", "1.1.1.1", "10.0.0.5", "fd00::53"],
            "label" => ["Benign", "benign", "Malicious", "Background", "BENIGN"]
        )
        .unwrap()
    }

    #[test]
    fn services_and_addresses() {
        let f = frame();
        let by = |services: &[&str], ips: &[&str]| {
            Filter {
                services: services.iter().map(|s| s.to_string()).collect(),
                ips: ips.iter().map(|s| IpMatch::parse(s).unwrap()).collect(),
                pairs: Vec::new(),
            }
            .select(&f)
        };
        assert_eq!(by(&[], &[]), vec![0, 1, 2, 3, 4]);
        assert_eq!(by(&["dns"], &[]), vec![0, 4]);
        assert_eq!(by(&["gssapi"], &[]), vec![3]);
        assert_eq!(by(&["-"], &[]), vec![2]);
        assert_eq!(by(&[], &["10.0.0.1"]), vec![0, 1]);
        assert_eq!(by(&[], &["10.0.0.0/24"]), vec![0, 1, 3]);
        assert_eq!(by(&[], &["fd00::/64"]), vec![4]);
        assert_eq!(by(&["ssl"], &["10.0.0.0/16"]), vec![1]);
        assert!(IpMatch::parse("10.0.0.0/33").is_err());
        assert!(IpMatch::parse("nonsense").is_err());
        assert!(IpMatch::parse("0.0.0.0/0")
            .unwrap()
            .matches("1.2.3.4".parse().unwrap()));
    }

    #[test]
    fn host_pairs_match_either_direction_only_between_the_two() {
        let f = frame();
        let pair = |a: &str, b: &str| Filter {
            pairs: vec![(a.parse().unwrap(), b.parse().unwrap())],
            ..Filter::default()
        };
        // 10.0.0.1 talks to 8.8.8.8 (row 0) and is contacted by 10.0.0.2 (row 1).
        assert_eq!(pair("10.0.0.1", "8.8.8.8").select(&f), vec![0]);
        assert_eq!(pair("8.8.8.8", "10.0.0.1").select(&f), vec![0]);
        assert_eq!(pair("10.0.0.1", "10.0.0.2").select(&f), vec![1]);
        assert_eq!(pair("10.0.0.1", "1.1.1.1").select(&f), Vec::<u32>::new());
        let mut both = pair("10.0.0.1", "8.8.8.8");
        both.pairs
            .push(("fd00::53".parse().unwrap(), "fd00::1".parse().unwrap()));
        assert_eq!(both.select(&f), vec![0, 4]);
        assert_eq!(
            both.describe(),
            "pair 10.0.0.1<->8.8.8.8|fd00::53<->fd00::1"
        );
    }

    #[test]
    fn labels() {
        let f = frame();
        let m = label_mask(&f, &[0, 1, 2, 4], "label", "benign").unwrap();
        assert_eq!(m, vec![true, true, false, true]);
        assert!(label_mask(&f, &[0], "nope", "benign").is_err());
    }
}
