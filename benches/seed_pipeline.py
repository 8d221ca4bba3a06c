#!/usr/bin/env python3
"""The seed notebook's pipeline as one script: the Python baseline zsift is measured against.

Steps, as in the notebook: load the conn log with zat -> optional service / IP filter ->
the seven numeric features, rows with a null dropped, each column divided by its max ->
PyOD detectors at contamination 0.02, a row is anomalous when any detector flags it ->
PCA 2-D -> UMAP 2-D -> HDBSCAN -> per-cluster statistics -> CSV export of the anomalous
rows.

Prints one JSON object: per-stage wall seconds (`<stage>_s`), row counts, peak RSS and,
when the log has a label column, each detector's ROC-AUC and precision at k (positives:
labels starting with "malicious"; rows labelled "background" are left out of the scores).

  python3 benches/seed_pipeline.py --log LOG [--format auto|tsv|json] [--service S]
      [--ips IP ...] [--detectors cblof,iforest,...] [--no-umap] [--no-hdbscan]
      [--label-col label] [--train-label Benign] [--export OUT.csv]

It needs the seed's libraries (tests/reference/requirements.txt); benches/e2e_vs_seed.py
and tests/reference/make_reference.py run it inside a virtual environment that has them.
"""
import argparse
import json
import resource
import time
import warnings

# Import time counts from here: numpy and pandas are loaded before the first stage.
T0 = time.perf_counter()
warnings.filterwarnings("ignore")

import numpy as np
import pandas as pd

FEATURES = ["duration", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts",
            "orig_ip_bytes", "resp_ip_bytes"]
DETECTORS = ["cblof", "iforest", "gmm", "ecod", "copod", "hbos", "knn", "lof"]
CONTAMINATION = 0.02


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--log", required=True, help="Zeek conn log (TSV or JSON lines, may be .gz)")
    ap.add_argument("--format", default="auto", choices=["auto", "tsv", "json"])
    ap.add_argument("--service", help="keep only rows of this service")
    ap.add_argument("--ips", nargs="*", help="keep only rows with one of these addresses")
    ap.add_argument("--detectors", default=",".join(DETECTORS),
                    help="comma-separated, run in this order")
    ap.add_argument("--no-umap", action="store_true", help="skip the UMAP embedding")
    ap.add_argument("--no-hdbscan", action="store_true",
                    help="skip HDBSCAN and the per-cluster statistics")
    ap.add_argument("--label-col", help="column holding the ground-truth label")
    ap.add_argument("--train-label",
                    help="fit the detectors on rows with this label only (the seed fitted "
                         "on benign rows), score every row")
    ap.add_argument("--export", default="/tmp/seed_anomalous.csv",
                    help="CSV of the rows flagged by any detector")
    return ap.parse_args()


def load(path, fmt):
    """The log as zat's DataFrame; `auto` picks JSON when the first character is '{'."""
    from zat.json_log_to_dataframe import JSONLogToDataFrame
    from zat.log_to_dataframe import LogToDataFrame
    if fmt == "auto":
        import gzip
        open_text = gzip.open if path.endswith(".gz") else open
        with open_text(path, "rt", errors="replace") as f:
            fmt = "json" if f.read(1) == "{" else "tsv"
    if fmt == "json":
        return JSONLogToDataFrame().create_dataframe(path)
    return LogToDataFrame().create_dataframe(path)


def as_seconds(column):
    """Float values of a feature column; zat gives `duration` as a timedelta."""
    if pd.api.types.is_timedelta64_dtype(column):
        column = column.dt.total_seconds()
    return column.astype(float)


def make_detectors(names, rng):
    """PyOD detectors as the seed configured them. The seeded ones share one RandomState,
    as in the notebook, so their results depend on the order they are made in."""
    from pyod.models.cblof import CBLOF
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.gmm import GMM
    from pyod.models.hbos import HBOS
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    c = CONTAMINATION
    factories = {
        "cblof": lambda: CBLOF(contamination=c, n_clusters=5, check_estimator=False,
                               random_state=rng),
        "iforest": lambda: IForest(contamination=c, random_state=rng),
        "gmm": lambda: GMM(contamination=c, random_state=rng),
        "ecod": lambda: ECOD(contamination=c),
        "copod": lambda: COPOD(contamination=c),
        "hbos": lambda: HBOS(contamination=c),
        "knn": lambda: KNN(contamination=c),
        "lof": lambda: LOF(contamination=c),
    }
    return {name: factories[name]() for name in names}


def ranking_quality(y, scores):
    """ROC-AUC and precision at k (k = number of positives) of `scores` against `y`."""
    from sklearn.metrics import roc_auc_score
    k = int(y.sum())
    top = np.argsort(-scores)[:k]
    return {"roc_auc": round(float(roc_auc_score(y, scores)), 4),
            "precision_at_k": round(float(y[top].mean()), 4)}


def cluster_stats(df, feats):
    """The notebook's per-cluster summary: mean, std, variance, range and first quartile of
    each feature, and the five most common services, states and responder ports. It is
    computed for its cost, as the notebook displayed it; nothing is printed."""
    stats = {}
    for cluster, group in df.groupby("cluster_db"):
        st = {}
        for f in feats:
            v = as_seconds(group[f])
            st[f] = [v.mean(), v.std(), v.var(), v.max() - v.min(), np.percentile(v, 25)]
        for c in ["service", "conn_state", "id.resp_p"]:
            if c in group.columns:
                st[c] = group[c].astype(str).value_counts().head(5).to_dict()
        stats[cluster] = st
    return stats


def main():
    a = parse_args()
    out = {"log": a.log, "import_s": round(time.perf_counter() - T0, 3)}
    last = time.perf_counter()

    def stage(name):
        """Records the seconds since the previous stage ended."""
        nonlocal last
        now = time.perf_counter()
        out[name + "_s"] = round(now - last, 3)
        last = now

    df = load(a.log, a.format)
    stage("load")
    out["rows_loaded"] = len(df)

    # Filter, then build the max-normalised feature matrix.
    if a.service:
        df = df[df["service"] == a.service]
    if a.ips:
        df = df.loc[df[["id.orig_h", "id.resp_h"]].isin(a.ips).any(axis=1)]
    feats = [f for f in FEATURES if f in df.columns]
    fdf = pd.DataFrame({f: as_seconds(df[f]) for f in feats}, index=df.index)
    complete = ~fdf.isna().any(axis=1)
    df, fdf = df[complete], fdf[complete]
    X = fdf.to_numpy()
    colmax = X.max(axis=0)
    colmax[colmax == 0] = 1.0
    X = X / colmax
    stage("prepare")
    out["rows"], out["features"] = X.shape

    # Labels, when present: which rows count in the scores and which rows the fit sees.
    y = None
    fit_rows = np.ones(len(X), dtype=bool)
    eval_rows = np.ones(len(X), dtype=bool)
    if a.label_col and a.label_col in df.columns:
        label = df[a.label_col].astype(str).str.lower()
        y = label.str.startswith("malicious").to_numpy().astype(int)
        eval_rows = (label != "background").to_numpy()
        out["positives"] = int(y[eval_rows].sum())
        out["negatives"] = int((1 - y[eval_rows]).sum())
        if a.train_label:
            fit_rows = (label == a.train_label.lower()).to_numpy()
            out["fit_rows"] = int(fit_rows.sum())

    # Detectors: fit, score every row, union of the flags.
    flagged = np.zeros(len(X), dtype=bool)
    out["detectors"] = {}
    rng = np.random.RandomState(42)
    for name, det in make_detectors(a.detectors.split(","), rng).items():
        t = time.perf_counter()
        det.fit(X[fit_rows])
        scores = det.decision_function(X)
        flags = det.predict(X).astype(bool)
        d = {"s": round(time.perf_counter() - t, 3), "flagged": int(flags.sum())}
        if y is not None and 0 < y[eval_rows].sum() < eval_rows.sum():
            d.update(ranking_quality(y[eval_rows], scores[eval_rows]))
        out["detectors"][name] = d
        flagged |= flags
    stage("detect")
    out["anomalous"] = int(flagged.sum())

    # Embeddings and clusters, as the notebook drew them.
    from sklearn.decomposition import PCA
    PCA(n_components=2).fit_transform(X)
    stage("pca")
    if not a.no_umap:
        from umap.umap_ import UMAP
        UMAP(metric="euclidean", n_neighbors=15, n_components=2).fit_transform(X)
        stage("umap")
    if not a.no_hdbscan:
        import hdbscan
        clusters = hdbscan.HDBSCAN(min_cluster_size=10).fit_predict(X)
        stage("hdbscan")
        out["clusters"] = int(len(set(clusters)) - (1 if -1 in clusters else 0))
        df = df.assign(cluster_db=clusters)
        cluster_stats(df, feats)
        stage("stats")

    df[flagged].to_csv(a.export, index=False)
    stage("export")
    out["total_s"] = round(time.perf_counter() - T0, 3)
    out["peak_rss_mb"] = round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
