#!/usr/bin/env python3
"""Generates zsift's demo log: demo/conn.log, a Zeek conn.log (TSV) of one hour on a
small office network, with documented injected anomalies. Deterministic (fixed seed);
standard library only. Run from the repository root:

    python3 demo/generate.py > demo/conn.log

Normal traffic (about 3,000 connections) from workstations 10.0.1.100-10.0.1.139:
DNS to the office resolver 10.0.1.2, HTTPS and HTTP to a pool of external servers, NTP,
SMB and LDAP to internal servers, and the odd SSH session from the admin host.

Injected anomalies (see demo/README.md):
  1. port scan       10.0.1.66 probes 10.0.1.0/24 on common ports (S0/REJ, no payload)
  2. large upload    10.0.1.23 sends ~850 MB to 185.225.17.4:443 in one connection
  3. beacon          10.0.1.45 calls 203.0.113.77:8080 over HTTP every 60 s, fixed sizes
  4. odd resolver    10.0.1.31 sends DNS to 198.51.100.53 with large TXT answers
  5. SSH brute force 45.95.147.12 tries 10.0.1.10:22 with many short failed logins
"""

import random

SEED = 20261125
START = 1732528800.0  # 2024-11-25 10:00:00 UTC
HOUR = 3600.0

rng = random.Random(SEED)
CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"

FIELDS = ["ts", "uid", "id.orig_h", "id.orig_p", "id.resp_h", "id.resp_p", "proto",
          "service", "duration", "orig_bytes", "resp_bytes", "conn_state", "local_orig",
          "local_resp", "missed_bytes", "history", "orig_pkts", "orig_ip_bytes",
          "resp_pkts", "resp_ip_bytes", "tunnel_parents"]
TYPES = ["time", "string", "addr", "port", "addr", "port", "enum", "string", "interval",
         "count", "count", "string", "bool", "bool", "count", "string", "count", "count",
         "count", "count", "set[string]"]


def uid():
    return "C" + "".join(rng.choice(CHARS) for _ in range(17))


def eport():
    return rng.randint(49152, 65535)


def payload(n):
    """Bytes of payload; unset ("-", Zeek's S0 records) counts as none."""
    return n if isinstance(n, int) else 0


def conn(ts, orig, resp, rport, proto, service, dur, ob, rb, state, history, local_resp,
         op=None, rp=None):
    """One record; packet and IP byte counts follow from the payload sizes."""
    hdr = 40 if proto == "tcp" else 28
    if op is None:
        op = max(1, payload(ob) // 1200 + rng.randint(1, 4)) if state not in ("S0", "REJ") else rng.randint(1, 2)
    if rp is None:
        rp = 0 if state in ("S0",) else (1 if state == "REJ" else max(1, payload(rb) // 1400 + rng.randint(1, 4)))
    return {
        "ts": ts, "uid": uid(), "id.orig_h": orig, "id.orig_p": eport(), "id.resp_h": resp,
        "id.resp_p": rport, "proto": proto, "service": service,
        "duration": dur, "orig_bytes": ob, "resp_bytes": rb, "conn_state": state,
        "local_orig": "T" if orig.startswith("10.") else "F",
        "local_resp": "T" if local_resp else "F", "missed_bytes": 0, "history": history,
        "orig_pkts": op, "orig_ip_bytes": payload(ob) + hdr * op, "resp_pkts": rp,
        "resp_ip_bytes": payload(rb) + hdr * rp, "tunnel_parents": "(empty)",
    }


WORKSTATIONS = [f"10.0.1.{i}" for i in range(100, 140)]
WEB = [f"{a}.{b}.{c}.{d}" for a, b, c, d in
       [(142, 250, 74, 110), (151, 101, 1, 69), (104, 16, 132, 229), (52, 84, 150, 39),
        (13, 107, 42, 14), (140, 82, 121, 4), (172, 217, 16, 142), (23, 55, 161, 73),
        (34, 120, 177, 193), (99, 86, 34, 12), (185, 199, 108, 153), (31, 13, 72, 36)]]


def normal(rows):
    for _ in range(3000):
        ts = START + rng.random() * HOUR
        ws = rng.choice(WORKSTATIONS)
        kind = rng.random()
        if kind < 0.34:
            rows.append(conn(ts, ws, "10.0.1.2", 53, "udp", "dns", round(rng.uniform(0.0005, 0.05), 6),
                             rng.randint(28, 60), rng.randint(44, 300), "SF", "Dd", True, 1, 1))
        elif kind < 0.74:
            ob = int(rng.lognormvariate(7.2, 0.9))
            rb = int(rng.lognormvariate(9.5, 1.4))
            rows.append(conn(ts, ws, rng.choice(WEB), 443, "tcp", "ssl", round(rng.lognormvariate(0.5, 1.2), 6),
                             ob, rb, "SF", "ShADadFf", False))
        elif kind < 0.84:
            ob = int(rng.lognormvariate(6.3, 0.5))
            rb = int(rng.lognormvariate(8.5, 1.2))
            rows.append(conn(ts, ws, rng.choice(WEB), 80, "tcp", "http", round(rng.lognormvariate(-0.5, 1.0), 6),
                             ob, rb, "SF", "ShADadfF", False))
        elif kind < 0.89:
            rows.append(conn(ts, ws, "10.0.1.3", 123, "udp", "ntp", round(rng.uniform(0.001, 0.02), 6),
                             48, 48, "SF", "Dd", True, 1, 1))
        elif kind < 0.96:
            ob = int(rng.lognormvariate(8.0, 1.0))
            rb = int(rng.lognormvariate(9.0, 1.3))
            rows.append(conn(ts, ws, "10.0.1.5", 445, "tcp", "smb,gssapi", round(rng.lognormvariate(1.0, 1.0), 6),
                             ob, rb, "SF", "ShADadFf", True))
        elif kind < 0.99:
            rows.append(conn(ts, ws, "10.0.1.4", 389, "tcp", "ldap", round(rng.uniform(0.002, 0.08), 6),
                             rng.randint(200, 900), rng.randint(400, 3000), "SF", "ShADadFf", True))
        else:
            rows.append(conn(ts, "10.0.1.20", rng.choice(WORKSTATIONS), 22, "tcp", "ssh",
                             round(rng.lognormvariate(4.0, 1.0), 6), rng.randint(3000, 40000),
                             rng.randint(5000, 90000), "SF", "ShADadFf", True))


def port_scan(rows):
    t = START + 0.42 * HOUR
    for i in range(180):
        t += rng.uniform(0.001, 0.02)
        host = f"10.0.1.{rng.randint(1, 254)}"
        port = rng.choice([21, 22, 23, 25, 80, 110, 135, 139, 143, 443, 445, 1433, 3306, 3389,
                           5432, 5900, 8080, 8443])
        if rng.random() < 0.6:
            rows.append(conn(t, "10.0.1.66", host, port, "tcp", "-", "-", "-", "-", "S0", "S", True, 1, 0))
        else:
            rows.append(conn(t, "10.0.1.66", host, port, "tcp", "-", round(rng.uniform(0.0001, 0.001), 6),
                             0, 0, "REJ", "Sr", True, 1, 1))


def large_upload(rows):
    ob = 851_236_411
    rows.append(conn(START + 0.61 * HOUR, "10.0.1.23", "185.225.17.4", 443, "tcp", "ssl", 1421.337112,
                     ob, 48_211, "SF", "ShADadFf", False, ob // 1448, 9_000))


def beacon(rows):
    t = START + 17.0
    while t < START + HOUR:
        rows.append(conn(t + rng.uniform(-0.05, 0.05), "10.0.1.45", "203.0.113.77", 8080, "tcp", "http",
                         round(rng.uniform(0.180, 0.190), 6), 312, 1_146, "SF", "ShADadfF", False, 6, 5))
        t += 60.0


def odd_resolver(rows):
    for _ in range(40):
        t = START + rng.uniform(0.2, 0.9) * HOUR
        rows.append(conn(t, "10.0.1.31", "198.51.100.53", 53, "udp", "dns", round(rng.uniform(0.05, 0.3), 6),
                         rng.randint(180, 250), rng.randint(3800, 4096), "SF", "Dd", False, 1, 3))


def ssh_bruteforce(rows):
    t = START + 0.75 * HOUR
    for _ in range(80):
        t += rng.uniform(0.5, 2.5)
        rows.append(conn(t, "45.95.147.12", "10.0.1.10", 22, "tcp", "ssh", round(rng.uniform(1.5, 3.0), 6),
                         rng.randint(1100, 1400), rng.randint(1500, 1900), "RSTO", "ShADadR", True, 12, 10))


def fmt(v):
    if isinstance(v, float):
        return f"{v:.6f}"
    return str(v)


def main():
    rows = []
    normal(rows)
    port_scan(rows)
    large_upload(rows)
    beacon(rows)
    odd_resolver(rows)
    ssh_bruteforce(rows)
    rows.sort(key=lambda r: r["ts"])
    out = ["#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
           "#path\tconn", "#open\t2024-11-25-10-00-00",
           "#fields\t" + "\t".join(FIELDS), "#types\t" + "\t".join(TYPES)]
    for r in rows:
        out.append("\t".join(fmt(r[f]) for f in FIELDS))
    out.append("#close\t2024-11-25-11-00-00")
    print("\n".join(out))


if __name__ == "__main__":
    main()
