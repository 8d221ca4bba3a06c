//! HDBSCAN: Campello, Moulavi, Sander, "Density-Based Clustering Based on Hierarchical
//! Density Estimates", PAKDD 2013, with the accelerated pipeline of McInnes, Healy,
//! "Accelerated Hierarchical Density Clustering", ICDMW 2017. Follows the `hdbscan`
//! Python package (scikit-learn-contrib, 0.8.x: `hdbscan_.py`, `_hdbscan_tree.pyx`) with
//! its defaults: Euclidean metric, `min_samples = min_cluster_size`, excess-of-mass
//! selection, `allow_single_cluster=False`.
//!
//! Steps: core distances from an exact k-d tree; the minimum spanning tree of the mutual
//! reachability graph by Borůvka's algorithm (each round asks the tree, for every point,
//! for its cheapest edge leaving its component, pruning subtrees that lie inside the
//! component or cannot beat the best edge so far); the single-linkage hierarchy; the
//! condensed tree; cluster stabilities; excess-of-mass selection; labels, membership
//! strengths and GLOSH outlier scores.
//!
//! Everything is deterministic: the parallel queries are independent and their results
//! are reduced in row order.

use ndarray::ArrayView2;
use rayon::prelude::*;

use super::ClusterError;
use crate::cancel::Cancel;
use crate::neighbors::{sq_dist, sq_dist_below, CountedTree, KdTree};

/// Rows per parallel work item between two cancellation checks.
const CHUNK: usize = 1024;
/// Tree leaves per parallel work item of a search.
const LEAVES_PER_ITEM: usize = 8;
/// Every this many rows of a component, one is searched before the others to bound them.
const PROBE: usize = 32;
/// Marks a k-d tree node whose points lie in more than one component.
const MIXED: usize = usize::MAX;

/// HDBSCAN parameters (the `hdbscan` package's names and defaults).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HdbscanParams {
    /// Smallest group of rows that counts as a cluster (default 10).
    pub min_cluster_size: usize,
    /// Neighbours that make a row a core point; `None` means `min_cluster_size`. As in
    /// the `hdbscan` package, the row itself is not counted: the core distance is the
    /// distance to the `min_samples`-th other row.
    pub min_samples: Option<usize>,
}

impl Default for HdbscanParams {
    fn default() -> Self {
        Self {
            min_cluster_size: 10,
            min_samples: None,
        }
    }
}

/// The flat clustering of every row.
#[derive(Debug, Clone, PartialEq)]
pub struct Clusters {
    /// Cluster of each row, `0..count`, or `-1` for noise.
    pub labels: Vec<i32>,
    /// Number of clusters.
    pub count: usize,
    /// Membership strength of each row in its cluster, in `[0, 1]` (0 for noise), as the
    /// `hdbscan` package's `probabilities_`.
    pub probabilities: Vec<f64>,
    /// GLOSH outlier score of each row, in `[0, 1]`, higher = more outlying (Campello,
    /// Moulavi, Zimek, Sander 2015), as the `hdbscan` package's `outlier_scores_`.
    pub outlier_scores: Vec<f64>,
}

impl Clusters {
    /// Number of noise rows.
    pub fn noise(&self) -> usize {
        self.labels.iter().filter(|&&l| l < 0).count()
    }

    /// Every row noise: too few rows to form a cluster.
    fn all_noise(n: usize) -> Self {
        Self {
            labels: vec![-1; n],
            count: 0,
            probabilities: vec![0.0; n],
            outlier_scores: vec![0.0; n],
        }
    }
}

/// Clusters the rows of `x` (rows × features, finite values).
///
/// Fewer rows than `min_cluster_size` cannot form a cluster and give all noise; an empty
/// matrix, a matrix without columns, non-finite values or `min_cluster_size < 2` are
/// errors.
pub fn hdbscan(
    x: ArrayView2<f64>,
    params: &HdbscanParams,
    cancel: &Cancel,
) -> Result<Clusters, ClusterError> {
    let (n, d) = x.dim();
    if n == 0 {
        return Err(ClusterError::Input("no rows to cluster".into()));
    }
    if d == 0 {
        return Err(ClusterError::Input("the matrix has no columns".into()));
    }
    if params.min_cluster_size < 2 {
        return Err(ClusterError::Input(format!(
            "min_cluster_size must be at least 2, got {}",
            params.min_cluster_size
        )));
    }
    if params.min_samples == Some(0) {
        return Err(ClusterError::Input("min_samples must be at least 1".into()));
    }
    if let Some(((r, c), v)) = x.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(ClusterError::Input(format!(
            "value {v} at row {r}, column {c} is not a finite number"
        )));
    }
    if n < params.min_cluster_size {
        return Ok(Clusters::all_noise(n));
    }
    // As the `hdbscan` package: at most every other row.
    let min_samples = params
        .min_samples
        .unwrap_or(params.min_cluster_size)
        .min(n - 1);

    let mst = reachability_tree(x, min_samples, cancel)?;
    cancel.check()?;
    let hierarchy = single_linkage(n, mst);
    let condensed = condense(&hierarchy, n, params.min_cluster_size);
    Ok(extract(&condensed, n))
}

/// The minimum spanning tree of the mutual reachability graph of the rows of `x` (at
/// least `min_samples + 1` of them), core distances to the `min_samples`-th nearest other
/// row.
fn reachability_tree(
    x: ArrayView2<f64>,
    min_samples: usize,
    cancel: &Cancel,
) -> Result<Vec<Edge>, ClusterError> {
    debug_assert!(min_samples >= 1 && min_samples < x.nrows());
    // Identical rows are one point of the tree that counts its copies. An edge between
    // two copies weighs their common core distance, a floor for every edge of either, so
    // such edges belong to a minimum spanning tree: each row is joined to the first row
    // of its copies (which makes the hierarchy inside a group of copies a chain), and the
    // spanning tree's searches run over the distinct rows only.
    let (counted, of_row) = CountedTree::build(x);
    let distinct = counted.distinct_len();
    // A row's core distance: to its `min_samples`-th nearest other row, copies counted
    // (the `hdbscan` package asks for `min_samples + 1` neighbours, the row included).
    let nb = counted.kneighbors_self(min_samples, cancel)?;
    let core: Vec<f64> = (0..distinct)
        .map(|i| nb.dist_of(i)[min_samples - 1])
        .collect();
    // Only the neighbours themselves are needed now.
    let knn = nb.idx;
    // The spanning tree's searches walk the same tree: a distinct row's id is its
    // position there.
    let between = spanning_tree(counted.tree(), &core, &knn, min_samples, cancel)?;
    drop((counted, knn));
    let mut first = vec![usize::MAX; distinct];
    for (r, &id) in of_row.iter().enumerate() {
        if first[id] == usize::MAX {
            first[id] = r;
        }
    }
    let mut mst: Vec<Edge> = between
        .into_iter()
        .map(|e| Edge {
            a: first[e.a],
            b: first[e.b],
            w: e.w,
        })
        .collect();
    mst.extend(
        of_row
            .iter()
            .enumerate()
            .filter(|&(r, &id)| first[id] != r)
            .map(|(r, &id)| Edge {
                a: first[id],
                b: r,
                w: core[id],
            }),
    );
    Ok(mst)
}

/// Union-find with path halving and union by size.
struct UnionFind {
    parent: Vec<usize>,
    size: Vec<usize>,
}

impl UnionFind {
    fn new(n: usize) -> Self {
        Self {
            parent: (0..n).collect(),
            size: vec![1; n],
        }
    }

    fn find(&mut self, mut x: usize) -> usize {
        while self.parent[x] != x {
            self.parent[x] = self.parent[self.parent[x]];
            x = self.parent[x];
        }
        x
    }

    /// Joins the sets of `a` and `b`; returns the new root, or `None` if already joined.
    fn union(&mut self, a: usize, b: usize) -> Option<usize> {
        let (mut ra, mut rb) = (self.find(a), self.find(b));
        if ra == rb {
            return None;
        }
        if self.size[ra] < self.size[rb] {
            std::mem::swap(&mut ra, &mut rb);
        }
        self.parent[rb] = ra;
        self.size[ra] += self.size[rb];
        Some(ra)
    }
}

/// An edge of the spanning tree.
#[derive(Debug, Clone, Copy)]
struct Edge {
    a: usize,
    b: usize,
    w: f64,
}

/// Mutual reachability distance of points `p` and `q` of core distances `core_p`,
/// `core_q`.
fn mutual_reachability(p: &[f64], q: &[f64], core_p: f64, core_q: f64) -> f64 {
    core_p.max(core_q).max(sq_dist(p, q).sqrt())
}

/// State shared by the per-point searches of one Borůvka round.
struct Round<'a> {
    /// The counted tree: positions are distinct rows, boxes in its axes.
    tree: &'a KdTree,
    /// Every row turned as the tree's boxes are, by position.
    turned: &'a [f64],
    /// Squared core distances.
    core2: &'a [f64],
    /// Component of each row.
    comp: &'a [usize],
    /// Component of every point under each node, or [`MIXED`].
    node_comp: &'a [usize],
    /// Smallest squared core distance under each node.
    node_core2: &'a [f64],
}

impl Round<'_> {
    /// The row at `pos` turned as the tree's boxes are.
    fn turned(&self, pos: usize) -> &[f64] {
        let d = self.tree.dim();
        &self.turned[pos * d..(pos + 1) * d]
    }

    /// Lowers `best` (squared mutual reachability, row) to the cheapest edge from the row
    /// at `q` (core² `c2`, component `cq`) to another component, if one is cheaper.
    fn search(&self, node: usize, qpos: usize, c2: f64, cq: usize, best: &mut (f64, usize)) {
        if self.node_comp[node] == cq {
            return;
        }
        match self.tree.children(node) {
            None => self.scan(node, self.tree.point_at(qpos), c2, cq, best),
            Some((l, r)) => {
                let q = self.turned(qpos);
                let bound = |c: usize| {
                    c2.max(self.node_core2[c])
                        .max(self.tree.floor(self.tree.box_dist2(c, q)))
                };
                let (bl, br) = (bound(l), bound(r));
                let ((first, b1), (second, b2)) = if bl <= br {
                    ((l, bl), (r, br))
                } else {
                    ((r, br), (l, bl))
                };
                if b1 < best.0 {
                    self.search(first, qpos, c2, cq, best);
                }
                // A row's own core distance is a floor for all its edges.
                if b2 < best.0 && best.0 > c2 {
                    self.search(second, qpos, c2, cq, best);
                }
            }
        }
    }
}

impl Round<'_> {
    /// Lowers `best` to the cheapest edge from the row at `q` (its own coordinates; core²
    /// `c2`, component `cq`) to a row of leaf `node` outside `cq`, if one is cheaper.
    fn scan(&self, node: usize, q: &[f64], c2: f64, cq: usize, best: &mut (f64, usize)) {
        for pos in self.tree.positions(node) {
            if self.comp[pos] == cq {
                continue;
            }
            // The distance matters only below the current best.
            let Some(d2) = sq_dist_below(q, self.tree.point_at(pos), best.0) else {
                continue;
            };
            let w2 = c2.max(self.core2[pos]).max(d2);
            if w2 < best.0 {
                *best = (w2, pos);
            }
        }
    }
}

/// Rows of one leaf of the tree, all in one component, searching together: one walk of
/// the tree serves them all.
struct LeafQuery<'a> {
    /// The leaf.
    leaf: usize,
    /// Their component.
    comp: usize,
    /// Row (its tree position) and squared core distance of each.
    rows: &'a [(usize, f64)],
    /// Smallest squared core distance among them.
    min_c2: f64,
}

impl Round<'_> {
    /// [`Round::search_leaf`] from the root for `rows` of `leaf`, all in component
    /// `comp`, their bests in `best`.
    fn search_group(
        &self,
        leaf: usize,
        comp: usize,
        rows: &[(usize, f64)],
        best: &mut [(f64, usize)],
    ) {
        let lq = LeafQuery {
            leaf,
            comp,
            rows,
            min_c2: rows.iter().map(|r| r.1).fold(f64::INFINITY, f64::min),
        };
        let mut worst = best.iter().map(|b| b.0).fold(f64::NEG_INFINITY, f64::max);
        self.search_leaf(0, &lq, best, &mut worst);
    }

    /// [`Round::search`] for every row of `lq` at once: `best[i]` is lowered to the
    /// cheapest edge from row `lq.rows[i]` to another component, if one is cheaper. A
    /// subtree is skipped when it lies in their component, or when no edge into it can
    /// beat the dearest of their current bests (its box's distance to the leaf's box, its
    /// smallest core distance and theirs are floors for every such edge).
    fn search_leaf(&self, node: usize, lq: &LeafQuery, best: &mut [(f64, usize)], worst: &mut f64) {
        if self.node_comp[node] == lq.comp {
            return;
        }
        match self.tree.children(node) {
            None => {
                let floor = lq.min_c2.max(self.node_core2[node]);
                for (i, &(qpos, c2)) in lq.rows.iter().enumerate() {
                    if c2.max(self.node_core2[node]) >= best[i].0 {
                        continue;
                    }
                    let q = self.turned(qpos);
                    if floor.max(self.tree.floor(self.tree.box_dist2(node, q))) >= best[i].0 {
                        continue;
                    }
                    self.scan(node, self.tree.point_at(qpos), c2, lq.comp, &mut best[i]);
                }
                *worst = best.iter().map(|b| b.0).fold(f64::NEG_INFINITY, f64::max);
            }
            Some((l, r)) => {
                let bound = |c: usize| {
                    lq.min_c2
                        .max(self.node_core2[c])
                        .max(self.tree.floor(self.tree.box_box_dist2(lq.leaf, c)))
                };
                let (bl, br) = (bound(l), bound(r));
                let ((first, b1), (second, b2)) = if bl <= br {
                    ((l, bl), (r, br))
                } else {
                    ((r, br), (l, bl))
                };
                if b1 < *worst {
                    self.search_leaf(first, lq, best, worst);
                }
                if b2 < *worst {
                    self.search_leaf(second, lq, best, worst);
                }
            }
        }
    }
}

/// What a Borůvka round knows of a row's cheapest edge out of its component (squared
/// weights): every such edge weighs at least `floor`; `best` is the cheapest found
/// (`usize::MAX` for none), the cheapest of all when `exact`.
#[derive(Debug, Clone, Copy)]
struct Known {
    floor: f64,
    best: (f64, usize),
    exact: bool,
}

impl Known {
    fn exact(w2: f64, q: usize) -> Self {
        Known {
            floor: w2,
            best: (w2, q),
            exact: true,
        }
    }
}

/// The minimum spanning tree of the mutual reachability graph of the distinct rows of
/// `tree` (a [`CountedTree`]'s: a row is its tree position), by Borůvka's
/// algorithm. Each round, a row's `knn` neighbours (`k`
/// per row, nearest first, all within its core distance; a row may appear once per copy,
/// the row itself included) give a cheap first candidate, which is already optimal when
/// its weight equals the row's core distance; a row's cheapest edge from an earlier round
/// is still its cheapest while the other end is outside its component (components only
/// grow), and otherwise its weight is a floor that spares searches which cannot beat it.
fn spanning_tree(
    tree: &KdTree,
    core: &[f64],
    knn: &[usize],
    k: usize,
    cancel: &Cancel,
) -> Result<Vec<Edge>, ClusterError> {
    let turned = tree.turned_points();
    let n = core.len();
    debug_assert_eq!(tree.len(), n);
    let mut uf = UnionFind::new(n);
    let mut edges = Vec::with_capacity(n.saturating_sub(1));

    let core2: Vec<f64> = core.iter().map(|c| c * c).collect();
    let nodes = tree.node_count();
    let mut node_core2 = vec![f64::INFINITY; nodes];
    for node in (0..nodes).rev() {
        node_core2[node] = match tree.children(node) {
            Some((l, r)) => node_core2[l].min(node_core2[r]),
            None => tree
                .positions(node)
                .map(|p| core2[p])
                .fold(f64::INFINITY, f64::min),
        };
    }

    let leaves: Vec<usize> = (0..nodes).filter(|&v| tree.children(v).is_none()).collect();
    let mut comp = vec![0usize; n];
    let mut node_comp = vec![0usize; nodes];
    // Per row, its cheapest edge out of its component when found (a later round may
    // reuse it while the other end is still outside), or `(floor, usize::MAX)`: every
    // such edge weighs at least `floor` (squared).
    let mut cand: Vec<(f64, usize)> = core2.iter().map(|&c2| (c2, usize::MAX)).collect();
    while edges.len() + 1 < n {
        cancel.check()?;
        for (i, c) in comp.iter_mut().enumerate() {
            *c = uf.find(i);
        }
        for node in (0..nodes).rev() {
            node_comp[node] = match tree.children(node) {
                Some((l, r)) if node_comp[l] == node_comp[r] => node_comp[l],
                Some(_) => MIXED,
                None => {
                    let mut ps = tree.positions(node);
                    let c0 = ps.next().map_or(MIXED, |p| comp[p]);
                    if ps.all(|p| comp[p] == c0) {
                        c0
                    } else {
                        MIXED
                    }
                }
            };
        }

        // What each row knows: its cheapest edge out of its component if still valid, or
        // a floor under it, improved by the neighbour lists' first candidate.
        let known: Vec<Known> = (0..n)
            .into_par_iter()
            .with_min_len(CHUNK)
            .map(|p| {
                let (w2, q) = cand[p];
                if q != usize::MAX && comp[q] != comp[p] {
                    return Known::exact(w2, q);
                }
                let mut best = (f64::INFINITY, usize::MAX);
                for &q in &knn[p * k..(p + 1) * k] {
                    if comp[q] != comp[p] {
                        let w2 = core2[p].max(core2[q]);
                        if w2 < best.0 {
                            best = (w2, q);
                        }
                    }
                }
                // The floor `w2` holds: the rows outside the component only get fewer.
                Known {
                    floor: w2,
                    best,
                    exact: best.0 <= w2,
                }
            })
            .collect();
        let round = Round {
            tree,
            turned: &turned,
            core2: &core2,
            comp: &comp,
            node_comp: &node_comp,
            node_core2: &node_core2,
        };
        // Every PROBE-th row of each component is searched first; the best edge found,
        // or the best first candidate, bounds the searches of the other rows: a row whose
        // core distance is not below it cannot improve on it, and the others only look
        // for strictly cheaper edges.
        let mut seen = vec![0usize; n];
        let probe: Vec<bool> = comp
            .iter()
            .map(|&c| {
                seen[c] += 1;
                seen[c] % PROBE == 1
            })
            .collect();
        drop(seen);
        // The picked rows search a leaf at a time: the rows of a leaf that are in one
        // component walk the tree together, the leaf's box bounding them all (in a leaf
        // of several components, 2.2M node visits of single rows became 0.25M of rows
        // and 1.0M of groups, in the round of the scaled 100k-row log that searched
        // most); a row alone in its component in a leaf of several walks alone, its own
        // point bounding it closer.
        let search_into = |pick: &(dyn Fn(usize) -> bool + Sync),
                           bound: &(dyn Fn(usize) -> f64 + Sync),
                           out: &mut [Known]|
         -> Result<(), ClusterError> {
            let per_leaf = leaves
                .par_iter()
                .with_min_len(LEAVES_PER_ITEM)
                .map(|&leaf| {
                    cancel.check()?;
                    let mut done = Vec::new();
                    let mut rows = Vec::new();
                    for p in tree.positions(leaf) {
                        if !pick(p) {
                            continue;
                        }
                        let (kn, b) = (known[p], bound(p));
                        if kn.exact || kn.floor >= b {
                            done.push((p, kn));
                            continue;
                        }
                        rows.push((p, core2[p]));
                    }
                    if rows.is_empty() {
                        return Ok(done);
                    }
                    let mixed = node_comp[leaf] == MIXED;
                    if mixed {
                        rows.sort_unstable_by_key(|r| (comp[r.0], r.0));
                    }
                    let mut best: Vec<(f64, usize)> = rows
                        .iter()
                        .map(|&(p, _)| {
                            let (kn, b) = (known[p], bound(p));
                            if b < kn.best.0 {
                                (b, usize::MAX)
                            } else {
                                kn.best
                            }
                        })
                        .collect();
                    let mut at = 0;
                    for g in rows.chunk_by(|a, b| comp[a.0] == comp[b.0]) {
                        let (c, gb) = (comp[g[0].0], &mut best[at..at + g.len()]);
                        if mixed && g.len() == 1 {
                            round.search(0, g[0].0, g[0].1, c, &mut gb[0]);
                        } else {
                            round.search_group(leaf, c, g, gb);
                        }
                        at += g.len();
                    }
                    for (&(p, _), &(w2, q)) in rows.iter().zip(&best) {
                        done.push((
                            p,
                            if q == usize::MAX {
                                // Nothing cheaper than the bound: a new floor.
                                Known {
                                    floor: w2,
                                    best: (w2, q),
                                    exact: false,
                                }
                            } else {
                                Known::exact(w2, q)
                            },
                        ));
                    }
                    Ok(done)
                })
                .collect::<Result<Vec<_>, ClusterError>>()?;
            for (p, kn) in per_leaf.into_iter().flatten() {
                out[p] = kn;
            }
            Ok(())
        };
        let mut comp_bound = vec![f64::INFINITY; n];
        for p in 0..n {
            let c = comp[p];
            comp_bound[c] = comp_bound[c].min(known[p].best.0);
        }
        // Only the smallest components search, up to half of the rows (at least one
        // component): every edge found is the cheapest out of its component, so an edge
        // of the minimum spanning tree, whichever components search; every searching
        // component merges, so the rounds stay logarithmic. A row deep inside a large
        // component searches far for anything outside it: when a few large components
        // remain, those searches were most of the time, and the small components' edges
        // are found cheaply.
        let mut size = vec![0usize; n];
        for &c in &comp {
            size[c] += 1;
        }
        let mut comps: Vec<usize> = (0..n).filter(|&c| size[c] > 0).collect();
        comps.sort_unstable_by_key(|&c| (size[c], c));
        let mut active = vec![false; n];
        let mut rows_in = 0;
        for &c in &comps {
            if rows_in > 0 && rows_in + size[c] > n / 2 {
                break;
            }
            active[c] = true;
            rows_in += size[c];
        }
        drop((size, comps));
        let searches = |p: usize| active[comp[p]];
        let mut found = known.clone();
        search_into(
            &|p| probe[p] && searches(p),
            &|p| comp_bound[comp[p]],
            &mut found,
        )?;
        for p in 0..n {
            let c = comp[p];
            comp_bound[c] = comp_bound[c].min(found[p].best.0);
        }
        search_into(
            &|p| !probe[p] && searches(p),
            &|p| comp_bound[comp[p]],
            &mut found,
        )?;

        // The cheapest edge out of each component; ties go to the lowest distinct row.
        let mut choice: Vec<(f64, usize, usize)> = vec![(f64::INFINITY, usize::MAX, 0); n];
        for (p, kn) in found.iter().enumerate() {
            let (w2, q) = kn.best;
            let c = comp[p];
            let (cw2, cp, _) = choice[c];
            let better = w2 < cw2 || (w2 == cw2 && cp != usize::MAX && p < cp);
            if active[c] && q != usize::MAX && better {
                choice[c] = (w2, p, q);
            }
        }
        for (p, kn) in found.into_iter().enumerate() {
            cand[p] = if kn.exact {
                kn.best
            } else {
                (kn.floor, usize::MAX)
            };
        }
        let before = edges.len();
        for &(_, p, q) in &choice {
            if p != usize::MAX && uf.union(p, q).is_some() {
                edges.push(Edge {
                    a: p,
                    b: q,
                    w: mutual_reachability(tree.point_at(p), tree.point_at(q), core[p], core[q]),
                });
            }
        }
        if edges.len() == before {
            // Unreachable on a complete graph; stops a silent endless loop on a bug.
            return Err(ClusterError::Input(
                "spanning tree search made no progress".into(),
            ));
        }
    }
    Ok(edges)
}

/// One merge of the single-linkage hierarchy (scipy's linkage format): nodes below `n`
/// are rows, node `n + i` is the result of merge `i`.
#[derive(Debug, Clone, Copy)]
struct Merge {
    left: usize,
    right: usize,
    dist: f64,
    size: usize,
}

/// The single-linkage hierarchy of a spanning tree (edges merged by increasing weight,
/// ties in a fixed order).
fn single_linkage(n: usize, mut mst: Vec<Edge>) -> Vec<Merge> {
    mst.sort_by(|x, y| {
        x.w.total_cmp(&y.w)
            .then(x.a.min(x.b).cmp(&y.a.min(y.b)))
            .then(x.a.max(x.b).cmp(&y.a.max(y.b)))
    });
    let mut uf = UnionFind::new(n);
    // Hierarchy node currently standing for each union-find root.
    let mut node_of: Vec<usize> = (0..n).collect();
    let mut merges = Vec::with_capacity(mst.len());
    for e in mst {
        let (ra, rb) = (uf.find(e.a), uf.find(e.b));
        let (left, right) = (node_of[ra], node_of[rb]);
        let size = uf.size[ra] + uf.size[rb];
        if let Some(root) = uf.union(ra, rb) {
            node_of[root] = n + merges.len();
            merges.push(Merge {
                left,
                right,
                dist: e.w,
                size,
            });
        }
    }
    merges
}

/// One row of the condensed tree: `child` (a row if below `n`, else a cluster) leaves
/// cluster `parent` at density `lambda` (1 / distance).
#[derive(Debug, Clone, Copy)]
struct Condensed {
    parent: usize,
    child: usize,
    lambda: f64,
    size: usize,
}

/// The condensed tree (the `hdbscan` package's `condense_tree`): walking the hierarchy
/// from the top, a split into two parts of at least `min_cluster_size` rows makes two new
/// clusters; otherwise the rows of the small part fall out of the current cluster.
/// Clusters are numbered from `n` (the root) so that a child's number is larger than its
/// parent's.
fn condense(merges: &[Merge], n: usize, min_cluster_size: usize) -> Vec<Condensed> {
    let mut out = Vec::with_capacity(2 * n);
    if merges.is_empty() {
        return out;
    }
    let size_of = |node: usize| if node < n { 1 } else { merges[node - n].size };
    let mut next_label = n + 1;
    let mut stack = vec![(n + merges.len() - 1, n)];
    let mut points = Vec::new();
    let mut fall_out = |node: usize, label: usize, lambda: f64, out: &mut Vec<Condensed>| {
        points.clear();
        points.push(node);
        while let Some(x) = points.pop() {
            if x < n {
                out.push(Condensed {
                    parent: label,
                    child: x,
                    lambda,
                    size: 1,
                });
            } else {
                points.push(merges[x - n].left);
                points.push(merges[x - n].right);
            }
        }
    };
    while let Some((node, label)) = stack.pop() {
        if node < n {
            continue;
        }
        let m = merges[node - n];
        let lambda = if m.dist > 0.0 {
            1.0 / m.dist
        } else {
            f64::INFINITY
        };
        let (lc, rc) = (size_of(m.left), size_of(m.right));
        let (l_big, r_big) = (lc >= min_cluster_size, rc >= min_cluster_size);
        if l_big && r_big {
            for (child, size) in [(m.left, lc), (m.right, rc)] {
                out.push(Condensed {
                    parent: label,
                    child: next_label,
                    lambda,
                    size,
                });
                stack.push((child, next_label));
                next_label += 1;
            }
        } else {
            if !l_big {
                fall_out(m.left, label, lambda, &mut out);
            } else {
                stack.push((m.left, label));
            }
            if !r_big {
                fall_out(m.right, label, lambda, &mut out);
            } else {
                stack.push((m.right, label));
            }
        }
    }
    out
}

/// Stabilities, excess-of-mass selection (root excluded) and the per-row results.
fn extract(tree: &[Condensed], n: usize) -> Clusters {
    let clusters = tree
        .iter()
        .map(|e| e.parent.max(e.child))
        .max()
        .map_or(1, |m| m.max(n) - n + 1);
    let mut parent_of = vec![usize::MAX; clusters];
    let mut birth = vec![0.0; clusters];
    let mut children: Vec<Vec<usize>> = vec![Vec::new(); clusters];
    let mut point_parent = vec![usize::MAX; n];
    let mut point_lambda = vec![0.0; n];
    for e in tree {
        if e.child >= n {
            let c = e.child - n;
            parent_of[c] = e.parent - n;
            birth[c] = e.lambda;
            children[e.parent - n].push(c);
        } else {
            point_parent[e.child] = e.parent - n;
            point_lambda[e.child] = e.lambda;
        }
    }
    // Infinite densities (distance 0, from identical rows) give infinite or NaN (∞ − ∞)
    // stabilities, exactly as in the `hdbscan` package; the comparisons below treat them
    // the same way it does.
    let mut stability = vec![0.0f64; clusters];
    let mut death = vec![0.0f64; clusters];
    for e in tree {
        let p = e.parent - n;
        stability[p] += (e.lambda - birth[p]) * e.size as f64;
        death[p] = death[p].max(e.lambda);
    }

    let mut kept = vec![false; clusters];
    for c in (1..clusters).rev() {
        // The `hdbscan` package sums child stabilities into a single-precision variable;
        // rounding the same way keeps its choices on near ties.
        let subtree = children[c].iter().map(|&k| stability[k]).sum::<f64>() as f32 as f64;
        if subtree > stability[c] {
            stability[c] = subtree;
        } else {
            kept[c] = true;
        }
    }
    // A kept cluster hides every cluster below it; parents come before children.
    let mut chosen = vec![usize::MAX; clusters];
    let mut ids = vec![-1i32; clusters];
    let mut count = 0;
    for c in 1..clusters {
        let up = chosen[parent_of[c]];
        chosen[c] = if up != usize::MAX {
            up
        } else if kept[c] {
            ids[c] = count;
            count += 1;
            c
        } else {
            usize::MAX
        };
    }

    // GLOSH: the densest point under a cluster, and each row's departure density.
    let mut deepest = death.clone();
    for c in (1..clusters).rev() {
        let p = parent_of[c];
        deepest[p] = deepest[p].max(deepest[c]);
    }

    let mut labels = vec![-1i32; n];
    let mut probabilities = vec![0.0; n];
    let mut outlier_scores = vec![0.0; n];
    for i in 0..n {
        let p = point_parent[i];
        if p == usize::MAX {
            continue;
        }
        let lambda = point_lambda[i];
        let top = deepest[p];
        outlier_scores[i] = if top == 0.0 || !lambda.is_finite() {
            0.0
        } else if top.is_infinite() {
            // The `hdbscan` package divides ∞ by ∞ here (NaN); the limit is 1.
            1.0
        } else {
            (top - lambda) / top
        };
        let c = chosen[p];
        if c == usize::MAX {
            continue;
        }
        labels[i] = ids[c];
        let max_lambda = death[c];
        probabilities[i] = if max_lambda == 0.0 || !lambda.is_finite() {
            1.0
        } else {
            lambda.min(max_lambda) / max_lambda
        };
    }
    Clusters {
        labels,
        count: count as usize,
        probabilities,
        outlier_scores,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::neighbors::{tests::correlated, to_row_major};
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_xoshiro::Xoshiro256PlusPlus;

    /// The edge weights of a minimum spanning tree of the dense mutual reachability graph
    /// of `rows` (`d` columns), by Prim's algorithm, for checking.
    fn prim_weights(rows: &[f64], d: usize, core: &[f64]) -> Vec<f64> {
        let n = core.len();
        let row = |i: usize| &rows[i * d..(i + 1) * d];
        let mut in_tree = vec![false; n];
        let mut best = vec![f64::INFINITY; n];
        best[0] = 0.0;
        let mut weights = Vec::with_capacity(n.saturating_sub(1));
        for step in 0..n {
            let u = (0..n)
                .filter(|&i| !in_tree[i])
                .min_by(|&a, &b| best[a].total_cmp(&best[b]))
                .unwrap();
            in_tree[u] = true;
            if step > 0 {
                weights.push(best[u]);
            }
            for v in 0..n {
                if !in_tree[v] {
                    let w = mutual_reachability(row(u), row(v), core[u], core[v]);
                    best[v] = best[v].min(w);
                }
            }
        }
        weights
    }

    /// Core distances by brute force: each row's distance to its `min_samples`-th nearest
    /// other row.
    fn brute_core(rows: &[f64], d: usize, min_samples: usize) -> Vec<f64> {
        let n = rows.len() / d;
        let row = |i: usize| &rows[i * d..(i + 1) * d];
        (0..n)
            .map(|i| {
                let mut dd: Vec<f64> = (0..n)
                    .filter(|&j| j != i)
                    .map(|j| sq_dist(row(i), row(j)).sqrt())
                    .collect();
                dd.sort_by(f64::total_cmp);
                dd[min_samples - 1]
            })
            .collect()
    }

    fn blobs(per: usize, centres: &[[f64; 2]], spread: f64, seed: u64) -> Array2<f64> {
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(seed);
        let n = per * centres.len();
        Array2::from_shape_fn((n, 2), |(i, j)| {
            centres[i / per][j] + spread * ((0..6).map(|_| rng.gen::<f64>()).sum::<f64>() - 3.0)
        })
    }

    #[test]
    fn spanning_tree_matches_prim_with_many_copies() {
        // Values on a coarse grid, and every ninth row the same: many identical rows and
        // many equal distances.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(3);
        let n = 400;
        let x = Array2::from_shape_fn((n, 3), |(i, _)| {
            if i % 9 == 0 {
                0.25
            } else {
                (rng.gen::<f64>() * 8.0).round() / 8.0
            }
        });
        let rows = to_row_major(x.view());
        for min_samples in [1, 5, 60, n - 1] {
            let mst = reachability_tree(x.view(), min_samples, &Cancel::new()).unwrap();
            let core = brute_core(&rows, 3, min_samples);
            assert_eq!(mst.len(), n - 1);
            let mut uf = UnionFind::new(n);
            for e in &mst {
                assert!(uf.union(e.a, e.b).is_some(), "edge {e:?} closes a cycle");
                let (pa, pb) = (&rows[e.a * 3..e.a * 3 + 3], &rows[e.b * 3..e.b * 3 + 3]);
                let w = mutual_reachability(pa, pb, core[e.a], core[e.b]);
                assert!((e.w - w).abs() <= 1e-12, "edge {e:?}: weight {w}");
            }
            let total: f64 = mst.iter().map(|e| e.w).sum();
            let want: f64 = prim_weights(&rows, 3, &core).iter().sum();
            assert!(
                (total - want).abs() < 1e-9 * want.max(1.0),
                "min_samples {min_samples}: {total} vs {want}"
            );
        }
    }

    #[test]
    fn spanning_tree_weights_equal_prims_on_correlated_rows() {
        // Correlated groups, and rows spread evenly over four of the columns.
        let mut rng = Xoshiro256PlusPlus::seed_from_u64(7);
        let even = Array2::from_shape_fn((600, 4), |_| rng.gen::<f64>() * 10.0);
        let cases = [
            (correlated(700, 8, 5), 5),
            (correlated(500, 13, 6), 2),
            (even.clone(), 2),
            (even, 9),
        ];
        for (x, min_samples) in cases {
            let (n, d) = x.dim();
            let rows = to_row_major(x.view());
            let core = brute_core(&rows, d, min_samples);
            let mut want = prim_weights(&rows, d, &core);
            want.sort_by(f64::total_cmp);
            let mst = reachability_tree(x.view(), min_samples, &Cancel::new()).unwrap();
            let mut got: Vec<f64> = mst.iter().map(|e| e.w).collect();
            got.sort_by(f64::total_cmp);
            assert_eq!(got, want, "{n} x {d}, min_samples {min_samples}");
        }
    }

    #[test]
    fn separated_blobs_are_clusters() {
        let x = blobs(60, &[[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]], 0.5, 1);
        let c = hdbscan(x.view(), &HdbscanParams::default(), &Cancel::new()).unwrap();
        assert_eq!(c.count, 3);
        for b in 0..3 {
            let l = c.labels[b * 60];
            assert!(l >= 0);
            let same = c.labels[b * 60..(b + 1) * 60]
                .iter()
                .filter(|&&v| v == l)
                .count();
            assert!(same >= 55, "blob {b}: {same} of 60");
        }
        assert!(c.probabilities.iter().all(|p| (0.0..=1.0).contains(p)));
        assert!(c.outlier_scores.iter().all(|p| (0.0..=1.0).contains(p)));
    }

    #[test]
    fn tiny_and_degenerate_inputs() {
        let p = HdbscanParams::default();
        let cancel = Cancel::new();
        assert!(hdbscan(Array2::<f64>::zeros((0, 3)).view(), &p, &cancel).is_err());
        assert!(hdbscan(Array2::<f64>::zeros((5, 0)).view(), &p, &cancel).is_err());
        let one = hdbscan(Array2::<f64>::zeros((1, 2)).view(), &p, &cancel).unwrap();
        assert_eq!(one.labels, vec![-1]);
        let few = hdbscan(Array2::<f64>::ones((9, 2)).view(), &p, &cancel).unwrap();
        assert_eq!((few.count, few.noise()), (0, 9));
        let mut nan = Array2::<f64>::zeros((20, 2));
        nan[[3, 1]] = f64::NAN;
        assert!(hdbscan(nan.view(), &p, &cancel).is_err());
        // Identical rows: no split into several clusters, no NaN.
        let same = hdbscan(Array2::<f64>::ones((50, 2)).view(), &p, &cancel).unwrap();
        assert!(same.count <= 1);
        assert!(same
            .probabilities
            .iter()
            .chain(&same.outlier_scores)
            .all(|v| v.is_finite()));
    }

    #[test]
    fn cancelled() {
        let x = blobs(50, &[[0.0, 0.0], [5.0, 5.0]], 0.5, 2);
        let cancel = Cancel::new();
        cancel.cancel();
        assert_eq!(
            hdbscan(x.view(), &HdbscanParams::default(), &cancel),
            Err(ClusterError::Cancelled)
        );
    }
}
