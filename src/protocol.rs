//! Features of dns, http and ssl logs: what a query name, a request or a TLS handshake
//! says that the log's numbers do not.
//!
//! They are context features ([`crate::hosts::context`]): made from the analysed rows'
//! own fields, per row (a name's length and randomness) or over the rows (how rare a
//! domain is among them, how many names a domain has), so that they are made the same
//! way for the rows fitted on, for rows scored later, and over a followed window.
//!
//! Registered domains follow Mozilla's Public Suffix List, compiled into zsift by the
//! `psl` crate: a sensor has no network to fetch the list from, and a compiled table
//! answers in a few hundred nanoseconds. A name under a suffix the list does not know
//! (an internal `corp` or `lan`) takes its last label as the suffix, the list's own
//! default rule; a name of one label (`wpad`, a search-list lookup) is all chosen, with
//! no suffix. Reverse lookups (`in-addr.arpa`, `ip6.arpa`) are names of addresses,
//! not names anyone chose: their chosen part is empty.

use polars::prelude::*;
use rayon::prelude::*;
use rustc_hash::FxHashMap;

use crate::filter::string_values;
use crate::hosts::context::Groups;

/// The features, with their log kind and what each measures (for the README, the
/// feature picker and `--features`).
pub const FEATURES: [(&str, &str, &str); 21] = [
    ("query.len", "dns", "characters in the query name"),
    (
        "query.labels",
        "dns",
        "labels (dot-separated parts) in the query name",
    ),
    (
        "query.entropy",
        "dns",
        "Shannon entropy, in bits per character, of the name's chosen part (left of the \
         public suffix): random-looking names score high",
    ),
    (
        "query.digits",
        "dns",
        "share of digits in the name's chosen part",
    ),
    (
        "query.consonants",
        "dns",
        "share of consonants in the name's chosen part",
    ),
    (
        "domain.rare",
        "dns",
        "how rare the registered domain is among the queries, in nats",
    ),
    (
        "tld.rare",
        "dns",
        "how rare the public suffix is among the queries, in nats",
    ),
    (
        "domain.names",
        "dns",
        "distinct names queried under the registered domain (tunnels use a new one per \
         message)",
    ),
    (
        "client.nxdomain",
        "dns",
        "share of the client's queries answered NXDOMAIN (no such name)",
    ),
    ("answers.count", "dns", "answers in the reply"),
    (
        "ttl.min",
        "dns",
        "the shortest TTL of the answers, in seconds (fast-flux and generated domains use \
         short ones)",
    ),
    ("uri.len", "http", "characters in the requested URI"),
    (
        "uri.entropy",
        "http",
        "Shannon entropy of the URI, bits per character",
    ),
    (
        "host.ip",
        "http",
        "1 when the Host header is an address, not a name",
    ),
    (
        "ua.rare",
        "http",
        "how rare the user agent is among the requests, in nats",
    ),
    (
        "ua.src_rare",
        "http",
        "how rare the user agent is among its client's own requests, in nats",
    ),
    (
        "sni.missing",
        "ssl",
        "1 when the client named no server (no SNI)",
    ),
    ("sni.ip", "ssl", "1 when the server name is an address"),
    (
        "cert.invalid",
        "ssl",
        "1 when the certificate failed validation (self-signed, expired, unknown \
         issuer...)",
    ),
    (
        "cert.self_signed",
        "ssl",
        "1 when the certificate (or its chain) is self-signed",
    ),
    (
        "server.rare",
        "ssl",
        "how rare the server name is among the handshakes, in nats",
    ),
];

/// Whether `name` is one of these features.
pub fn is_feature(name: &str) -> bool {
    FEATURES.iter().any(|(n, _, _)| *n == name)
}

/// The field each kind's features are made from: a frame with it has them.
pub fn source_field(kind: &str) -> &'static str {
    match kind {
        "dns" => "query",
        "http" => "uri",
        _ => "server_name",
    }
}

/// The features that a frame's fields make.
pub fn available(frame: &DataFrame) -> Vec<&'static str> {
    FEATURES
        .iter()
        .filter(|(_, kind, _)| frame.column(source_field(kind)).is_ok())
        .map(|(n, _, _)| *n)
        .collect()
}

/// Shannon entropy of the bytes of `s`, in bits per byte (0 for an empty text).
pub fn entropy(s: &[u8]) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in s {
        counts[usize::from(b)] += 1;
    }
    let n = s.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / n;
            -p * p.log2()
        })
        .sum()
}

/// A query name split at its public suffix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Name {
    /// The name in lower case, without a trailing dot.
    pub name: String,
    /// Labels in the name.
    pub labels: usize,
    /// The public suffix (`com`, `co.uk`, `in-addr.arpa`); empty for an empty name.
    pub suffix: String,
    /// The registered domain (`example.co.uk`): the suffix and one label more; the name
    /// itself when it is a suffix.
    pub domain: String,
    /// The labels left of the suffix, without dots: what someone chose (`wwwexample`).
    pub chosen: String,
    /// Characters of the labels under the registered domain, without dots (`www`: 3).
    pub sub_len: usize,
}

/// Splits a query name at its public suffix (see the module's words on the list).
pub fn split_name(query: &str) -> Name {
    let name = query.trim_end_matches('.').to_ascii_lowercase();
    let labels = if name.is_empty() {
        0
    } else {
        name.split('.').count()
    };
    let reverse = ["in-addr.arpa", "ip6.arpa"]
        .iter()
        .find(|s| name == **s || name.ends_with(&format!(".{s}")));
    if let Some(s) = reverse {
        return Name {
            labels,
            suffix: (*s).to_string(),
            domain: (*s).to_string(),
            chosen: String::new(),
            sub_len: 0,
            name,
        };
    }
    if labels == 1 {
        // A bare host name (a search-list lookup, `wpad`, `localhost`): all of it chosen.
        return Name {
            labels,
            suffix: String::new(),
            domain: name.clone(),
            chosen: name.clone(),
            sub_len: 0,
            name,
        };
    }
    let suffix = psl::suffix_str(&name).unwrap_or("").to_string();
    let domain = psl::domain_str(&name).unwrap_or(&name).to_string();
    let left = name[..name.len() - suffix.len().min(name.len())].trim_end_matches('.');
    let chosen: String = left.chars().filter(|&c| c != '.').collect();
    let sub_len = name
        .len()
        .checked_sub(domain.len() + 1)
        .map_or(0, |n| name[..n].bytes().filter(|&b| b != b'.').count());
    Name {
        labels,
        suffix,
        domain,
        chosen,
        sub_len,
        name,
    }
}

/// Shares of digits and of consonants (ASCII letters other than a, e, i, o, u) in `s`.
pub fn digit_consonant_shares(s: &str) -> (f64, f64) {
    if s.is_empty() {
        return (0.0, 0.0);
    }
    let (mut d, mut c) = (0usize, 0usize);
    for b in s.bytes() {
        if b.is_ascii_digit() {
            d += 1;
        } else if b.is_ascii_alphabetic() && !b"aeiou".contains(&b.to_ascii_lowercase()) {
            c += 1;
        }
    }
    let n = s.len() as f64;
    (d as f64 / n, c as f64 / n)
}

/// Whether `host` (an HTTP Host header or a TLS server name) is an address, with or
/// without a port or IPv6 brackets.
pub fn is_address(host: &str) -> bool {
    let h = host.trim();
    if h.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    if let Some(rest) = h.strip_prefix('[') {
        return rest
            .split(']')
            .next()
            .is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok());
    }
    h.rsplit_once(':')
        .is_some_and(|(a, p)| p.parse::<u16>().is_ok() && a.parse::<std::net::Ipv4Addr>().is_ok())
}

/// −ln of the smoothed share of each row's value among the rows (see
/// [`crate::features::rarity`]).
fn rarity_of(values: &[u32], n_values: usize) -> Vec<f64> {
    let mut counts = vec![0usize; n_values];
    for &v in values {
        counts[v as usize] += 1;
    }
    let n = values.len();
    values
        .iter()
        .map(|&v| crate::features::rarity(counts[v as usize], n))
        .collect()
}

/// Numbers texts by first appearance.
fn intern<'a>(values: impl Iterator<Item = &'a str>) -> (Vec<u32>, usize) {
    let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
    let codes = values
        .map(|v| {
            let next = ids.len() as u32;
            *ids.entry(v).or_insert(next)
        })
        .collect();
    (codes, ids.len())
}

/// The range of a row's values among a list column's inner values (`None`: unset).
type Span = Option<(usize, usize)>;

/// A list column rechunked, and for each selected row the range of its values in the
/// list's inner values (`None`: unset). `None` when the frame has no such list column.
fn list_spans(frame: &DataFrame, column: &str, rows: &[u32]) -> Option<(ListChunked, Vec<Span>)> {
    let ca = frame
        .column(column)
        .ok()?
        .as_materialized_series()
        .list()
        .ok()?
        .rechunk();
    let spans = {
        let arr = ca.downcast_iter().next()?;
        let offsets = arr.offsets().buffer();
        rows.iter()
            .map(|&r| {
                let r = r as usize;
                let unset = arr.validity().is_some_and(|v| !v.get_bit(r));
                (!unset).then(|| (offsets[r] as usize, offsets[r + 1] as usize))
            })
            .collect()
    };
    Some((ca.into_owned(), spans))
}

/// The number of values in each row's list (or comma-separated text), for the selected
/// rows; 0 when unset or missing.
fn list_lengths(frame: &DataFrame, column: &str, rows: &[u32]) -> Vec<f64> {
    if let Some((_, spans)) = list_spans(frame, column, rows) {
        return spans
            .iter()
            .map(|s| s.map_or(0.0, |(a, b)| (b - a) as f64))
            .collect();
    }
    if frame.column(column).is_err() {
        return vec![0.0; rows.len()];
    }
    let text = string_values(frame, column);
    rows.iter()
        .map(|&r| match text[r as usize] {
            Some(t) if !t.is_empty() => (t.matches(',').count() + 1) as f64,
            _ => 0.0,
        })
        .collect()
}

/// The query names of a dns log's selected rows, split and measured once for the
/// features and the behaviours (tunnels, DGA). Each distinct query text is split once
/// (a day of DNS asks the same names again and again); per row only group numbers are
/// kept.
#[derive(Debug, Clone)]
pub struct DnsRows {
    /// Each row's distinct query text (index into `measures`).
    raw_of: Vec<u32>,
    /// Per distinct query text: length, labels, characters under the registered domain,
    /// entropy, digit share, consonant share and length of the chosen part.
    measures: Vec<[f64; 7]>,
    /// Rows by registered domain.
    pub by_domain: Groups,
    /// The registered domains, by group of `by_domain`.
    pub domains: Vec<String>,
    /// Rows by query name (lower case, no trailing dot).
    pub by_name: Groups,
    /// The query names, by group of `by_name`.
    pub names: Vec<String>,
    /// Rows by public suffix.
    by_suffix: Groups,
    /// Whether each row was answered NXDOMAIN.
    pub nx: Vec<bool>,
}

/// Indices into [`DnsRows`]' measures.
const LEN: usize = 0;
const LABELS: usize = 1;
const SUB_LEN: usize = 2;
const ENTROPY: usize = 3;
const DIGITS: usize = 4;
const CONSONANTS: usize = 5;
const CHOSEN_LEN: usize = 6;

impl DnsRows {
    /// The selected rows' names, for a frame with a `query` field (`None` otherwise).
    pub fn of(frame: &DataFrame, rows: &[u32]) -> Option<Self> {
        frame.column("query").ok()?;
        let all = string_values(frame, "query");
        let (raw_of, n_raw) = intern(rows.iter().map(|&r| all[r as usize].unwrap_or("")));
        let mut raw: Vec<&str> = vec![""; n_raw];
        for (&r, &id) in rows.iter().zip(&raw_of) {
            raw[id as usize] = all[r as usize].unwrap_or("");
        }
        let split: Vec<Name> = raw.par_iter().map(|q| split_name(q)).collect();
        let measures: Vec<[f64; 7]> = split
            .par_iter()
            .map(|n| {
                let (d, c) = digit_consonant_shares(&n.chosen);
                [
                    n.name.len() as f64,
                    n.labels as f64,
                    n.sub_len as f64,
                    entropy(n.chosen.as_bytes()),
                    d,
                    c,
                    n.chosen.len() as f64,
                ]
            })
            .collect();
        // Group numbers of each distinct text's name, domain and suffix, then per row.
        let numbered = |key: &dyn Fn(&Name) -> &str| -> (Vec<u32>, Vec<String>) {
            let mut texts = Vec::new();
            let mut ids: FxHashMap<&str, u32> = FxHashMap::default();
            let of = split
                .iter()
                .map(|n| {
                    let k = key(n);
                    *ids.entry(k).or_insert_with(|| {
                        texts.push(k.to_string());
                        (texts.len() - 1) as u32
                    })
                })
                .collect();
            (of, texts)
        };
        let per_row = |of: &[u32], len: usize| Groups {
            of: raw_of.iter().map(|&r| of[r as usize]).collect(),
            len,
        };
        let (name_of, names) = numbered(&|n| n.name.as_str());
        let (domain_of, domains) = numbered(&|n| n.domain.as_str());
        let (suffix_of, suffixes) = numbered(&|n| n.suffix.as_str());
        Some(Self {
            by_domain: per_row(&domain_of, domains.len()),
            domains,
            by_name: per_row(&name_of, names.len()),
            names,
            by_suffix: per_row(&suffix_of, suffixes.len()),
            measures,
            nx: nxdomain(frame, rows),
            raw_of,
        })
    }

    fn measure(&self, i: usize, k: usize) -> f64 {
        self.measures[self.raw_of[i] as usize][k]
    }

    /// Characters of row `i`'s labels under its registered domain (no dots).
    pub fn sub_len(&self, i: usize) -> f64 {
        self.measure(i, SUB_LEN)
    }

    /// Entropy of row `i`'s chosen part, bits per character.
    pub fn entropy(&self, i: usize) -> f64 {
        self.measure(i, ENTROPY)
    }

    /// Whether row `i`'s name has a chosen part (not a reverse lookup, a bare suffix or
    /// empty).
    pub fn chosen(&self, i: usize) -> bool {
        self.measure(i, CHOSEN_LEN) > 0.0
    }

    /// A dns feature's value for every row, by name (`by_src`: the rows' sources);
    /// `None` for a name that is not one.
    pub fn column(&self, name: &str, by_src: &Groups) -> Option<Vec<f64>> {
        let per = |k: usize| -> Vec<f64> {
            self.raw_of
                .iter()
                .map(|&r| self.measures[r as usize][k])
                .collect()
        };
        Some(match name {
            "query.len" => per(LEN),
            "query.labels" => per(LABELS),
            "query.entropy" => per(ENTROPY),
            "query.digits" => per(DIGITS),
            "query.consonants" => per(CONSONANTS),
            "domain.rare" => rarity_of(&self.by_domain.of, self.by_domain.len),
            "tld.rare" => rarity_of(&self.by_suffix.of, self.by_suffix.len),
            "domain.names" => {
                // Names are a refinement of domains: one name has one domain.
                let distinct = self.by_domain.distinct(&self.by_name);
                self.by_domain
                    .of
                    .iter()
                    .map(|&g| f64::from(distinct[g as usize]))
                    .collect()
            }
            "client.nxdomain" => {
                let mut nx_per = vec![0u32; by_src.len];
                for (&g, &x) in by_src.of.iter().zip(&self.nx) {
                    nx_per[g as usize] += u32::from(x);
                }
                let counts = by_src.counts();
                by_src
                    .of
                    .iter()
                    .map(|&g| f64::from(nx_per[g as usize]) / f64::from(counts[g as usize].max(1)))
                    .collect()
            }
            _ => return None,
        })
    }
}

/// The smallest number in each selected row's list of numbers (Zeek's `TTLs`); 0 when
/// unset, empty or missing.
fn list_min(frame: &DataFrame, column: &str, rows: &[u32]) -> Vec<f64> {
    let none = || vec![0.0; rows.len()];
    let Some((ca, spans)) = list_spans(frame, column, rows) else {
        return none();
    };
    let Ok(inner) = ca.get_inner().cast(&DataType::Float64) else {
        return none();
    };
    let Ok(values) = inner.f64() else {
        return none();
    };
    let values: Vec<Option<f64>> = values.iter().collect();
    spans
        .iter()
        .map(|s| {
            s.and_then(|(a, b)| {
                values[a..b]
                    .iter()
                    .flatten()
                    .copied()
                    .filter(|v| v.is_finite())
                    .reduce(f64::min)
            })
            .unwrap_or(0.0)
        })
        .collect()
}

/// Every feature the frame's fields make, for the selected rows (`src`: each row's
/// source group, as [`crate::hosts::context::Context`] numbers them). Every value is
/// finite.
pub fn columns(
    frame: &DataFrame,
    rows: &[u32],
    by_src: &Groups,
    dns: Option<&DnsRows>,
) -> Vec<(&'static str, Vec<f64>)> {
    let mut out = Vec::new();
    let text = |c: &str| {
        let all = string_values(frame, c);
        rows.iter()
            .map(|&r| all[r as usize].unwrap_or(""))
            .collect::<Vec<&str>>()
    };
    if dns.is_some() {
        // The name features are made when asked for (DnsRows::column); these need the
        // frame.
        out.push(("answers.count", list_lengths(frame, "answers", rows)));
        out.push(("ttl.min", list_min(frame, "TTLs", rows)));
    }
    if frame.column("uri").is_ok() {
        let uris = text("uri");
        out.push(("uri.len", uris.iter().map(|u| u.len() as f64).collect()));
        out.push((
            "uri.entropy",
            uris.par_iter().map(|u| entropy(u.as_bytes())).collect(),
        ));
        let hosts = text("host");
        out.push(("host.ip", flag(&hosts, is_address)));
        let agents = text("user_agent");
        let (ua, n_ua) = intern(agents.iter().copied());
        out.push(("ua.rare", rarity_of(&ua, n_ua)));
        // Within each client: its share of requests with this agent.
        let by_src_ua = Groups::by_pairs(&by_src.of, &ua);
        let size = by_src_ua.counts();
        let src_size = by_src.counts();
        out.push((
            "ua.src_rare",
            (0..rows.len())
                .map(|i| {
                    crate::features::rarity(
                        size[by_src_ua.of[i] as usize] as usize,
                        src_size[by_src.of[i] as usize] as usize,
                    )
                })
                .collect(),
        ));
    }
    if frame.column("server_name").is_ok() {
        let names = text("server_name");
        out.push(("sni.missing", flag(&names, str::is_empty)));
        out.push(("sni.ip", flag(&names, is_address)));
        let status = text("validation_status");
        out.push((
            "cert.invalid",
            flag(&status, |s| !s.is_empty() && s != "ok"),
        ));
        out.push((
            "cert.self_signed",
            flag(&status, |s| s.contains("self signed")),
        ));
        let (server, n_server) = intern(names.iter().copied());
        out.push(("server.rare", rarity_of(&server, n_server)));
    }
    out
}

/// 1 where `holds` of the text, 0 elsewhere.
fn flag(texts: &[&str], holds: impl Fn(&str) -> bool) -> Vec<f64> {
    texts
        .iter()
        .map(|t| f64::from(u8::from(holds(t))))
        .collect()
}

/// Whether each selected row's answer was NXDOMAIN (`rcode_name`, or `rcode` 3).
pub fn nxdomain(frame: &DataFrame, rows: &[u32]) -> Vec<bool> {
    if frame.column("rcode_name").is_ok() {
        let names = string_values(frame, "rcode_name");
        return rows
            .iter()
            .map(|&r| names[r as usize] == Some("NXDOMAIN"))
            .collect();
    }
    match crate::filter::int_values(frame, "rcode") {
        Some(codes) => rows.iter().map(|&r| codes[r as usize] == Some(3)).collect(),
        None => vec![false; rows.len()],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entropy_in_closed_form() {
        assert_eq!(entropy(b""), 0.0);
        assert_eq!(entropy(b"aaaa"), 0.0);
        assert!((entropy(b"ab") - 1.0).abs() < 1e-15);
        assert!((entropy(b"abcd") - 2.0).abs() < 1e-15);
        // p = (1/2, 1/4, 1/4): 1/2·1 + 2·1/4·2 = 1.5 bits.
        assert!((entropy(b"aabc") - 1.5).abs() < 1e-15);
        // Sixteen distinct bytes: 4 bits.
        assert!((entropy(b"0123456789abcdef") - 4.0).abs() < 1e-15);
    }

    #[test]
    fn names_split_at_the_public_suffix() {
        let n = split_name("WWW.Example.CO.UK.");
        assert_eq!(n.name, "www.example.co.uk");
        assert_eq!((n.labels, n.suffix.as_str()), (4, "co.uk"));
        assert_eq!(n.domain, "example.co.uk");
        assert_eq!(n.chosen, "wwwexample");
        assert_eq!(n.sub_len, 3);
        let n = split_name("a1b2.tunnel.example.com");
        assert_eq!(
            (n.domain.as_str(), n.chosen.as_str()),
            ("example.com", "a1b2tunnelexample")
        );
        assert_eq!(n.sub_len, 10);
        // A suffix the list does not know: its last label.
        let n = split_name("printer.office.lan");
        assert_eq!(
            (n.suffix.as_str(), n.domain.as_str()),
            ("lan", "office.lan")
        );
        // A private-section suffix (a hosting platform): its customers are domains.
        let n = split_name("foo.github.io");
        assert_eq!(n.domain, "foo.github.io");
        // Reverse lookups are addresses, not chosen names.
        let n = split_name("4.3.2.1.in-addr.arpa");
        assert_eq!((n.domain.as_str(), n.chosen.as_str()), ("in-addr.arpa", ""));
        let n = split_name("");
        assert_eq!((n.labels, n.chosen.as_str()), (0, ""));
        // A bare name is its own domain, and all of it chosen.
        let n = split_name("gummybacon");
        assert_eq!(
            (n.domain.as_str(), n.chosen.as_str()),
            ("gummybacon", "gummybacon")
        );
        assert_eq!(n.suffix, "");
    }

    #[test]
    fn shares_and_addresses() {
        assert_eq!(digit_consonant_shares("a1b2"), (0.5, 0.25));
        assert_eq!(digit_consonant_shares("xkcd"), (0.0, 1.0));
        assert_eq!(digit_consonant_shares(""), (0.0, 0.0));
        assert!(is_address("10.0.0.1"));
        assert!(is_address("10.0.0.1:8080"));
        assert!(is_address("[2001:db8::1]:443"));
        assert!(is_address("2001:db8::1"));
        assert!(!is_address("example.com"));
        assert!(!is_address("example.com:80"));
        assert!(!is_address(""));
    }
}
