#!/usr/bin/env python3
"""Rebuilds the reference outputs that zsift's tests compare against, with the seed
notebook's Python stack (zat, PyOD, hdbscan, umap-learn, scikit-learn).

  python3 tests/reference/make_reference.py [--data DIR] [--out DIR] [--venv DIR]

Start it with Python 3.11: it makes (or reuses) a virtual environment with the exact
versions of requirements.txt beside it, outside the repository (default
~/.cache/zsift/venv), and runs itself again inside it. It writes:

  OUT/010-mixed/matrix.csv          uid + the seven features of
                                    DATA/stratosphere/010-mixed.conn.log.labeled, rows with
                                    a null dropped, each column divided by its max
  OUT/010-mixed/pyod_scores.csv     each PyOD detector's training scores on that matrix
  OUT/010-mixed/hdbscan_labels.csv  hdbscan's labels on that matrix
  OUT/010-mixed/params.json         versions, parameters, cluster counts and the
                                    trustworthiness of 2-D PCA and UMAP embeddings
  OUT/seed_quality.json             ROC-AUC and precision at k of the seed pipeline
                                    (benches/seed_pipeline.py) on the labelled logs 008, 010
"""
import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
REQUIREMENTS = HERE / "requirements.txt"
SEED_PIPELINE = REPO / "benches" / "seed_pipeline.py"

# The matrix: the seed's seven features, in this column order.
FEATURES = ["duration", "orig_bytes", "resp_bytes", "orig_pkts", "resp_pkts",
            "orig_ip_bytes", "resp_ip_bytes"]
MATRIX_LOG = "stratosphere/010-mixed.conn.log.labeled"
# Logs with ground truth for seed_quality.json, and how the seed pipeline is run on them.
QUALITY_LOGS = ["stratosphere/008-mixed.conn.log.labeled", MATRIX_LOG]
QUALITY_ARGS = ["--label-col", "label", "--train-label", "Benign", "--no-umap"]
QUALITY_PROTOCOL = (
    "fit on rows labelled Benign, score all rows; ROC-AUC and precision@k of Malicious vs "
    "Benign (Background left out); features duration, orig_bytes, resp_bytes, orig_pkts, "
    "resp_pkts, orig_ip_bytes, resp_ip_bytes divided by their max; PyOD 3.6.7 at "
    "contamination 0.02; CBLOF n_clusters=5 as the seed; rows with a null feature dropped")
SEED = 42
HDBSCAN_MIN_CLUSTER_SIZE = 10
TRUST_K = 15


def default_venv():
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "zsift" / "venv"


def parse_args():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=REPO / "tests" / "data",
                    help="folder holding stratosphere/*.labeled (default: tests/data)")
    ap.add_argument("--out", type=Path, default=HERE,
                    help="where to write (default: tests/reference)")
    ap.add_argument("--venv", type=Path, default=default_venv(),
                    help="virtual environment to make or reuse (default: %(default)s)")
    ap.add_argument("--python", default=sys.executable,
                    help="Python that makes the virtual environment")
    return ap.parse_args()


# --- The virtual environment --------------------------------------------------------------

def ensure_venv(venv, python):
    """Makes `venv` with requirements.txt installed, unless it already has them. A copy of
    the requirements inside the venv records what was installed."""
    py = venv / "bin" / "python"
    stamp = venv / "zsift-requirements.txt"
    wanted = REQUIREMENTS.read_text()
    if py.exists() and stamp.exists() and stamp.read_text() == wanted:
        return py
    if not py.exists():
        print(f"making the virtual environment {venv}", file=sys.stderr)
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
    print(f"installing {REQUIREMENTS.name} into {venv}", file=sys.stderr)
    subprocess.run([str(py), "-m", "pip", "install", "--quiet", "-r", str(REQUIREMENTS)],
                   check=True)
    stamp.write_text(wanted)
    return py


def in_venv(venv):
    return Path(sys.prefix).resolve() == venv.resolve()


def pin_kernels():
    """Fixes which CPU code paths the numeric libraries take, so that the outputs do not
    depend on the x86-64 processor that makes them: OpenBLAS's AVX2 kernels (its AVX-512
    ones round differently), numpy without its AVX-512 paths (its AVX-512 sorts order
    ties differently, which moves HDBSCAN's labels, precision at k and trustworthiness),
    and numba's AVX-512 code generation when the processor has AVX-512 (UMAP's layout
    depends on it). This is the combination the files in tests/reference were made with;
    values already in the environment are kept. It must run before numpy is imported."""
    if platform.machine() != "x86_64":
        return
    os.environ.setdefault("OPENBLAS_CORETYPE", "Haswell")
    os.environ.setdefault("NPY_DISABLE_CPU_FEATURES", "X86_V4 AVX512_ICL AVX512_SPR")
    try:
        with open("/proc/cpuinfo") as f:
            flags = next((line.split(":", 1)[1].split() for line in f
                          if line.startswith("flags")), [])
    except OSError:
        flags = []
    if {"avx512f", "avx512bw", "avx512cd", "avx512dq", "avx512vl"} <= set(flags):
        os.environ.setdefault("NUMBA_CPU_NAME", "x86-64-v4")


# --- The reference matrix and the outputs on it -------------------------------------------

def load_matrix(log):
    """uids and the max-normalised feature matrix of `log`, rows with a null dropped."""
    import pandas as pd
    from zat.log_to_dataframe import LogToDataFrame
    df = LogToDataFrame().create_dataframe(str(log))
    feats = pd.DataFrame(index=df.index)
    for f in FEATURES:
        col = df[f]
        if pd.api.types.is_timedelta64_dtype(col):  # zat reads `duration` as a timedelta
            col = col.dt.total_seconds()
        feats[f] = col.astype(float)
    complete = ~feats.isna().any(axis=1)
    X = feats[complete].to_numpy()
    colmax = X.max(axis=0)
    colmax[colmax == 0] = 1.0
    return df.loc[complete, "uid"].astype(str).to_numpy(), X / colmax


def pyod_detectors():
    """PyOD's detectors with their defaults, the randomised ones seeded (CBLOF's
    check_estimator=False is its default, spelled out as the seed did)."""
    from pyod.models.cblof import CBLOF
    from pyod.models.copod import COPOD
    from pyod.models.ecod import ECOD
    from pyod.models.gmm import GMM
    from pyod.models.hbos import HBOS
    from pyod.models.iforest import IForest
    from pyod.models.knn import KNN
    from pyod.models.lof import LOF
    from pyod.models.pca import PCA
    return {
        "iforest": IForest(random_state=SEED),
        "cblof": CBLOF(random_state=SEED, check_estimator=False),
        "gmm": GMM(random_state=SEED),
        "ecod": ECOD(),
        "copod": COPOD(),
        "hbos": HBOS(),
        "knn": KNN(),
        "lof": LOF(),
        "pca": PCA(),
    }


def trustworthiness_2d(X):
    """scikit-learn's trustworthiness (k = 15) of 2-D PCA and 2-D UMAP embeddings of X."""
    from sklearn.decomposition import PCA
    from sklearn.manifold import trustworthiness
    from umap.umap_ import UMAP
    pca = PCA(n_components=2).fit_transform(X)
    umap = UMAP(n_neighbors=TRUST_K, n_components=2, random_state=SEED).fit_transform(X)
    return {"pca": float(trustworthiness(X, pca, n_neighbors=TRUST_K)),
            "umap": float(trustworthiness(X, umap, n_neighbors=TRUST_K))}


def write_matrix_outputs(log, out):
    import hdbscan
    import pandas as pd
    from importlib.metadata import version
    out.mkdir(parents=True, exist_ok=True)

    uids, X = load_matrix(log)
    matrix = pd.DataFrame(X, columns=FEATURES)
    matrix.insert(0, "uid", uids)
    matrix.to_csv(out / "matrix.csv", index=False, float_format="%.17g")

    # Training scores (decision_scores_): higher = more anomalous.
    detectors = pyod_detectors()
    scores = {}
    for name, det in detectors.items():
        det.fit(X)
        scores[name] = det.decision_scores_
    pd.DataFrame(scores).to_csv(out / "pyod_scores.csv", index=False, float_format="%.17g")

    labels = hdbscan.HDBSCAN(min_cluster_size=HDBSCAN_MIN_CLUSTER_SIZE).fit_predict(X)
    pd.DataFrame({"label": labels}).to_csv(out / "hdbscan_labels.csv", index=False)

    params = {
        "log": log.name,
        "rows": int(len(X)),
        "features": FEATURES,
        "scaling": "each column divided by its max",
        "versions": {"pyod": version("pyod"), "sklearn": version("scikit-learn"),
                     "hdbscan": version("hdbscan"), "umap-learn": version("umap-learn")},
        "detectors": {name: repr(det) for name, det in detectors.items()},
        "hdbscan": {"min_cluster_size": HDBSCAN_MIN_CLUSTER_SIZE,
                    "clusters": int(labels.max() + 1),
                    "noise": int((labels == -1).sum())},
        f"trustworthiness_k{TRUST_K}": trustworthiness_2d(X),
    }
    (out / "params.json").write_text(json.dumps(params, indent=1))
    print(f"{out}: {params['rows']} rows, hdbscan {json.dumps(params['hdbscan'])}, "
          f"trustworthiness {json.dumps(params[f'trustworthiness_k{TRUST_K}'])}")


# --- The seed pipeline's detection quality ------------------------------------------------

def write_seed_quality(data, out):
    """Runs benches/seed_pipeline.py on each labelled log and keeps its detection figures."""
    logs = {}
    with tempfile.TemporaryDirectory(prefix="zsift-reference-") as tmp:
        for rel in QUALITY_LOGS:
            cmd = [sys.executable, str(SEED_PIPELINE), "--log", str(data / rel), *QUALITY_ARGS,
                   "--export", os.path.join(tmp, "anomalous.csv")]
            run = subprocess.run(cmd, check=True, stdout=subprocess.PIPE, text=True)
            result = json.loads(run.stdout.strip().splitlines()[-1])
            logs[rel] = {k: result[k] for k in
                         ["rows", "positives", "negatives", "fit_rows", "detectors"]}
    quality = {
        "protocol": QUALITY_PROTOCOL,
        "command": "python3 benches/seed_pipeline.py --log LOG " + " ".join(QUALITY_ARGS),
        "logs": logs,
    }
    (out / "seed_quality.json").write_text(json.dumps(quality, indent=1))
    print(f"{out / 'seed_quality.json'}: " + ", ".join(
        f"{Path(rel).name} {len(v['detectors'])} detectors" for rel, v in logs.items()))


def main():
    a = parse_args()
    pin_kernels()
    if not in_venv(a.venv):
        py = ensure_venv(a.venv, a.python)
        os.execv(py, [str(py), __file__, *sys.argv[1:]])

    import warnings
    warnings.filterwarnings("ignore")
    t0 = time.perf_counter()
    write_matrix_outputs(a.data / MATRIX_LOG, a.out / "010-mixed")
    write_seed_quality(a.data, a.out)
    print(f"done in {time.perf_counter() - t0:.0f} s")


if __name__ == "__main__":
    main()
