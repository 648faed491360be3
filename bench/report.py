#!/usr/bin/env python3
"""Turns bench/run.sh's raw results (JSON lines) into the markdown report.

Writes the report to stdout and to --out, and, with --doc, replaces the part of BENCHMARKS.md
between the `<!-- bench:begin -->` and `<!-- bench:end -->` markers with the forward-proxy
report, and the part between `<!-- bench-reverse:begin -->` and `<!-- bench-reverse:end -->`
with the reverse-proxy report (`BENCH_TARGETS` with `reverse`), each only when this run
measured it, so a reverse-only run leaves the forward table alone (the file and missing
sections are created). Medians over rounds; a ratio is the median of the per-round ratios
(every round runs all targets back to back, so a round's ratio shares that moment's noise).
"""

import argparse
import json
import statistics
import sys
from collections import defaultdict
from pathlib import Path

BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
REV_BEGIN, REV_END = "<!-- bench-reverse:begin -->", "<!-- bench-reverse:end -->"
MIB = 1024 * 1024

LABEL = {
    "direct": "direct",
    "capture": "interpose capture",
    "nocap": "interpose --no-capture",
    "mitm": "mitmdump",
    # reverse mode: the client calls the proxy's own address, which forwards to the origin
    "rcap": "interpose --reverse (capture)",
    "rnocap": "interpose --reverse --no-capture",
    "hpx": "node http-proxy (reverse)",
}
REVERSE_TARGETS = ["direct", "rcap", "rnocap", "hpx"]
SCENARIO = {
    "http_c1": "1 KB GET, HTTP, c1",
    "http_c64": "1 KB GET, HTTP, c64",
    "https_c1": "1 KB GET, intercepted HTTPS, c1",
    "https_c64": "1 KB GET, intercepted HTTPS, c64",
    "https_newconn_c16": "1 KB GET, new TLS connection per request, c16",
}
REVERSE_SCENARIO = {
    "reverse_http_c64": "1 KB GET, HTTP, c64, reverse proxy",
}


def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else None


def fmt(x, spec, none="–"):
    return none if x is None else format(x, spec)


def ratio_of_rounds(by_round, a, b):
    """Median over rounds of by_round[r][a] / by_round[r][b]."""
    rs = []
    for vals in by_round.values():
        x, y = vals.get(a), vals.get(b)
        if x is not None and y:
            rs.append(x / y)
    return median(rs)


def oha_row(w, title, label, rs, ratio):
    """One line of the req/s table from a target's oha rows in one scenario."""
    rps = median([x.get("rps") for x in rs])
    p50 = median([x.get("p50") for x in rs])
    p99 = median([x.get("p99") for x in rs])
    failed = sum((x.get("errors") or 0) + (x.get("bad") or 0) for x in rs)
    failed += sum(1 for x in rs if x.get("rps") is None)  # whole runs that failed
    w(f"| {title} | {label} | {fmt(rps, ',.0f')} | {ratio} | "
      f"{fmt(None if p50 is None else p50 * 1e3, '.2f')} | "
      f"{fmt(None if p99 is None else p99 * 1e3, '.2f')} | {failed} |")


def run_header(meta, what):
    """The noisy-run warning and the run's description, as lines."""
    out = []
    busy = max(meta.get("busy_start", 0), meta.get("busy_end", 0))
    if busy >= 10:
        out.append(f"**Noisy run:** other work kept the cores {meta.get('busy_start')}% busy "
                   f"just before and {meta.get('busy_end')}% just after the measurements (3 s "
                   f"samples while the bench was idle); treat these numbers as rough.")
        out.append("")
    tools = [meta["oha"]]
    if what == "forward" and meta.get("mitmproxy"):
        tools.append(f"mitmproxy {meta['mitmproxy']}")
    if what == "reverse":
        tools.append(f"node {meta.get('node', '?')} with http-proxy {meta.get('http_proxy', '?')}")
    tools.append(meta["rustc"])
    how = ("oha, keep-alive unless said; the download: at least 5 rounds" if what == "forward"
           else "oha, keep-alive, each request to the reverse proxy's own address")
    out.append(
        f"Run {meta['stamp']} at commit `{meta['commit']}`: {meta['cores']} cores "
        f"({meta['cpu']}), {meta['mem_gib']} GiB, Linux {meta['kernel']}; load average "
        f"{meta['load_start']} at the start, {meta['load_end']} at the end; cores busy with other "
        f"work: {meta.get('busy_start', '?')}% before, {meta.get('busy_end', '?')}% after. "
        f"{meta['rounds']} rounds of {meta['duration']} per point ({how}), "
        f"medians; ×direct is the median of the per-round ratios. "
        f"Tools: {', '.join(tools)}.")
    out.append("")
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--raw", required=True)
    ap.add_argument("--meta", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--doc")
    args = ap.parse_args()

    meta = json.loads(Path(args.meta).read_text())
    rows = [json.loads(l) for l in Path(args.raw).read_text().splitlines() if l.strip()]
    # meta["targets"] are the forward-proxy targets (direct first); reverse mode has its own.
    targets = [t for t in meta["targets"] if t != "reverse"]
    if meta.get("mitmproxy"):
        LABEL["mitm"] = f"mitmdump {meta['mitmproxy']}"
    if meta.get("http_proxy"):
        LABEL["hpx"] = f"node http-proxy {meta['http_proxy']} (reverse)"

    # oha[scenario][target] -> rows; per_round[scenario][round][target] -> value
    oha = defaultdict(lambda: defaultdict(list))
    rps_round = defaultdict(lambda: defaultdict(dict))
    dl = defaultdict(list)
    dl_round = defaultdict(dict)
    rss = defaultdict(dict)
    for r in rows:
        if r["kind"] == "oha":
            oha[r["scenario"]][r["target"]].append(r)
            rps_round[r["scenario"]][r["round"]][r["target"]] = r.get("rps")
        elif r["kind"] == "download":
            dl[r["target"]].append(r.get("mbps"))
            dl_round[r["round"]][r["target"]] = r.get("mbps")
        elif r["kind"] == "rss":
            kib = r.get("vmhwm_kib")
            rss[r["target"]][r["scenario"]] = None if kib is None else kib / 1024

    forward = forward_report(meta, targets, oha, rps_round, dl, dl_round, rss) \
        if any(sc in oha for sc in SCENARIO) or dl else None
    reverse = reverse_report(meta, oha, rps_round, rss) \
        if any(sc in oha for sc in REVERSE_SCENARIO) else None

    parts = []
    if forward:
        parts.append(forward)
    if reverse:
        parts.append("### Reverse proxy\n\n" + reverse if forward else reverse)
    report = "\n".join(parts)
    print(report)
    Path(args.out).write_text(report + "\n")

    if args.doc:
        doc = Path(args.doc)
        text = doc.read_text() if doc.exists() else \
            "# Benchmarks\n\nReproduce with `bash bench/run.sh`.\n"
        if forward:
            text = put_block(text, BEGIN, END, forward, "## Latest run")
        if reverse:
            text = put_block(text, REV_BEGIN, REV_END, reverse, "## Reverse proxy: latest run")
        doc.write_text(text)
        print(f"updated {doc}", file=sys.stderr)


def put_block(text, begin, end, body, heading):
    """`text` with what is between the markers replaced by `body`; without the markers, a new
    section under `heading` at the end."""
    block = f"{begin}\n{body}\n{end}"
    if begin in text and end in text:
        head, rest = text.split(begin, 1)
        tail = rest.split(end, 1)[1]
        return head + block + tail
    return text.rstrip("\n") + f"\n\n{heading}\n\n" + block + "\n"


def reverse_report(meta, oha, rps_round, rss):
    """Reverse mode: the client calls the proxy's address; direct, interpose --reverse with and
    without capture, node http-proxy."""
    out = run_header(meta, "reverse")
    w = out.append
    w("| scenario | target | req/s | ×direct | p50 ms | p99 ms | failed requests |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for sc, title in REVERSE_SCENARIO.items():
        for t in REVERSE_TARGETS:
            rs = oha[sc].get(t, [])
            if rs:
                ratio = "1" if t == "direct" else \
                    fmt(ratio_of_rounds(rps_round[sc], t, "direct"), ".3f")
                oha_row(w, title, LABEL[t], rs, ratio)
    w("")
    w("| reverse proxy, 1 KB GET, HTTP, c64 (req/s ratio, median of per-round ratios) | ratio |")
    w("|---|---:|")
    for a, b in (("rcap", "hpx"), ("rnocap", "hpx"), ("rcap", "rnocap")):
        for sc in REVERSE_SCENARIO:
            w(f"| {LABEL[a]} vs {LABEL[b]} | {fmt(ratio_of_rounds(rps_round[sc], a, b), '.3f')} |")
    w("")
    if any(t in rss for t in REVERSE_TARGETS):
        w("| peak RSS (VmHWM) | after the reverse c64 runs |")
        w("|---|---:|")
        for t in REVERSE_TARGETS:
            if t in rss:
                w(f"| {LABEL[t]} | {fmt(rss[t].get('after_reverse'), '.1f')} MiB |")
        w("")
    return "\n".join(out)


def forward_report(meta, targets, oha, rps_round, dl, dl_round, rss):
    """The forward-proxy scenarios: direct, interpose capture / --no-capture, mitmdump."""
    out = run_header(meta, "forward")
    w = out.append
    w("| scenario | target | req/s | ×direct | p50 ms | p99 ms | failed requests |")
    w("|---|---|---:|---:|---:|---:|---:|")
    for sc, title in SCENARIO.items():
        if sc not in oha:
            continue
        for t in targets:
            rs = oha[sc].get(t, [])
            if not rs:
                continue
            ratio = "1" if t == "direct" else fmt(ratio_of_rounds(rps_round[sc], t, "direct"), ".3f")
            oha_row(w, title, LABEL[t], rs, ratio)
    if dl:
        for t in targets:
            if t not in dl:
                continue
            mbps = median(dl[t])
            fails = sum(1 for x in dl[t] if x is None)
            ratio = "1" if t == "direct" else fmt(ratio_of_rounds(dl_round, t, "direct"), ".3f")
            w(f"| 100 MiB download, intercepted HTTPS (curl) | {LABEL[t]} | {fmt(mbps, ',.0f')} MB/s"
              f" | {ratio} | | | {fails} |")
    w("")

    if any(t in rss for t in targets):
        w("| peak RSS (VmHWM) | after the c64 runs | after the 100 MiB download |")
        w("|---|---:|---:|")
        for t in targets:
            if t in rss:
                a, b = rss[t].get("after_c64"), rss[t].get("after_100m")
                w(f"| {LABEL[t]} | {fmt(a, '.1f')} MiB | {fmt(b, '.1f')} MiB |")
        w("")

    cap_vs = {}
    if "capture" in targets and "nocap" in targets:
        w("| capture on vs `--no-capture` (req/s or MB/s ratio) | ratio |")
        w("|---|---:|")
        for sc, title in SCENARIO.items():
            if sc in rps_round:
                cap_vs[sc] = ratio_of_rounds(rps_round[sc], "capture", "nocap")
                w(f"| {title} | {fmt(cap_vs[sc], '.3f')} |")
        if dl_round:
            cap_vs["download_100m"] = ratio_of_rounds(dl_round, "capture", "nocap")
            w(f"| 100 MiB download | {fmt(cap_vs['download_100m'], '.3f')} |")
        w("")

    # Targets from issue 2, judged on `interpose capture` (recording on, the real thing).
    def ge(measured, goal, unit="×"):
        if measured is None:
            return "no data"
        if measured >= goal:
            return "**pass**"
        return (f"**miss** by {(goal - measured):.3f}{unit} "
                f"({(1 - measured / goal) * 100:.0f}% short; needs {goal / measured:.2f}× more)")

    def le(measured, goal):
        if measured is None:
            return "no data"
        if measured <= goal:
            return "**pass**"
        return f"**miss** by {measured - goal:.1f} MiB ({(measured / goal - 1) * 100:.0f}% over)"

    checks = []
    r_http = ratio_of_rounds(rps_round["http_c64"], "capture", "direct") if "http_c64" in rps_round else None
    r_https = ratio_of_rounds(rps_round["https_c64"], "capture", "direct") if "https_c64" in rps_round else None
    r_mitm = ratio_of_rounds(rps_round["https_c64"], "mitm", "direct") if "https_c64" in rps_round else None
    r_dl = ratio_of_rounds(dl_round, "capture", "direct") if dl_round else None
    rss64 = rss.get("capture", {}).get("after_c64")
    rss100 = rss.get("capture", {}).get("after_100m")
    checks.append(("HTTP c64 ≥ 0.30× direct", fmt(r_http, ".3f") + "×", ge(r_http, 0.30)))
    checks.append(("intercepted HTTPS c64 ≥ 0.25× direct",
                   fmt(r_https, ".3f") + "×" + (f" (mitmdump {r_mitm:.3f}×)" if r_mitm else ""),
                   ge(r_https, 0.25)))
    checks.append(("100 MiB intercepted HTTPS ≥ 0.6× direct", fmt(r_dl, ".3f") + "×", ge(r_dl, 0.6)))
    checks.append(("peak RSS ≤ 40 MiB at c64", fmt(rss64, ".1f") + " MiB", le(rss64, 40)))
    checks.append(("peak RSS < 64 MiB with the 100 MiB download (issue 2, point 6)",
                   fmt(rss100, ".1f") + " MiB", le(rss100, 64)))
    if cap_vs:
        worst_sc = min((k for k in ("http_c64", "https_c64") if cap_vs.get(k) is not None),
                       key=lambda k: cap_vs[k], default=None)
        worst = cap_vs.get(worst_sc) if worst_sc else None
        checks.append(("capture on vs `--no-capture` ≥ 0.9× (the worse of HTTP and HTTPS c64)",
                       fmt(worst, ".3f") + "×" + (f" ({worst_sc})" if worst_sc else ""),
                       ge(worst, 0.9)))
    w("| target (issue 2), judged on `interpose capture` | measured | result |")
    w("|---|---|---|")
    for name, measured, result in checks:
        w(f"| {name} | {measured} | {result} |")
    w("")

    return "\n".join(out)


if __name__ == "__main__":
    main()
