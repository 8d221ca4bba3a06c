#!/usr/bin/env python3
"""End-to-end speed and memory of `zsift export` against the seed pipeline.

Both sides do the same steps on the same log: load, filter, features, outlier detectors,
PCA, UMAP, HDBSCAN, per-cluster statistics and a CSV export. Each whole process is timed
from outside (wall clock) and its peak resident memory is read from the kernel when it is
reaped (`wait4`), so interpreter start-up, imports and numba's JIT count for the seed as
start-up counts for zsift.

  python3 benches/e2e_vs_seed.py [--zsift BIN] [--rows 10000,100000,1000000]
                                 [--fit benign|all] [--seed-timeout MIN]
                                 [--seed-lite ROWS,...] [--no-seed-full ROWS,...]
                                 [--stages ROWS,...] [--same-steps ROWS,...]
                                 [--json OUT]

Without `--zsift` the release binary is built with `cargo build --release` (in
`$CARGO_TARGET_DIR`, else `target/`). The seed runs in a virtual environment with the
versions of `tests/reference/seed_speed.json`, made on first use at
`${XDG_CACHE_HOME:-$HOME/.cache}/zsift/seed-venv`; it runs `benches/seed_pipeline.py`.
Scaled logs are made with `benches/scale_conn.py` from
`tests/data/stratosphere/010-mixed` and kept in the benches' data folder
(`$CARGO_TARGET_DIR/bench-data`, else `target/bench-data`).

Protocol: with `--fit benign` (the default, as in seed_speed.json) both fit their
detectors on the rows labelled Benign and score every row (`zsift export --train-label
Benign`, `seed_pipeline.py --label-col label --train-label Benign`); with `--fit all` both
fit on all rows. zsift runs back to back, median of 5 runs at 10k rows and fewer, else 3;
the seed runs 3 times at 10k rows and fewer, else once, each with a timeout (a timed-out
run is reported as "> T" and its ratios as lower bounds). `--seed-lite ROWS` adds, at
those sizes, a seed run without UMAP and HDBSCAN (`--no-umap --no-hdbscan`), reported on
its own, labelled row against zsift doing all steps: its ratios are lower bounds too.
`--stages ROWS` times zsift's stages at those sizes from separate runs (`summary`,
`eval`, `export --no-umap`). `--same-steps ROWS` (default 100000) also times, at those
sizes, zsift doing only the seed's steps: its detectors (`DETECTORS` in seed_pipeline.py:
no VAE, no PCA detector) and one clustering, of all rows (`--subsets all`; zsift's export
clusters the anomalous and normal rows as well, as the seed notebook did), reported on
its own row against the same seed runs.
"""
import argparse
import ast
import datetime
import json
import os
import platform
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
BENCHES = REPO / "benches"
DATA = REPO / "tests" / "data"
SEED_VERSIONS = {
    "pyod": "3.6.7",
    "zat": "0.4.9",
    "umap-learn": "0.5.12",
    "hdbscan": "0.8.44",
    "scikit-learn": "1.9.1",
    "pandas": "3.1.1",
    "numpy": "2.4.6",
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def loadavg():
    return tuple(round(x, 2) for x in os.getloadavg())


def target_dir():
    return Path(os.environ.get("CARGO_TARGET_DIR") or REPO / "target")


def default_venv():
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "zsift" / "seed-venv"


def venv_versions(py):
    code = (
        "import importlib.metadata as m, json, sys\n"
        "out = {}\n"
        "for n in sys.argv[1:]:\n"
        "    try: out[n] = m.version(n)\n"
        "    except m.PackageNotFoundError: out[n] = None\n"
        "print(json.dumps(out))\n"
    )
    r = subprocess.run([str(py), "-c", code, *SEED_VERSIONS], capture_output=True, text=True)
    return json.loads(r.stdout) if r.returncode == 0 else {}


def ensure_venv(venv, python):
    py = venv / "bin" / "python"
    if not py.exists():
        log(f"making the seed's virtual environment at {venv}")
        venv.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([python, "-m", "venv", str(venv)], check=True)
        pins = [f"{k}=={v}" for k, v in SEED_VERSIONS.items()]
        subprocess.run([str(py), "-m", "pip", "install", "--quiet", *pins], check=True)
    found = venv_versions(py)
    off = {k: found.get(k) for k, v in SEED_VERSIONS.items() if found.get(k) != v}
    if off:
        log(f"warning: the seed's environment differs from seed_speed.json: {off}")
    return py, found


def build_zsift():
    log("cargo build --release")
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=REPO, check=True)
    return target_dir() / "release" / "zsift"


def scaled(rows, data_dir):
    """An N-row TSV conn log made from stratosphere/010-mixed (as benches/support does)."""
    out = data_dir / f"conn{rows}.log"
    if not out.exists():
        log(f"making {out}")
        data_dir.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".tmp")
        subprocess.run(
            [sys.executable, str(BENCHES / "scale_conn.py"),
             str(DATA / "stratosphere" / "010-mixed.conn.log.labeled"),
             str(tmp), str(rows)],
            check=True,
        )
        tmp.rename(out)
    return out


def null_out():
    """/dev/null opened for writing only: zsift takes a standard output that is /dev/null
    opened for reading and writing (subprocess.DEVNULL) as a closed one, which is how the
    runtime reopens a closed descriptor."""
    return open(os.devnull, "w")


def measure(cmd, timeout_s, stdout=None):
    """Runs cmd in its own process group; returns wall seconds, peak RSS in MB (None when
    the run timed out and was killed), the exit status and whether it timed out."""
    load = loadavg()
    t0 = time.perf_counter()
    p = subprocess.Popen(cmd, stdout=stdout, stderr=subprocess.PIPE, start_new_session=True)
    timed_out = False
    while True:
        pid, status, ru = os.wait4(p.pid, os.WNOHANG)
        if pid:
            break
        if time.perf_counter() - t0 > timeout_s:
            timed_out = True
            os.killpg(p.pid, signal.SIGKILL)
            pid, status, ru = os.wait4(p.pid, 0)
            break
        time.sleep(0.05)
    wall = time.perf_counter() - t0
    p.returncode = os.waitstatus_to_exitcode(status)
    err = p.stderr.read().decode(errors="replace")
    p.stderr.close()
    return {
        "wall_s": round(wall, 3),
        "peak_mb": None if timed_out else round(ru.ru_maxrss / 1024, 1),
        "user_s": round(ru.ru_utime, 2),
        "sys_s": round(ru.ru_stime, 2),
        "exit": p.returncode,
        "timed_out": timed_out,
        "load_before": load,
        "stderr": err[-2000:],
    }


def fit_args_zsift(fit):
    return ["--train-label", "Benign"] if fit == "benign" else []


def fit_args_seed(fit):
    return ["--label-col", "label"] + (["--train-label", "Benign"] if fit == "benign" else [])


def seed_detectors():
    """The seed's default detectors, read from seed_pipeline.py without importing it (its
    imports need the seed's environment)."""
    tree = ast.parse((BENCHES / "seed_pipeline.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "DETECTORS" for t in node.targets):
            return ast.literal_eval(node.value)
    raise SystemExit("seed_pipeline.py has no DETECTORS list")


def seed_steps_args():
    """`zsift export` doing the seed's steps: its detectors (no VAE, no PCA detector) and one
    clustering, of all rows (zsift's default clusters the anomalous and normal rows too)."""
    return ["--detectors", ",".join(seed_detectors()), "--subsets", "all"]


def run_zsift(zsift, log_path, fit, n, timeout_s, extra=()):
    runs = []
    for i in range(n):
        with tempfile.TemporaryDirectory(prefix="zsift-e2e-") as d:
            cmd = [str(zsift), "export", str(log_path), "--out", d, *fit_args_zsift(fit),
                   *extra]
            r = measure(cmd, timeout_s, stdout=null_out())
            if r["exit"] != 0 and not r["timed_out"]:
                raise SystemExit(f"zsift failed: {' '.join(cmd)}\n{r['stderr']}")
            if i == 0 and not r["timed_out"]:
                with open(os.path.join(d, "rows.csv"), "rb") as f:
                    r["rows_out"] = sum(1 for _ in f) - 1
                with open(os.path.join(d, "anomalous.csv"), "rb") as f:
                    r["flagged"] = sum(1 for _ in f) - 1
        what = " (the seed's steps)" if extra else ""
        log(f"  zsift run {i + 1}/{n}{what}: {r['wall_s']:.2f} s, {r['peak_mb']} MB, "
            f"load {r['load_before'][0]}")
        runs.append(r)
    return runs


def run_seed(py, log_path, fit, n, timeout_s, lite):
    runs = []
    for i in range(n):
        with tempfile.TemporaryDirectory(prefix="seed-e2e-") as d:
            cmd = [str(py), str(BENCHES / "seed_pipeline.py"), "--log", str(log_path),
                   *fit_args_seed(fit), "--export", os.path.join(d, "anomalous.csv")]
            if lite:
                cmd += ["--no-umap", "--no-hdbscan"]
            with tempfile.TemporaryFile() as out:
                r = measure(cmd, timeout_s, stdout=out)
                out.seek(0)
                text = out.read().decode(errors="replace").strip()
        if r["exit"] != 0 and not r["timed_out"]:
            raise SystemExit(f"seed failed: {' '.join(cmd)}\n{r['stderr']}")
        if text and not r["timed_out"]:
            r["seed"] = json.loads(text.splitlines()[-1])
            s = r["seed"]
            stages = " ".join(f"{k[:-2]} {v}" for k, v in s.items()
                              if k.endswith("_s") and k != "total_s")
            log(f"    seed stages (s): {stages}")
        what = "> timeout" if r["timed_out"] else f"{r['peak_mb']} MB"
        log(f"  seed{' (no UMAP/HDBSCAN)' if lite else ''} run {i + 1}/{n}: "
            f"{r['wall_s']:.2f} s, {what}, load {r['load_before'][0]}")
        runs.append(r)
    return runs


def zsift_stages(zsift, log_path, fit, timeout_s):
    """zsift's stages from separate runs: load (summary), load + features + detectors
    (eval, with per-detector fit/score seconds), everything but UMAP (export --no-umap)
    and everything (export)."""
    out = {}
    r = measure([str(zsift), "summary", str(log_path)], timeout_s, stdout=null_out())
    out["load_s"] = r["wall_s"]
    with tempfile.TemporaryFile() as f:
        r = measure([str(zsift), "eval", str(log_path), "--json", *fit_args_zsift(fit)],
                    timeout_s, stdout=f)
        f.seek(0)
        ev = json.loads(f.read())
    out["load_detect_s"] = r["wall_s"]
    out["detectors"] = {k: round(v["fit_s"] + v["score_s"], 3) for k, v in ev["detectors"].items()}
    for name, extra in [("export_no_umap_s", ["--no-umap"]), ("export_s", [])]:
        with tempfile.TemporaryDirectory(prefix="zsift-e2e-") as d:
            r = measure([str(zsift), "export", str(log_path), "--out", d,
                         *fit_args_zsift(fit), *extra], timeout_s, stdout=null_out())
        out[name] = r["wall_s"]
    out["umap_s (export - export --no-umap)"] = round(out["export_s"] - out["export_no_umap_s"], 2)
    out["pca_hdbscan_stats_write_s (export --no-umap - eval)"] = round(
        out["export_no_umap_s"] - out["load_detect_s"], 2)
    out["load_avg_after"] = loadavg()
    return out


def fmt_s(r):
    return f"> {r['wall_s']:.0f}" if r["timed_out"] else f"{r['wall_s']:.2f}"


def machine():
    model = "?"
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "?"
    try:
        for line in open("/proc/meminfo"):
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024 / 1024:.0f} GiB"
    except OSError:
        pass
    nproc = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"nproc": nproc, "cpu": model, "mem": mem, "kernel": platform.release()}


def git_rev():
    r = subprocess.run(["git", "describe", "--always", "--dirty"], cwd=REPO,
                       capture_output=True, text=True)
    return r.stdout.strip() or "?"


def span(values):
    v = sorted(values)
    return f"{v[0]}" if v[0] == v[-1] else f"{v[0]}–{v[-1]}"


def table(results, fit, timeout_min):
    lines = [
        "| rows | zsift wall s (median) | zsift peak MB | seed wall s | seed peak MB "
        "| speed ratio | memory ratio | CPU s zsift / seed | load avg (1 min) zsift / seed |",
        "|---:|---:|---:|---:|---:|---:|---:|---|---|",
    ]
    variants = [
        ("zsift", "", "seed", ""),
        ("zsift", "", "seed_lite", " (seed without UMAP/HDBSCAN)"),
        ("zsift_seed_steps", ", zsift with the seed's steps", "seed", ""),
    ]
    for row, (zkey, zlabel, skey, slabel) in ((r, v) for r in results for v in variants):
        z, seed = row.get(zkey), row.get(skey)
        if not z or not seed:
            continue
        label = zlabel + slabel
        zw = statistics.median(r["wall_s"] for r in z)
        zm = max(r["peak_mb"] for r in z)
        zl = span(r["load_before"][0] for r in z)
        zc = statistics.median(r["user_s"] + r["sys_s"] for r in z)
        done = [r for r in seed if not r["timed_out"]]
        if done:
            sw = statistics.median(r["wall_s"] for r in done)
            sm = max(r["peak_mb"] for r in done)
            sw_s, sm_s = f"{sw:.2f}", f"{sm:.0f}"
            bound = "≥ " if slabel else ""
            speed = f"{bound}{sw / zw:.1f}x"
            memr = f"{bound}{sm / zm:.1f}x"
        else:
            t = min(r["wall_s"] for r in seed)
            sw_s, sm_s = f"> {t:.0f} (timed out)", "n/a"
            speed, memr = f"> {t / zw:.1f}x", "n/a"
        n = len(seed)
        sl = span(r["load_before"][0] for r in seed)
        sc = statistics.median(r["user_s"] + r["sys_s"] for r in seed)
        sc_s = f"> {sc:.0f}" if not done else f"{sc:.0f}"
        lines.append(
            f"| {row['rows']:,}{label} | {zw:.2f} (of {len(z)}) | {zm:.0f} | {sw_s} (of {n}) "
            f"| {sm_s} | {speed} | {memr} | {zc:.0f} / {sc_s} | {zl} / {sl} |")
    proto = ("detectors fitted on the rows labelled Benign, every row scored"
             if fit == "benign" else "detectors fitted on all rows")
    lines.append("")
    lines.append(f"Protocol: {proto}. Speed ratio = seed wall / zsift wall, memory ratio = "
                 f"seed peak RSS / zsift peak RSS (the maximum over runs); CPU s = user + "
                 f"system seconds of the process (median). Seed timeout "
                 f"{timeout_min:g} min; '≥' and '>' mark lower bounds.")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--zsift", help="zsift binary (default: build the release binary)")
    ap.add_argument("--rows", default="10000,100000,1000000", help="sizes, comma-separated")
    ap.add_argument("--fit", choices=["benign", "all"], default="benign",
                    help="fit on the rows labelled Benign (both sides) or on all rows")
    ap.add_argument("--venv", type=Path, default=default_venv(), help="the seed's environment")
    ap.add_argument("--python", default=sys.executable, help="Python to make the venv with")
    ap.add_argument("--data-dir", type=Path, default=target_dir() / "bench-data")
    ap.add_argument("--seed-timeout", type=float, default=40.0, help="minutes per seed run")
    ap.add_argument("--zsift-timeout", type=float, default=40.0, help="minutes per zsift run")
    ap.add_argument("--zsift-runs", type=int, help="runs per size (default 5 up to 10k rows, else 3)")
    ap.add_argument("--seed-runs", type=int, help="runs per size (default 3 up to 10k rows, else 1)")
    ap.add_argument("--seed-lite", default="1000000",
                    help="sizes at which the seed also runs without UMAP/HDBSCAN ('' for none)")
    ap.add_argument("--no-seed-full", default="",
                    help="sizes at which the seed does not run with all steps")
    ap.add_argument("--stages", default="", help="sizes at which to time zsift's stages")
    ap.add_argument("--same-steps", default="100000",
                    help="sizes at which zsift also runs with the seed's steps only (its "
                         "detectors, all rows clustered; '' for none)")
    ap.add_argument("--json", type=Path, help="write every measurement here")
    ap.add_argument("--from-json", type=Path, help="print the report of an earlier --json, run nothing")
    a = ap.parse_args()
    if a.from_json:
        d = json.loads(a.from_json.read_text())
        report(d["info"], d["results"], a.seed_timeout)
        return

    def sizes(s):
        return [int(x.replace("_", "")) for x in s.split(",") if x.strip()]

    rows = sizes(a.rows)
    lite, nofull, stage_rows = set(sizes(a.seed_lite)), set(sizes(a.no_seed_full)), set(sizes(a.stages))
    same_steps = set(sizes(a.same_steps))
    py, versions = ensure_venv(a.venv, a.python)
    zsift = Path(a.zsift) if a.zsift else build_zsift()
    logs = {n: scaled(n, a.data_dir) for n in rows}
    started = datetime.datetime.now().astimezone()
    info = {"date": started.isoformat(timespec="seconds"), "machine": machine(),
            "zsift": f"{zsift} ({git_rev()})", "seed_versions": versions, "fit": a.fit,
            "load_avg_start": loadavg()}
    results = []
    for n in rows:
        log(f"{n:,} rows ({logs[n]}), load {loadavg()}")
        row = {"rows": n}
        zr = a.zsift_runs or (5 if n <= 10_000 else 3)
        sr = a.seed_runs or (3 if n <= 10_000 else 1)
        row["zsift"] = run_zsift(zsift, logs[n], a.fit, zr, a.zsift_timeout * 60)
        if n in same_steps:
            row["zsift_seed_steps"] = run_zsift(zsift, logs[n], a.fit, zr, a.zsift_timeout * 60,
                                                extra=seed_steps_args())
        if n in stage_rows:
            row["zsift_stages"] = zsift_stages(zsift, logs[n], a.fit, a.zsift_timeout * 60)
            log(f"  zsift stages: {json.dumps(row['zsift_stages'])}")
        if n not in nofull:
            row["seed"] = run_seed(py, logs[n], a.fit, sr, a.seed_timeout * 60, lite=False)
        if n in lite:
            row["seed_lite"] = run_seed(py, logs[n], a.fit, 1, a.seed_timeout * 60, lite=True)
        results.append(row)
    info["load_avg_end"] = loadavg()
    info["seed_timeout_min"] = a.seed_timeout
    report(info, results, a.seed_timeout)
    if a.json:
        a.json.write_text(json.dumps({"info": info, "results": results}, indent=1))


def report(info, results, timeout_min):
    m = info["machine"]
    print(f"Machine: {m['nproc']} CPUs ({m['cpu']}), {m['mem']}, Linux {m['kernel']}; "
          f"{info['date']}; zsift {info['zsift']}; load average (1/5/15 min) "
          f"{info['load_avg_start']} at start, {info['load_avg_end']} at end")
    print()
    print(table(results, info["fit"], info.get("seed_timeout_min", timeout_min)))
    for row in results:
        if "zsift_stages" in row:
            print()
            print(f"zsift stages at {row['rows']:,} rows: {json.dumps(row['zsift_stages'])}")


if __name__ == "__main__":
    main()
