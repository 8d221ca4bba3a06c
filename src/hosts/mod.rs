//! Hosts and pairs as a unit of analysis: the behaviours of sources, destinations and
//! pairs ([`behaviour`]), read off the analysed rows grouped by [`context`], attributed
//! back to the rows that show them, and ranked.
//!
//! A row takes a behaviour's score only where it is part of it: an unanswered probe of a
//! scan (not the scanner's ordinary browsing), a call of a beaconing pair, a short session
//! of a brute-forced service, a connection that sent more than it got of an exfiltrating
//! pair, its own duration for a long connection.

pub mod behaviour;
pub mod context;
pub mod evidence;

use behaviour::{Behaviour, Score};
use context::{Context, Groups};

/// Number of behaviours.
pub const BEHAVIOURS: usize = Behaviour::ALL.len();

/// The behaviour scores of one host, pair or row, in [`Behaviour::ALL`] order.
pub type Scores = [Score; BEHAVIOURS];

fn empty() -> Scores {
    std::array::from_fn(|_| Score::none())
}

fn raise(into: &mut Score, s: &Score) {
    if s.value > into.value {
        *into = s.clone();
    }
}

/// The behaviours of every source, destination, pair and row of a [`Context`].
#[derive(Debug, Clone)]
pub struct Behaviours {
    /// Per source group (`Context::by_src`).
    pub src: Vec<Scores>,
    /// Per destination group (`Context::by_dst`).
    pub dst: Vec<Scores>,
    /// Per pair group (`Context::by_pair`).
    pub pair: Vec<Scores>,
    /// Per row: the largest behaviour score the row takes part in (0 if none).
    pub row: Vec<f64>,
    /// Per row: which behaviour that is (`None` if none).
    pub row_kind: Vec<Option<Behaviour>>,
    /// Per row: where its behaviour score comes from (for its reason).
    row_from: Vec<Origin>,
    horizontal: Vec<Score>,
    vertical: Vec<Score>,
    sweep: Vec<Score>,
    scanned: Vec<Score>,
    brute: Vec<Score>,
    /// Per (source, registered domain) group of a dns log: its tunnel score.
    tunnel: Vec<Score>,
    /// Per source of a dns log: its DGA score.
    dga: Vec<Score>,
    /// Whether the DNS behaviours are shown (a dns log, or one loaded beside it).
    dns_shown: bool,
}

/// Which group's score a row took.
#[derive(Debug, Clone, Copy)]
enum Origin {
    None,
    Horizontal(u32),
    Vertical(u32),
    Sweep(u32),
    Scanned(u32),
    Pair(u32, u8),
    Long,
    Brute(u32),
    Tunnel(u32),
    Dga(u32),
}

/// Per group of `g`: whether every row of it failed.
fn all_failed(ctx: &Context, g: &Groups) -> Vec<bool> {
    let f = ctx.failed_per(g);
    f.iter().zip(g.counts()).map(|(&f, c)| f == c).collect()
}

impl Behaviours {
    /// Scores every source, destination, pair and row.
    pub fn of(ctx: &Context) -> Self {
        let n = ctx.len();
        let svc_failed = all_failed(ctx, &ctx.by_service);
        let dport_failed = all_failed(ctx, &ctx.by_dport);

        // Address scans: per (source, port), the hosts reached and those that never answered.
        let sport_hosts = ctx.by_sport.distinct(&ctx.by_service);
        let sport_silent = ctx
            .by_sport
            .distinct_where(&ctx.by_service, |f| svc_failed[f]);
        let sport_port = ctx.by_sport.shared(&ctx.port);
        let horizontal: Vec<Score> = (0..ctx.by_sport.len)
            .map(|g| {
                behaviour::scan_hosts(
                    &ctx.ports[sport_port[g] as usize],
                    sport_silent[g] as usize,
                    sport_hosts[g] as usize,
                )
            })
            .collect();

        // Port scans by one source: per pair, the ports reached and those never answering.
        let pair_ports = ctx.by_pair.distinct(&ctx.by_service);
        let pair_silent = ctx
            .by_pair
            .distinct_where(&ctx.by_service, |f| svc_failed[f]);
        let pair_dst = ctx.by_pair.shared(&ctx.dst);
        let vertical: Vec<Score> = (0..ctx.by_pair.len)
            .map(|g| {
                behaviour::scan_ports(
                    &ctx.addrs[pair_dst[g] as usize],
                    pair_silent[g] as usize,
                    pair_ports[g] as usize,
                    1,
                )
            })
            .collect();

        // Sweeps by one source over any hosts and ports.
        let src_services = ctx.by_src.distinct(&ctx.by_service);
        let src_silent = ctx
            .by_src
            .distinct_where(&ctx.by_service, |f| svc_failed[f]);
        let sweep: Vec<Score> = (0..ctx.by_src.len)
            .map(|g| behaviour::scan_services(src_silent[g] as usize, src_services[g] as usize))
            .collect();

        // Port scans of one destination by any number of sources.
        let dst_ports = ctx.by_dst.distinct(&ctx.by_dport);
        let dst_silent = ctx
            .by_dst
            .distinct_where(&ctx.by_dport, |f| dport_failed[f]);
        let dst_prober_pairs = {
            // Distinct sources among the rows to the destination's silent ports.
            let mut seen = vec![false; ctx.by_pair.len];
            let mut c = vec![0u32; ctx.by_dst.len];
            for i in 0..n {
                let p = ctx.by_pair.of[i] as usize;
                if dport_failed[ctx.by_dport.of[i] as usize] && !seen[p] {
                    seen[p] = true;
                    c[ctx.by_dst.of[i] as usize] += 1;
                }
            }
            c
        };
        let dst_addr = ctx.by_dst.shared(&ctx.dst);
        let scanned: Vec<Score> = (0..ctx.by_dst.len)
            .map(|g| {
                behaviour::scan_ports(
                    &ctx.addrs[dst_addr[g] as usize],
                    dst_silent[g] as usize,
                    dst_ports[g] as usize,
                    dst_prober_pairs[g] as usize,
                )
            })
            .collect();

        // Pairs: beacon, long, exfiltration.
        let members = ctx.by_pair.members();
        let out = Context::sum_per(&ctx.by_pair, &ctx.out);
        let inb = Context::sum_per(&ctx.by_pair, &ctx.inb);
        let total = Context::sum_per(&ctx.by_pair, &ctx.duration);
        let pair_scores: Vec<Scores> = {
            use rayon::prelude::*;
            (0..ctx.by_pair.len)
                .into_par_iter()
                .with_min_len(256)
                .map(|g| {
                    let rows = members.of(g);
                    let mut s = empty();
                    s[0] = vertical[g].clone();
                    // Nobody calls a multicast group or a broadcast address home.
                    let silent = context::no_answer_expected(&ctx.addrs[pair_dst[g] as usize]);
                    if rows.len() >= behaviour::MIN_BEACON && !silent {
                        let ts: Vec<f64> = rows.iter().map(|&i| ctx.ts[i as usize]).collect();
                        let sizes: Vec<f64> = rows
                            .iter()
                            .map(|&i| ctx.out[i as usize] + ctx.inb[i as usize])
                            .collect();
                        s[1] = behaviour::beacon(&ts, &sizes);
                    }
                    let longest = rows
                        .iter()
                        .map(|&i| ctx.duration[i as usize])
                        .fold(0.0, f64::max);
                    s[2] = behaviour::long(longest, total[g], rows.len());
                    s[3] = behaviour::exfil(out[g], inb[g]);
                    s
                })
                .collect()
        };

        // Services of one peer: brute force.
        let svc_members = ctx.by_service.members();
        let svc_port = ctx.by_service.shared(&ctx.port);
        let svc_pair = ctx.by_service.shared(&ctx.by_pair.of);
        let svc_span = ctx.span_per(&ctx.by_service);
        let brute: Vec<Score> = (0..ctx.by_service.len)
            .map(|g| {
                let rows = svc_members.of(g);
                // Each guess is a new TCP session; UDP "sessions" are Zeek's flows of
                // datagrams, one per query for DNS.
                let tcp = ctx.ports[svc_port[g] as usize].ends_with("/tcp");
                if (rows.len() as f64) < behaviour::BRUTE_SESSIONS || !tcp {
                    return Score::none();
                }
                let short = rows.iter().filter(|&&i| is_short(ctx, i as usize)).count();
                let p = svc_pair[g] as usize;
                let name = format!(
                    "{} on {}",
                    ctx.ports[svc_port[g] as usize], ctx.addrs[pair_dst[p] as usize]
                );
                behaviour::brute(&name, short, rows.len(), svc_span[g])
            })
            .collect();

        let mut pair = pair_scores;
        for (g, b) in brute.iter().enumerate() {
            raise(&mut pair[svc_pair[g] as usize][4], b);
        }
        let mut src = vec![empty(); ctx.by_src.len];
        let mut dst = vec![empty(); ctx.by_dst.len];
        let src_of_pair = ctx.by_pair.shared(&ctx.by_src.of);
        let dst_of_pair = ctx.by_pair.shared(&ctx.by_dst.of);
        for (g, s) in pair.iter().enumerate() {
            for (k, b) in s.iter().enumerate() {
                raise(&mut src[src_of_pair[g] as usize][k], b);
                raise(&mut dst[dst_of_pair[g] as usize][k], b);
            }
        }
        let src_of_sport = ctx.by_sport.shared(&ctx.by_src.of);
        for (g, h) in horizontal.iter().enumerate() {
            raise(&mut src[src_of_sport[g] as usize][0], h);
        }
        for (g, s) in scanned.iter().enumerate() {
            raise(&mut dst[g][0], s);
        }
        for (g, s) in sweep.iter().enumerate() {
            raise(&mut src[g][0], s);
        }

        // DNS: tunnels per (client, domain), DGA per client.
        let dns = ctx.dns.as_ref().map(|d| dns_behaviours(ctx, d));
        if let Some(d) = &dns {
            for i in 0..n {
                let (p, s) = (ctx.by_pair.of[i] as usize, ctx.by_src.of[i] as usize);
                let t = &d.tunnel[d.by_client_domain.of[i] as usize];
                raise(&mut src[s][5], t);
                raise(&mut pair[p][5], t);
                if d.nx[i] {
                    raise(&mut src[s][6], &d.dga[s]);
                    raise(&mut pair[p][6], &d.dga[s]);
                }
            }
        }

        // Rows: the behaviours they take part in.
        let mut row = vec![0.0; n];
        let mut row_kind = vec![None; n];
        let mut row_from = vec![Origin::None; n];
        for i in 0..n {
            let p = ctx.by_pair.of[i];
            let svc = ctx.by_service.of[i];
            let mut best = (0.0, None, Origin::None);
            let mut offer = |v: f64, k: Behaviour, from: Origin| {
                if v > best.0 {
                    best = (v, Some(k), from);
                }
            };
            if ctx.failed[i] {
                if svc_failed[svc as usize] {
                    let h = ctx.by_sport.of[i];
                    offer(
                        horizontal[h as usize].value,
                        Behaviour::Scan,
                        Origin::Horizontal(h),
                    );
                    offer(
                        vertical[p as usize].value,
                        Behaviour::Scan,
                        Origin::Vertical(p),
                    );
                    let h = ctx.by_src.of[i];
                    offer(sweep[h as usize].value, Behaviour::Scan, Origin::Sweep(h));
                }
                if dport_failed[ctx.by_dport.of[i] as usize] {
                    let d = ctx.by_dst.of[i];
                    offer(
                        scanned[d as usize].value,
                        Behaviour::Scan,
                        Origin::Scanned(d),
                    );
                }
            }
            offer(
                pair[p as usize][1].value,
                Behaviour::Beacon,
                Origin::Pair(p, 1),
            );
            offer(
                behaviour::long_value(ctx.duration[i]),
                Behaviour::Long,
                Origin::Long,
            );
            if ctx.out[i] > ctx.inb[i] {
                offer(
                    pair[p as usize][3].value,
                    Behaviour::Exfil,
                    Origin::Pair(p, 3),
                );
            }
            if is_short(ctx, i) {
                offer(
                    brute[svc as usize].value,
                    Behaviour::Brute,
                    Origin::Brute(svc),
                );
            }
            if let Some(d) = &dns {
                let g = d.by_client_domain.of[i];
                offer(
                    d.tunnel[g as usize].value,
                    Behaviour::Tunnel,
                    Origin::Tunnel(g),
                );
                if d.nx[i] {
                    let s = ctx.by_src.of[i];
                    offer(d.dga[s as usize].value, Behaviour::Dga, Origin::Dga(s));
                }
            }
            row[i] = best.0;
            row_kind[i] = best.1;
            row_from[i] = best.2;
        }
        Self {
            src,
            dst,
            pair,
            row,
            row_kind,
            row_from,
            horizontal,
            vertical,
            sweep,
            scanned,
            brute,
            dns_shown: dns.is_some(),
            tunnel: dns.as_ref().map(|d| d.tunnel.clone()).unwrap_or_default(),
            dga: dns.map(|d| d.dga).unwrap_or_default(),
        }
    }

    /// The behaviours this log can show, as indices into [`Behaviour::ALL`]: the DNS
    /// ones only for a dns log, or with one loaded beside it ([`Behaviours::add_dns`]).
    pub fn shown(&self) -> Vec<usize> {
        (0..BEHAVIOURS)
            .filter(|&k| {
                self.dns_shown || !matches!(Behaviour::ALL[k], Behaviour::Tunnel | Behaviour::Dga)
            })
            .collect()
    }

    /// The scores of each group of `unit` (in the context's grouping for it).
    pub fn scores(&self, unit: Unit) -> &[Scores] {
        match unit {
            Unit::Src => &self.src,
            Unit::Dst => &self.dst,
            Unit::Pair => &self.pair,
        }
    }

    /// The behaviour row `i` takes part in and why, in words (`None` if none).
    pub fn row_reason(&self, ctx: &Context, i: usize) -> Option<String> {
        let kind = self.row_kind[i]?;
        let text = match self.row_from[i] {
            Origin::None => return None,
            Origin::Horizontal(g) => self.horizontal[g as usize].reason.clone(),
            Origin::Vertical(g) => self.vertical[g as usize].reason.clone(),
            Origin::Sweep(g) => self.sweep[g as usize].reason.clone(),
            Origin::Scanned(g) => self.scanned[g as usize].reason.clone(),
            Origin::Pair(g, k) => self.pair[g as usize][k as usize].reason.clone(),
            Origin::Long => behaviour::long(ctx.duration[i], ctx.duration[i], 1).reason,
            Origin::Brute(g) => self.brute[g as usize].reason.clone(),
            Origin::Tunnel(g) => self.tunnel[g as usize].reason.clone(),
            Origin::Dga(g) => self.dga[g as usize].reason.clone(),
        };
        Some(format!("{}: {text}", kind.name()))
    }
}

/// The DNS behaviours of a dns log's rows.
struct DnsScores {
    /// Rows by (client, registered domain).
    by_client_domain: Groups,
    /// Tunnel score per group of `by_client_domain`.
    tunnel: Vec<Score>,
    /// DGA score per source group.
    dga: Vec<Score>,
    /// Whether each row was answered NXDOMAIN.
    nx: Vec<bool>,
}

fn dns_behaviours(ctx: &Context, d: &crate::protocol::DnsRows) -> DnsScores {
    dns_scores(&ctx.by_src, d)
}

/// The DNS behaviours of rows grouped by source (`by_src`) whose names are `d`.
fn dns_scores(by_src: &Groups, d: &crate::protocol::DnsRows) -> DnsScores {
    let by_cd = Groups::by_pairs(&by_src.of, &d.by_domain.of);
    let by_cn = Groups::by_pairs(&by_src.of, &d.by_name.of);
    // Per (client, domain): its distinct names and their mean length under the domain;
    // per client: its distinct names answered NXDOMAIN that someone could have chosen
    // (not reverse lookups), their mean entropy, and one of them.
    let mut names = vec![0usize; by_cd.len];
    let mut len = vec![0.0f64; by_cd.len];
    let mut nx_names = vec![0usize; by_src.len];
    let mut nx_entropy = vec![0.0f64; by_src.len];
    let mut example = vec![None::<usize>; by_src.len];
    let mut seen = vec![false; by_cn.len];
    for i in 0..by_src.of.len() {
        let g = by_cn.of[i] as usize;
        if seen[g] {
            continue;
        }
        seen[g] = true;
        let cd = by_cd.of[i] as usize;
        names[cd] += 1;
        len[cd] += d.sub_len(i);
        if d.nx[i] && d.chosen(i) {
            let s = by_src.of[i] as usize;
            nx_names[s] += 1;
            nx_entropy[s] += d.entropy(i);
            example[s].get_or_insert(i);
        }
    }
    let domain_of = by_cd.shared(&d.by_domain.of);
    let tunnel = (0..by_cd.len)
        .map(|g| {
            behaviour::tunnel(
                &d.domains[domain_of[g] as usize],
                names[g],
                len[g] / names[g].max(1) as f64,
            )
        })
        .collect();
    let dga = (0..by_src.len)
        .map(|s| {
            let k = nx_names[s];
            if k == 0 {
                return Score::none();
            }
            let ex = example[s].map_or("", |i| d.names[d.by_name.of[i] as usize].as_str());
            behaviour::dga(k, nx_entropy[s] / k as f64, ex)
        })
        .collect();
    DnsScores {
        by_client_domain: by_cd,
        tunnel,
        dga,
        nx: d.nx.clone(),
    }
}

/// The DNS behaviours (tunnel, DGA) of a dns log's clients, by address: what the hosts
/// of another log's analysis (a conn log's sources) take from the dns log loaded with it.
#[derive(Debug, Clone, Default)]
pub struct DnsHosts {
    by_addr: rustc_hash::FxHashMap<String, [Score; 2]>,
}

impl DnsHosts {
    /// The clients of every row of a dns log (`None` for a frame without queries).
    pub fn of(frame: &polars::prelude::DataFrame) -> Option<Self> {
        let rows: Vec<u32> = (0..frame.height() as u32).collect();
        let d = crate::protocol::DnsRows::of(frame, &rows)?;
        let addrs = crate::filter::string_values(frame, "id.orig_h");
        let mut names: Vec<&str> = Vec::new();
        let mut ids: rustc_hash::FxHashMap<Option<&str>, u32> = Default::default();
        let of: Vec<u32> = addrs
            .iter()
            .map(|a| {
                *ids.entry(*a).or_insert_with(|| {
                    names.push(a.unwrap_or("-"));
                    (names.len() - 1) as u32
                })
            })
            .collect();
        let by_src = Groups {
            of,
            len: names.len(),
        };
        let s = dns_scores(&by_src, &d);
        let mut by_addr: rustc_hash::FxHashMap<String, [Score; 2]> = Default::default();
        for (i, &g) in by_src.of.iter().enumerate() {
            let e = by_addr
                .entry(names[g as usize].to_string())
                .or_insert_with(|| [Score::none(), Score::none()]);
            raise(&mut e[0], &s.tunnel[s.by_client_domain.of[i] as usize]);
            raise(&mut e[1], &s.dga[g as usize]);
        }
        by_addr.retain(|_, v| v[0].value > 0.0 || v[1].value > 0.0);
        Some(Self { by_addr })
    }

    /// Clients with a DNS behaviour.
    pub fn len(&self) -> usize {
        self.by_addr.len()
    }

    /// Whether no client has one.
    pub fn is_empty(&self) -> bool {
        self.by_addr.is_empty()
    }
}

impl Behaviours {
    /// Gives each source of `ctx` the DNS behaviours its address has in `dns` (the dns
    /// log loaded beside the analysed one); the DNS behaviours are then shown.
    pub fn add_dns(&mut self, ctx: &Context, dns: &DnsHosts) {
        self.dns_shown = true;
        let src_addr = ctx.by_src.shared(&ctx.src);
        for (g, &a) in src_addr.iter().enumerate() {
            if let Some([t, d]) = dns.by_addr.get(&ctx.addrs[a as usize]) {
                raise(&mut self.src[g][5], t);
                raise(&mut self.src[g][6], d);
            }
        }
    }
}

/// A session that was answered and moved fewer than [`behaviour::SHORT_BYTES`] both ways:
/// a guess needs a session to guess in (unanswered repeats are a scan's or a flood's).
fn is_short(ctx: &Context, i: usize) -> bool {
    !ctx.failed[i] && ctx.out[i] + ctx.inb[i] < behaviour::SHORT_BYTES
}

/// What a ranking ranks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Source addresses (`id.orig_h`).
    Src,
    /// Destination addresses (`id.resp_h`).
    Dst,
    /// (source, destination) pairs.
    Pair,
}

impl Unit {
    /// Its name in output.
    pub fn name(self) -> &'static str {
        match self {
            Unit::Src => "src",
            Unit::Dst => "dst",
            Unit::Pair => "pair",
        }
    }
}

/// One ranked host or pair.
#[derive(Debug, Clone)]
pub struct Ranked {
    /// What it is.
    pub unit: Unit,
    /// The host (the source, for a pair).
    pub host: String,
    /// The destination, for a pair.
    pub dst: Option<String>,
    /// The host score in `[0, 1]`: the larger of `behaviour` and `anomaly`.
    pub score: f64,
    /// Its largest behaviour score.
    pub behaviour: f64,
    /// How anomalous its connections are: the mean percentile of its analysed rows among
    /// all analysed rows by row score, with one more row at the median (0.5) counted in,
    /// so that one connection is weak evidence about a host.
    pub anomaly: f64,
    /// Its connections.
    pub rows: usize,
    /// Its flagged connections.
    pub flagged: usize,
    /// Each behaviour's score, in [`Behaviour::ALL`] order.
    pub scores: [f64; BEHAVIOURS],
    /// Its group in the context's grouping for `unit` (`Context::by_src`, ...).
    pub group: usize,
}

impl Ranked {
    /// Reasons, strongest first: each behaviour scoring at least [`REASON_MIN`], in words
    /// (from `beh`, the behaviours it was ranked with).
    pub fn reasons(&self, beh: &Behaviours) -> Vec<String> {
        let scores = &beh.scores(self.unit)[self.group];
        let mut s: Vec<(&Score, Behaviour)> = scores
            .iter()
            .zip(Behaviour::ALL)
            .filter(|(s, _)| s.value >= REASON_MIN)
            .collect();
        s.sort_by(|a, b| b.0.value.total_cmp(&a.0.value));
        s.into_iter()
            .map(|(s, b)| format!("{}: {}", b.name(), s.reason))
            .collect()
    }

    /// The host (or `src -> dst` for a pair), for text.
    pub fn label(&self) -> String {
        match &self.dst {
            Some(d) => format!("{} -> {}", self.host, d),
            None => self.host.clone(),
        }
    }
}

/// Behaviour scores below this are not given as reasons (nor put in words at all).
pub const REASON_MIN: f64 = behaviour::WORDS_MIN;

/// Each row's percentile among the rows by `score` (ties share the highest), in `(0, 1]`;
/// rows whose score is NaN (not analysed) are left out and get NaN.
pub fn percentiles(score: &[f64]) -> Vec<f64> {
    // The rows by score (a sort of row numbers by score took 3 s of the views' data on
    // one core at 10M rows).
    let keyed = crate::pipeline::sorted_by_key(
        score.len(),
        |i| !score[i].is_nan(),
        |i| crate::pipeline::total_key(score[i]),
    );
    let n = keyed.len();
    let mut p = vec![f64::NAN; score.len()];
    let mut i = 0;
    while i < n {
        // Equal keys are equal scores (the same bits).
        let mut j = i;
        while j + 1 < n && keyed[j + 1].0 == keyed[i].0 {
            j += 1;
        }
        for &(_, k) in &keyed[i..=j] {
            p[k as usize] = (j + 1) as f64 / n as f64;
        }
        i = j + 1;
    }
    p
}

/// Ranks the sources, destinations or pairs of `ctx` by host score, highest first (ties
/// by more rows, then by the smaller of behaviour and anomaly, then by first appearance).
/// `row_score` and `flagged` are per context row; a NaN score marks a row the analysis
/// left out (an unset feature under `--nulls drop`), which counts among the host's
/// connections but not in its anomaly.
pub fn rank(
    ctx: &Context,
    beh: &Behaviours,
    unit: Unit,
    row_score: &[f64],
    flagged: &[bool],
) -> Vec<Ranked> {
    rank_by_percentile(ctx, beh, unit, &percentiles(row_score), flagged)
}

/// [`rank`] from the rows' [`percentiles`] (made once for several units).
pub fn rank_by_percentile(
    ctx: &Context,
    beh: &Behaviours,
    unit: Unit,
    pct: &[f64],
    flagged: &[bool],
) -> Vec<Ranked> {
    let (groups, scores) = (ctx.groups(unit), beh.scores(unit));
    let mut sum = vec![0.5f64; groups.len];
    let mut analysed = vec![1.0f64; groups.len];
    let mut n_flagged = vec![0usize; groups.len];
    for (i, &g) in groups.of.iter().enumerate() {
        let g = g as usize;
        if !pct[i].is_nan() {
            sum[g] += pct[i];
            analysed[g] += 1.0;
        }
        n_flagged[g] += usize::from(flagged.get(i).copied().unwrap_or(false));
    }
    let counts = groups.counts();
    let anomaly: Vec<f64> = sum.iter().zip(&analysed).map(|(s, n)| s / n).collect();
    let src_of = groups.shared(&ctx.src);
    let dst_of = groups.shared(&ctx.dst);
    let mut out: Vec<Ranked> = (0..groups.len)
        .map(|g| {
            let values: [f64; BEHAVIOURS] = std::array::from_fn(|k| scores[g][k].value);
            let behaviour = values.iter().copied().fold(0.0, f64::max);
            let (host, dst) = match unit {
                Unit::Src => (ctx.addrs[src_of[g] as usize].clone(), None),
                Unit::Dst => (ctx.addrs[dst_of[g] as usize].clone(), None),
                Unit::Pair => (
                    ctx.addrs[src_of[g] as usize].clone(),
                    Some(ctx.addrs[dst_of[g] as usize].clone()),
                ),
            };
            Ranked {
                unit,
                host,
                dst,
                score: behaviour.max(anomaly[g]),
                behaviour,
                anomaly: anomaly[g],
                rows: counts[g] as usize,
                flagged: n_flagged[g],
                scores: values,
                group: g,
            }
        })
        .collect();
    out.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.rows.cmp(&a.rows))
            .then(
                b.behaviour
                    .min(b.anomaly)
                    .total_cmp(&a.behaviour.min(a.anomaly)),
            )
            .then(a.group.cmp(&b.group))
    });
    out
}

/// Share of the rows from which one behaviour is said to dominate the log: past a third,
/// its rows shape what the row-by-row detectors take as normal.
pub const DOMINANT_SHARE: f64 = 1.0 / 3.0;

/// Warnings in words: each behaviour that at least [`DOMINANT_SHARE`] of the rows take
/// part in (with a score of at least [`REASON_MIN`]), which turns a ranking of rows judged
/// alone upside down. `evidence` is the failure evidence when it entered the rows' scores
/// (the default): where it covers most of those rows, they rank first anyway, and the
/// warning says so instead.
pub fn warnings(beh: &Behaviours, evidence: Option<&evidence::Evidence>) -> Vec<String> {
    let n = beh.row.len();
    if n == 0 {
        return Vec::new();
    }
    Behaviour::ALL
        .iter()
        .filter_map(|&b| {
            let rows: Vec<usize> = (0..n)
                .filter(|&i| beh.row_kind[i] == Some(b) && beh.row[i] >= REASON_MIN)
                .collect();
            let k = rows.len();
            let share = k as f64 / n as f64;
            let covered = evidence
                .is_some_and(|e| 2 * rows.iter().filter(|&&i| e.nats[i] > 0.0).count() >= k);
            (share >= DOMINANT_SHARE).then(|| {
                let then = if covered {
                    "their hosts' failure evidence ranks them first; the Hosts tab (`zsift \
                     hosts`) shows who"
                } else {
                    "so the row ranking may be upside down; rank hosts (Hosts tab, `zsift \
                     hosts`) or train on a label (--train-label)"
                };
                format!(
                    "{} explains {:.0}% of the rows ({k} of {n}): judged one by one they look \
                     normal, {then}",
                    b.name(),
                    share * 100.0
                )
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use polars::prelude::*;

    #[test]
    fn percentiles_share_ties_and_leave_out_nan() {
        let p = percentiles(&[0.3, 0.1, 0.3, f64::NAN, 0.9]);
        assert_eq!(p[..3], [0.75, 0.25, 0.75]);
        assert!(p[3].is_nan());
        assert_eq!(p[4], 1.0);
        assert!(percentiles(&[]).is_empty());
        // Against the definition on many rows with ties, signed zeros and NaN: the share
        // of the analysed rows whose score is at most the row's.
        let score: Vec<f64> = (0..5000)
            .map(|i| match i % 97 {
                0 => f64::NAN,
                1 => -0.0,
                2 => 0.0,
                k => ((k * 7919) % 113) as f64 / 10.0 - 3.0,
            })
            .collect();
        let p = percentiles(&score);
        let kept: Vec<f64> = score.iter().copied().filter(|v| !v.is_nan()).collect();
        for (s, q) in score.iter().zip(&p) {
            if s.is_nan() {
                assert!(q.is_nan());
                continue;
            }
            let at_most = kept.iter().filter(|v| v.total_cmp(s).is_le()).count();
            assert_eq!(*q, at_most as f64 / kept.len() as f64, "{s}");
        }
    }

    /// A sweep by `s` of 30 hosts on port 23 (silent), its one web session, and a
    /// workstation's ten answered sessions to one server.
    fn sweep() -> (Context, Behaviours) {
        let mut src = vec![];
        let mut dst = vec![];
        let mut state = vec![];
        let mut port = vec![];
        let mut out = vec![];
        for i in 0..30 {
            src.push("s".to_string());
            dst.push(format!("10.0.0.{i}"));
            state.push("S0");
            port.push(23i64);
            out.push(0i64);
        }
        src.push("s".into());
        dst.push("web".into());
        state.push("SF");
        port.push(443);
        out.push(300);
        for _ in 0..10 {
            src.push("w".into());
            dst.push("web".into());
            state.push("SF");
            port.push(443);
            out.push(500);
        }
        let n = src.len();
        let f = df!(
            "id.orig_h" => src,
            "id.resp_h" => dst,
            "id.resp_p" => port,
            "proto" => vec!["tcp"; n],
            "conn_state" => state,
            "orig_bytes" => out,
            "resp_bytes" => vec![100i64; n],
            // The workstation's sessions at irregular times: no beacon.
            "ts" => (0..31)
                .map(f64::from)
                .chain([40.0, 47.0, 49.0, 70.0, 71.0, 100.0, 140.0, 141.0, 240.0, 390.0])
                .collect::<Vec<_>>()
        )
        .unwrap();
        let ctx = Context::build(&f, &(0..n as u32).collect::<Vec<_>>());
        let beh = Behaviours::of(&ctx);
        (ctx, beh)
    }

    #[test]
    fn a_sweep_is_the_sources_and_its_probes_take_part() {
        let (ctx, beh) = sweep();
        let s = ctx.by_src.of[0] as usize;
        assert_eq!(beh.src[s][0].value, 1.0);
        assert_eq!(beh.src[s][0].reason, "23/tcp on 30 hosts, 100% unanswered");
        // The probes take part; the scanner's answered web session and the workstation's
        // sessions do not.
        assert!(beh.row[..30].iter().all(|&v| v == 1.0));
        assert!(beh.row_kind[..30]
            .iter()
            .all(|&k| k == Some(Behaviour::Scan)));
        assert_eq!(beh.row[30], 0.0);
        assert!(beh.row[31..].iter().all(|&v| v == 0.0));
        assert_eq!(
            beh.row_reason(&ctx, 0).as_deref(),
            Some("scan: 23/tcp on 30 hosts, 100% unanswered")
        );
        // One behaviour in 30 of 41 rows: a warning, worded by whether the evidence covers it.
        let w = warnings(&beh, None);
        assert_eq!(w.len(), 1);
        assert!(
            w[0].starts_with("scan explains 73% of the rows (30 of 41)"),
            "{w:?}"
        );
        assert!(w[0].contains("upside down"));
        let ev = evidence::Evidence::of(&ctx);
        assert!(warnings(&beh, Some(&ev))[0].contains("failure evidence ranks them first"));
    }

    #[test]
    fn hosts_rank_by_behaviour_then_anomaly_and_unanalysed_rows_do_not_count() {
        let (ctx, beh) = sweep();
        let n = ctx.len();
        // Row scores: the workstation's rows are the most anomalous.
        let mut score: Vec<f64> = (0..n).map(|i| if i > 30 { 1.0 } else { 0.0 }).collect();
        let flagged = vec![false; n];
        let r = rank(&ctx, &beh, Unit::Src, &score, &flagged);
        assert_eq!((r[0].host.as_str(), r[0].score), ("s", 1.0));
        assert_eq!(r[1].host, "w");
        // Its ten rows tie at the top percentile (1.0): (10 + 0.5) / 11.
        assert!((r[1].anomaly - 10.5 / 11.0).abs() < 1e-12);
        // Rows the analysis left out (NaN) are connections, not anomaly.
        for s in &mut score[31..36] {
            *s = f64::NAN;
        }
        let r = rank(&ctx, &beh, Unit::Src, &score, &flagged);
        assert_eq!(r[1].rows, 10);
        assert!((r[1].anomaly - 5.5 / 6.0).abs() < 1e-12, "{}", r[1].anomaly);
        assert_eq!(
            r[0].reasons(&beh),
            vec!["scan: 23/tcp on 30 hosts, 100% unanswered".to_string()]
        );
    }
}
