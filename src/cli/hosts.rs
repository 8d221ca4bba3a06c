//! `zsift hosts`: sources, destinations or pairs ranked by host score, with their
//! behaviour scores and reasons.

use std::io::Write;

use clap::ValueEnum;
use serde_json::{json, Map, Value};

use super::model::ModelArgs;
use super::{CliError, Input};
use crate::cancel::Cancel;
use crate::hosts::behaviour::Behaviour;
use crate::hosts::{self, Unit};
use crate::sanitize::sanitize;

/// What to rank, on the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum UnitArg {
    /// Source addresses.
    Src,
    /// Destination addresses.
    Dst,
    /// (source, destination) pairs.
    Pair,
}

impl From<UnitArg> for Unit {
    fn from(u: UnitArg) -> Self {
        match u {
            UnitArg::Src => Unit::Src,
            UnitArg::Dst => Unit::Dst,
            UnitArg::Pair => Unit::Pair,
        }
    }
}

pub fn run(
    input: &Input,
    model: &ModelArgs,
    unit: UnitArg,
    top: usize,
    as_json: bool,
    out: &mut dyn Write,
) -> Result<(), CliError> {
    // A dns log loaded beside the analysed one gives its clients' DNS behaviours.
    let all = input.load_all()?;
    let kind = input
        .kind
        .clone()
        .unwrap_or_else(|| all.default_kind().to_string());
    let dns = (kind != "dns")
        .then(|| {
            all.get("dns")
                .and_then(|l| crate::hosts::DnsHosts::of(&l.frame))
        })
        .flatten();
    let log = all.take(Some(&kind))?;
    let (m, mut a) = model.analyze(&log, &Cancel::new())?;
    if let Some(d) = &dns {
        a.add_dns_hosts(d);
    }
    let unit = Unit::from(unit);
    let ranked = a.hosts(unit);
    let shown = if top == 0 {
        &ranked[..]
    } else {
        &ranked[..top.min(ranked.len())]
    };
    if as_json {
        let list: Vec<Value> = shown
            .iter()
            .enumerate()
            .map(|(i, h)| {
                let mut o = Map::new();
                o.insert("rank".into(), json!(i + 1));
                match &h.dst {
                    Some(d) => {
                        o.insert("src".into(), json!(h.host));
                        o.insert("dst".into(), json!(d));
                    }
                    None => {
                        o.insert("host".into(), json!(h.host));
                    }
                }
                o.insert("score".into(), json!(h.score));
                o.insert("rows".into(), json!(h.rows));
                o.insert("flagged".into(), json!(h.flagged));
                o.insert("behaviour".into(), json!(h.behaviour));
                o.insert("anomaly".into(), json!(h.anomaly));
                for (b, s) in Behaviour::ALL.iter().zip(&h.scores) {
                    o.insert(b.name().into(), json!(s));
                }
                o.insert("reasons".into(), json!(h.reasons(&a.behaviours)));
                Value::Object(o)
            })
            .collect();
        crate::sanitize::write_json(&mut *out, &Value::Array(list))?;
        writeln!(out)?;
        return Ok(());
    }
    writeln!(
        out,
        "{} {}s ranked ({}); score = max(behaviour, anomaly)",
        ranked.len(),
        unit.name(),
        sanitize(&m.filter.describe())
    )?;
    for w in hosts::warnings(&a.behaviours, a.host_evidence.then_some(&a.evidence)) {
        writeln!(out, "note: {w}")?;
    }
    let width = shown
        .iter()
        .map(|h| sanitize(&h.label()).chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 45);
    write!(
        out,
        "{:>4}  {:<width$}  {:>5} {:>7} {:>7}",
        "rank",
        unit.name(),
        "score",
        "rows",
        "flagged"
    )?;
    let kinds = a.behaviours.shown();
    for &k in &kinds {
        write!(out, " {:>6}", Behaviour::ALL[k].name())?;
    }
    writeln!(out, "  reasons")?;
    for (i, h) in shown.iter().enumerate() {
        write!(
            out,
            "{:>4}  {:<width$}  {:>5.3} {:>7} {:>7}",
            i + 1,
            sanitize(&h.label()),
            h.score,
            h.rows,
            h.flagged
        )?;
        for &k in &kinds {
            write!(out, " {:>6.2}", h.scores[k])?;
        }
        writeln!(out, "  {}", sanitize(&h.reasons(&a.behaviours).join("; ")))?;
    }
    Ok(())
}
