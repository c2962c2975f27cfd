#!/usr/bin/env python3
"""Runs every Rust test binary of the workspace, several at once.

The OpenBao, PostgreSQL and real-HTTP scenarios spend their time waiting on
real clocks (token TTLs, poll intervals, outages), so they run concurrently
with each other and with the CPU-bound suites instead of one after another:
`cargo test` alone runs binaries in sequence. Builds once with cargo, then
starts each binary the way cargo would (working directory = its package,
CARGO_MANIFEST_DIR set), longest first, keeps each one's output in a log and
prints it when that binary fails (the logs in target/test-logs/ keep every
scenario's printed figures). Doc tests run through cargo at the end.

Usage: scripts/run-tests.py [--jobs N] [-p PACKAGE]...   (no -p: the whole workspace)
"""

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed

# Binaries that mostly wait on real time: started first, and every test in
# them at once (each is one scenario against its own servers).
REAL_TIME = ("openbao_outbound", "openbao_leases", "openbao_hmac", "agent", "plain_threads", "fork", "outage", "rotation",
             "unknown_kid_flood", "timeouts", "conditional_get", "verify_doctor", "cli")


def build(selection):
    cmd = ["cargo", "test", *selection, "--no-run", "--message-format=json-render-diagnostics"]
    out = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
    if out.returncode != 0:
        sys.exit(out.returncode)
    binaries = []
    for line in out.stdout.splitlines():
        try:
            msg = json.loads(line)
        except json.JSONDecodeError:
            continue
        if msg.get("reason") != "compiler-artifact" or not msg.get("profile", {}).get("test"):
            continue
        if not msg.get("executable"):
            continue
        kind = msg["target"]["kind"][0]
        name = msg["target"]["name"]
        package_dir = os.path.dirname(msg["manifest_path"])
        label = f"{msg['package_id'].split('#')[0].rsplit('/', 1)[-1]}::{name}" if kind != "test" else name
        binaries.append({"exe": msg["executable"], "dir": package_dir, "name": name, "label": label})
    return binaries


def run(binary, logdir):
    env = dict(os.environ, CARGO_MANIFEST_DIR=binary["dir"])
    if binary["name"] in REAL_TIME:
        env["RUST_TEST_THREADS"] = "16"
    log_path = os.path.join(logdir, binary["label"].replace("/", "_").replace(":", "_") + ".log")
    started = time.monotonic()
    with open(log_path, "w") as log:
        # --nocapture: the scenarios print their figures (audit-log counts,
        # timings), which the log keeps for the closing notes and the README.
        code = subprocess.run([binary["exe"], "--nocapture"], cwd=binary["dir"], env=env, stdout=log, stderr=subprocess.STDOUT).returncode
    return binary, code, time.monotonic() - started, log_path


def main():
    jobs = 4
    if "--jobs" in sys.argv:
        jobs = int(sys.argv[sys.argv.index("--jobs") + 1])
    packages = [sys.argv[i + 1] for i, a in enumerate(sys.argv) if a == "-p"]
    selection = [arg for p in packages for arg in ("-p", p)] or ["--workspace"]
    started = time.monotonic()
    binaries = build(selection)
    binaries.sort(key=lambda b: (b["name"] not in REAL_TIME, REAL_TIME.index(b["name"]) if b["name"] in REAL_TIME else 0))
    logdir = os.path.join("target", "test-logs")
    os.makedirs(logdir, exist_ok=True)
    print(f"run-tests: {len(binaries)} test binaries, {jobs} at a time (logs in {logdir})", flush=True)
    failed = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run, b, logdir) for b in binaries]
        for future in as_completed(futures):
            binary, code, seconds, log_path = future.result()
            with open(log_path) as f:
                text = f.read()
            summary = [l for l in text.splitlines() if l.startswith("test result:")]
            verdict = "ok  " if code == 0 else "FAIL"
            print(f"  {verdict} {binary['label']:<40} {seconds:6.1f} s  {summary[-1] if summary else ''}", flush=True)
            if code != 0:
                failed.append(binary["label"])
                print(text, flush=True)
    doc = subprocess.run(["cargo", "test", *selection, "--doc", "-q"])
    if doc.returncode != 0:
        failed.append("doc tests")
    wall = time.monotonic() - started
    if failed:
        print(f"run-tests: FAILED {', '.join(failed)} ({wall:.0f} s)", flush=True)
        sys.exit(1)
    print(f"run-tests: every test binary and the doc tests passed in {wall:.0f} s wall time", flush=True)


if __name__ == "__main__":
    main()
