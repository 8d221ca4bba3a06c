//! Zeek field types, canonical field names and the aliases that map to them.

/// The kind of values a column holds once loaded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Zeek `time`: microseconds since the epoch, loaded as a polars Datetime.
    Time,
    /// Zeek `interval` (seconds) and `double`: f64.
    Float,
    /// Zeek `count`, `int` and `port`: i64.
    Int,
    /// Zeek `bool` (`T`/`F`).
    Bool,
    /// Zeek `addr`, `subnet`, `enum`, `string` and anything unknown.
    Str,
    /// `set[..]` / `vector[..]` of strings (and of anything not numeric).
    StrList,
    /// `set[..]` / `vector[..]` of `interval` or `double`.
    FloatList,
    /// `set[..]` / `vector[..]` of `count`, `int` or `port`.
    IntList,
}

/// A Zeek type as written in a `#types` header, reduced to what loading needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ZeekType {
    /// How values are stored.
    pub kind: Kind,
    /// Values are durations in seconds and are rounded to Zeek's microsecond resolution,
    /// so that TSV (printed with 6 decimals) and JSON (full precision) agree.
    pub micros: bool,
    /// Values may not be negative (`count`, `port`): a negative one is malformed.
    pub unsigned: bool,
}

impl ZeekType {
    const fn new(kind: Kind) -> Self {
        Self {
            kind,
            micros: false,
            unsigned: false,
        }
    }

    const fn interval(kind: Kind) -> Self {
        Self {
            kind,
            micros: true,
            unsigned: false,
        }
    }

    const fn unsigned(kind: Kind) -> Self {
        Self {
            kind,
            micros: false,
            unsigned: true,
        }
    }

    /// Parses a `#types` entry such as `count`, `interval` or `set[string]`.
    pub fn parse(t: &str) -> Self {
        let t = t.trim();
        let inner = t
            .strip_prefix("set[")
            .or_else(|| t.strip_prefix("vector["))
            .and_then(|r| r.strip_suffix(']'));
        if let Some(inner) = inner {
            return match inner {
                "interval" => Self::interval(Kind::FloatList),
                "double" => Self::new(Kind::FloatList),
                "count" | "int" | "port" => Self::new(Kind::IntList),
                _ => Self::new(Kind::StrList),
            };
        }
        match t {
            "time" => Self::new(Kind::Time),
            "interval" => Self::interval(Kind::Float),
            "double" => Self::new(Kind::Float),
            "count" | "port" => Self::unsigned(Kind::Int),
            "int" => Self::new(Kind::Int),
            "bool" => Self::new(Kind::Bool),
            _ => Self::new(Kind::Str),
        }
    }
}

/// Types of well-known Zeek fields, used where the log does not say (JSON lines, or a TSV
/// header with `#fields` but no `#types`). Fields not listed are inferred from the values
/// (JSON) or read as strings (TSV).
pub fn known_type(name: &str) -> Option<ZeekType> {
    let t = match name {
        "ts" => "time",
        "uid" | "service" | "conn_state" | "history" | "query" | "qclass_name" | "qtype_name"
        | "rcode_name" | "label" | "detailed-label" => "string",
        "id.orig_h" | "id.resp_h" => "addr",
        "id.orig_p" | "id.resp_p" => "port",
        "proto" => "enum",
        "duration" | "rtt" => "interval",
        "TTLs" => "vector[interval]",
        "answers" => "vector[string]",
        "tunnel_parents" => "set[string]",
        "orig_bytes" | "resp_bytes" | "missed_bytes" | "orig_pkts" | "orig_ip_bytes"
        | "resp_pkts" | "resp_ip_bytes" | "trans_id" | "qclass" | "qtype" | "rcode" | "Z" => {
            "count"
        }
        "local_orig" | "local_resp" | "AA" | "TC" | "RD" | "RA" | "rejected" => "bool",
        _ => return None,
    };
    Some(ZeekType::parse(t))
}

/// Maps a field name as found in a log to zsift's canonical name: Zeek's own names stay as
/// they are; known aliases (the flow-style names some exporters write, such as
/// `sourceAddress`, or `src_ip`) map to Zeek's; label columns of any case map to `label`
/// and `detailed-label`.
pub fn canonical_name(name: &str) -> String {
    let lower = name.to_ascii_lowercase();
    let mapped = match lower.as_str() {
        "sourceaddress" | "src_ip" | "srcaddr" | "source.ip" | "id_orig_h" | "orig_h" => {
            "id.orig_h"
        }
        "sourceport" | "src_port" | "srcport" | "source.port" | "id_orig_p" | "orig_p" => {
            "id.orig_p"
        }
        "destinationaddress" | "dst_ip" | "dstaddr" | "destination.ip" | "id_resp_h" | "resp_h" => {
            "id.resp_h"
        }
        "destinationport" | "dst_port" | "dstport" | "destination.port" | "id_resp_p"
        | "resp_p" => "id.resp_p",
        "protocol" | "network.transport" => "proto",
        "label" => "label",
        "detailed-label" | "detailedlabel" | "detailed_label" => "detailed-label",
        _ => return name.to_string(),
    };
    mapped.to_string()
}

/// Canonical names for a header's fields, with later duplicates made unique by a `_2`,
/// `_3`... suffix (a frame cannot hold two columns of one name).
pub fn canonical_names<'a>(names: impl IntoIterator<Item = &'a str>) -> Vec<String> {
    use std::collections::{HashMap, HashSet};
    let mut out: Vec<String> = Vec::new();
    let mut taken: HashSet<String> = HashSet::new();
    // The next suffix to try for each base name: a name repeated n times costs n tries in
    // all, not n² (headers are attacker-controlled).
    let mut next: HashMap<String, usize> = HashMap::new();
    for n in names {
        let mut c = canonical_name(n);
        if taken.contains(&c) {
            // An alias may collide with the real field (a log with both `proto` and
            // `protocol`): keep the original name for the later one first.
            c = n.to_string();
            if taken.contains(&c) {
                let i = next.entry(c.clone()).or_insert(2);
                let base = c;
                c = loop {
                    let candidate = format!("{base}_{i}");
                    *i += 1;
                    if !taken.contains(&candidate) {
                        break candidate;
                    }
                };
            }
        }
        taken.insert(c.clone());
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_parse() {
        assert_eq!(ZeekType::parse("count"), ZeekType::unsigned(Kind::Int));
        assert_eq!(ZeekType::parse("int"), ZeekType::new(Kind::Int));
        assert_eq!(ZeekType::parse("interval"), ZeekType::interval(Kind::Float));
        assert_eq!(ZeekType::parse("set[string]").kind, Kind::StrList);
        assert_eq!(
            ZeekType::parse("vector[interval]"),
            ZeekType::interval(Kind::FloatList)
        );
        assert_eq!(ZeekType::parse("vector[count]").kind, Kind::IntList);
        assert_eq!(ZeekType::parse("addr").kind, Kind::Str);
        assert_eq!(ZeekType::parse("bool").kind, Kind::Bool);
        assert_eq!(ZeekType::parse("time").kind, Kind::Time);
    }

    /// A header repeating one name gets unique names, each the next free suffix, in time
    /// linear in the header (200,000 copies here; a search from `_2` for each would
    /// take about 2·10¹⁰ comparisons).
    #[test]
    fn repeated_names_get_the_next_free_suffix() {
        let n = 200_000;
        let mut header = vec!["x"; n];
        header.push("x_3");
        let names = canonical_names(header.iter().copied());
        assert_eq!(names[0], "x");
        assert_eq!(names[1], "x_2");
        assert_eq!(names[n - 1], format!("x_{n}"));
        // `x_3` was taken by a copy of `x`: the field of that name gets a suffix of its own.
        assert_eq!(names[n], "x_3_2");
        let unique: std::collections::HashSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        // An alias and its field: the first takes the Zeek name, the later keeps its own.
        assert_eq!(
            canonical_names(["protocol", "proto", "proto"]),
            ["proto", "proto_2", "proto_3"]
        );
    }

    #[test]
    fn aliases_map_to_zeek_names() {
        assert_eq!(canonical_name("sourceAddress"), "id.orig_h");
        assert_eq!(canonical_name("destinationPort"), "id.resp_p");
        assert_eq!(canonical_name("protocol"), "proto");
        assert_eq!(canonical_name("Label"), "label");
        assert_eq!(canonical_name("detailedlabel"), "detailed-label");
        assert_eq!(canonical_name("id.orig_h"), "id.orig_h");
        assert_eq!(canonical_name("my_extra"), "my_extra");
    }

    #[test]
    fn duplicate_names_are_made_unique() {
        let n = canonical_names(["proto", "protocol", "x", "x"]);
        assert_eq!(n, vec!["proto", "protocol", "x", "x_2"]);
    }
}
