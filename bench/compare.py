#!/usr/bin/env python3
"""compare.py: Sluice against a bare gRPC echo server, side by side.

Runs the bare baseline (bench/echo_server: the gateway's own gRPC settings,
the Invocations API answered at once) and a real `sluice serve` in one
invocation, drives both with the load generator (bench/loadgen) in
alternating rounds -- baseline, sluice, baseline, sluice, ... -- and prints,
per scenario, the medians of each side and their ratios, plus the server's
idle and loaded resident memory.

    bench/compare.py [--build DIR] [--rounds N] [--duration S] [--warmup S]
                     [--scenarios a,b,...] [--payloads 100,65536]
                     [--concurrency 1,64] [--markdown FILE] [--csv FILE]

Scenarios (the function each one invokes on the Sluice side):
  inproc      sync Invoke, native echo with isolation: none (in the server)
  worker      sync Invoke, native echo in a worker process
  lambda      sync Invoke, the lambda-python example (JSON payloads)
  exec        sync Invoke, /bin/cat as an exec function (a process per call)
  async-ack   InvokeAsync: the durable acknowledgement alone. The function
              (`held`, one slot, taken by a long call for the round) runs
              nothing meanwhile, so the queue takes the whole round, as it
              takes a burst; the runs are let go and drained afterwards
  async-e2e   InvokeAsync of the worker echo, timed until every
              acknowledged invocation ran: acknowledgements and runs
The baseline answers Invoke (sync scenarios) or InvokeAsync (async ones).

Before the servers start, the disk under the data directory is measured as
the store uses it: the median time of a synced append (write, then
fdatasync) of each payload size, and the bandwidth of large synced appends.
From these and the baseline's own figures each async row gets the disk's
ceiling: the highest ratio any server could reach there while storing each
acknowledged payload durably before answering (see disk_ceiling).
Each scenario runs at every payload size and concurrency given: concurrency
C is min(C, 4) connections with C / connections calls outstanding on each.
"""

import argparse
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

SCENARIOS = ["inproc", "worker", "lambda", "exec", "async-ack", "async-e2e"]
FUNCTION = {"inproc": "noop-inproc", "worker": "noop-worker", "lambda": "noop-lambda",
            "exec": "noop-exec", "async-ack": "held", "async-e2e": "noop-worker"}
# How long the call that holds `held` sleeps, at most: it is cancelled as
# soon as its round ends.
HOLD_MILLISECONDS = 600000


def die(message):
    sys.exit("compare.py: " + message)


class Process:
    """A server child that writes a ready file with its ports."""

    def __init__(self, argv, ready_file, log_path):
        self.log = open(log_path, "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT)
        deadline = time.time() + 30
        while time.time() < deadline:
            if self.proc.poll() is not None:
                die("%s exited during start-up (see %s)" % (argv[0], log_path))
            try:
                with open(ready_file) as f:
                    self.ports = json.load(f)
                return
            except (OSError, ValueError):
                time.sleep(0.01)
        die("%s did not become ready" % argv[0])

    def rss_mib(self):
        try:
            with open("/proc/%d/status" % self.proc.pid) as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        return int(line.split()[1]) / 1024.0
        except OSError:
            pass
        return float("nan")

    def stop(self):
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.log.close()


class RssSampler:
    """Samples a process's resident memory every 50 ms; keeps the maximum."""

    def __init__(self, process):
        self.process = process
        self.peak = 0.0
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stopped.wait(0.05):
            self.peak = max(self.peak, self.process.rss_mib())

    def stop(self):
        self.stopped.set()
        self.thread.join()
        return self.peak


def metrics_text(port):
    return urllib.request.urlopen("http://127.0.0.1:%d/metrics" % port, timeout=10).read().decode()


def metric_sum(port, name, labels):
    text = metrics_text(port)
    total = 0.0
    for line in text.splitlines():
        if not line.startswith(name) or line.startswith("#"):
            continue
        series, _, value = line.rpartition(" ")
        if series.split("{")[0] != name:
            continue
        if all('%s="%s"' % (k, v) in series for k, v in labels.items()):
            total += float(value)
    return total


def write_manifest(build, directory):
    path = os.path.join(directory, "bench.yaml")
    functions = os.path.join(build, "functions")
    with open(path, "w") as f:
        f.write("""functions:
  - name: noop-inproc
    runtime: native
    artifact: {functions}/libecho.so
    isolation: none
    concurrency: 64
    max_queue: 1000000
  - name: noop-worker
    runtime: native
    artifact: {functions}/libecho.so
    concurrency: 64
    min_warm: 64
    max_queue: 1000000
    idle_timeout: 10m
  - name: noop-lambda
    runtime: lambda
    artifact: {functions}/lambda-python.tar.gz
    handler: function.handler
    concurrency: 64
    max_queue: 1000000
    idle_timeout: 10m
  - name: noop-exec
    runtime: exec
    artifact: /bin/cat
    concurrency: 64
    max_queue: 1000000
  - name: held
    runtime: native
    artifact: {functions}/libsleep.so
    isolation: none
    concurrency: 1
    max_queue: 1000000
    timeout: 15m
    retry:
      max_attempts: 1
""".format(functions=functions))
    return path


def loadgen(build, port, method, function, payload, concurrency, duration, warmup, json_payload):
    connections = min(concurrency, 4)
    argv = [os.path.join(build, "bench", "loadgen"), "--target", "127.0.0.1:%d" % port,
            "--method", method, "--function", function, "--payload-bytes", str(payload),
            "--connections", str(connections), "--streams", str(concurrency // connections),
            "--duration", str(duration), "--warmup", str(warmup), "--json"]
    if json_payload:
        argv.append("--json-payload")
    out = subprocess.run(argv, check=True, capture_output=True, text=True).stdout
    return json.loads(out)


ACKS = ("grpc_server_handled_total",
        {"grpc_method": "InvokeAsync", "grpc_code": "OK"})


def sluice_cli(build, sluice, *args):
    argv = [os.path.join(build, "sluice"), "--server",
            "127.0.0.1:%d" % sluice.ports["grpc_port"]] + list(args)
    done = subprocess.run(argv, capture_output=True, text=True)
    if done.returncode != 0:
        die("sluice %s: %s" % (" ".join(args), done.stderr.strip()))
    return done.stdout.strip()


def hold(build, sluice, function):
    """Takes the one slot of `function` (the sleep example) with a long call,
    so that what is invoked next waits in its queue; returns the call's id."""
    metrics = sluice.ports["metrics_port"]
    labels = {"function": function}
    holder = sluice_cli(build, sluice, "invoke", function, "--async",
                        "--data", str(HOLD_MILLISECONDS))
    deadline = time.time() + 60
    while metric_sum(metrics, "sluice_invocations_in_flight", labels) < 1:
        if time.time() > deadline:
            die("the call that holds %s did not start" % function)
        time.sleep(0.01)
    return holder


def run_acks(build, sluice, function, payload, concurrency, duration, warmup):
    """InvokeAsync acknowledgements while `function` runs nothing (see hold),
    with the acknowledgements per fsync. The held invocations run after the
    round (the sleep example fails at once on the load generator's payload,
    and is not retried), and the round returns when they all ran."""
    holder = hold(build, sluice, function)
    metrics = sluice.ports["metrics_port"]
    # Servers older than sluice_store_syncs_total synced every commit.
    fsyncs = ("sluice_store_syncs_total" if "sluice_store_syncs_total" in metrics_text(metrics)
              else "sluice_store_commits_total")
    acks_before = metric_sum(metrics, *ACKS)
    syncs_before = metric_sum(metrics, fsyncs, {})
    report = loadgen(build, sluice.ports["grpc_port"], "invoke-async", function, payload,
                     concurrency, duration, warmup, False)
    acks = metric_sum(metrics, *ACKS) - acks_before
    syncs = metric_sum(metrics, fsyncs, {}) - syncs_before
    report["acks_per_fsync"] = acks / syncs if syncs else float("nan")
    sluice_cli(build, sluice, "cancel", holder)
    wait_idle(metrics)
    return report


def wait_idle(metrics):
    """Waits until Sluice has run everything it acknowledged, so that its
    background work does not share the machine with the next baseline round."""
    deadline = time.time() + 600
    while (metric_sum(metrics, "sluice_queue_depth", {}) > 0 or
           metric_sum(metrics, "sluice_invocations_in_flight", {}) > 0):
        if time.time() > deadline:
            die("the queue did not drain after an acknowledgement round")
        time.sleep(0.01)


def synced_append_us(directory, size, count):
    """The median time, in µs, of appending `size` bytes to a new file in
    `directory` and fdatasync-ing it, over `count` appends."""
    path = os.path.join(directory, "disk-probe")
    block = b"x" * size
    times = []
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            start = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            times.append((time.perf_counter() - start) * 1e6)
    finally:
        os.close(fd)
        os.unlink(path)
    return statistics.median(times)


def measure_disk(directory, payloads):
    """How the disk under `directory` syncs: {"append_us": {payload: µs},
    "bytes_per_second": synced bandwidth}. The bandwidth is that of synced
    2 MiB appends, about what a group commit of many 64 KiB payloads writes."""
    append_us = {payload: synced_append_us(directory, payload, 200) for payload in payloads}
    chunk = 2 << 20
    chunk_us = synced_append_us(directory, chunk, 32)
    return {"append_us": append_us, "bytes_per_second": chunk / (chunk_us / 1e6)}


def disk_ceiling(disk, scenario, payload, concurrency, bare_per_second, bare_p50_us):
    """The highest ratio the disk allows an async row, for any server that
    makes each acknowledged payload durable before it answers:
    - one caller (concurrency 1) waits, per call, for the round trip the
      bare server takes whole plus at least one synced append of its payload;
    - C callers can share a sync (group commit), so at most C acknowledgements
      per synced append, and every payload goes through the log: at most the
      synced bandwidth / the bytes stored per invocation (the payload; end to
      end also the echo's output, as long again).
    Returns None for sync scenarios, which do not wait for the disk."""
    if not scenario.startswith("async") or not bare_per_second:
        return None
    sync_us = disk["append_us"][payload]
    if concurrency == 1:
        ceiling = 1e6 / (bare_p50_us + sync_us)
    else:
        stored = payload * (2 if scenario == "async-e2e" else 1)
        ceiling = min(concurrency * 1e6 / sync_us, disk["bytes_per_second"] / stored)
    return min(1.0, ceiling / bare_per_second)


def run_e2e(build, sluice, function, payload, concurrency, duration):
    """Enqueues for `duration` seconds, then waits until all ran; calls/s end to end."""
    metrics = sluice.ports["metrics_port"]
    labels = {"function": function}
    before = metric_sum(metrics, "sluice_invocations_total", labels)
    start = time.time()
    report = loadgen(build, sluice.ports["grpc_port"], "invoke-async", function, payload,
                     concurrency, duration, 0, False)
    target = before + report["ok"]
    deadline = time.time() + 600
    while metric_sum(metrics, "sluice_invocations_total", labels) < target:
        if time.time() > deadline:
            die("async end-to-end: the queue did not drain")
        time.sleep(0.01)
    report["ok_per_second"] = report["ok"] / (time.time() - start)
    return report


def ceiling_text(ceiling):
    return "-" if ceiling is None else "%.3f" % ceiling


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--build", default=os.path.join(os.path.dirname(__file__), "..", "build"))
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=3)
    parser.add_argument("--warmup", type=float, default=1)
    parser.add_argument("--scenarios", default=",".join(SCENARIOS))
    parser.add_argument("--payloads", default="100,65536")
    parser.add_argument("--concurrency", default="1,64")
    parser.add_argument("--markdown", help="also write the table as Markdown to this file")
    parser.add_argument("--csv", help="also write one line per scenario to this CSV file")
    args = parser.parse_args()
    build = os.path.abspath(args.build)
    scenarios = args.scenarios.split(",")
    for s in scenarios:
        if s not in SCENARIOS:
            die("unknown scenario %r (known: %s)" % (s, ", ".join(SCENARIOS)))
    payloads = [int(p) for p in args.payloads.split(",")]
    concurrencies = [int(c) for c in args.concurrency.split(",")]

    work = tempfile.mkdtemp(prefix="sluice-compare-")
    servers = []
    try:
        disk = measure_disk(work, payloads)
        print("disk under the data directory: synced append p50 %s; synced 2 MiB appends %.0f MB/s"
              % (", ".join("%d B %.0f µs" % (p, us) for p, us in sorted(disk["append_us"].items())),
                 disk["bytes_per_second"] / 1e6))
        bare = Process([os.path.join(build, "bench", "echo_server"), "--ready-file",
                        os.path.join(work, "bare.ready")],
                       os.path.join(work, "bare.ready"), os.path.join(work, "bare.log"))
        servers.append(bare)
        manifest = write_manifest(build, work)
        sluice = Process([os.path.join(build, "sluice"), "serve", "--listen", "127.0.0.1:0",
                          "--metrics-listen", "127.0.0.1:0", "--data-dir",
                          os.path.join(work, "data"), "--ready-file",
                          os.path.join(work, "sluice.ready"), "--manifest", manifest,
                          "--max-queued", "1000000"],
                         os.path.join(work, "sluice.ready"), os.path.join(work, "sluice.log"))
        servers.append(sluice)
        time.sleep(1)  # let start-up allocations settle before reading idle memory
        idle_rss = sluice.rss_mib()
        bare_idle_rss = bare.rss_mib()
        sampler = RssSampler(sluice)

        rows = []
        print("%-10s %7s %4s | %10s %10s %7s %7s | %9s %9s %9s | %9s %9s" %
              ("scenario", "payload", "conc", "bare/s", "sluice/s", "ratio", "disk", "bare p50",
               "sluice p50", "added", "bare p99", "sluice p99"))
        for scenario in scenarios:
            function = FUNCTION[scenario]
            method = "invoke-async" if scenario.startswith("async") else "invoke"
            for payload in payloads:
                for concurrency in concurrencies:
                    bare_runs, sluice_runs, ratios = [], [], []
                    errors = {}
                    for _ in range(args.rounds):
                        a = loadgen(build, bare.ports["grpc_port"], method, function, payload,
                                    concurrency, args.duration, args.warmup,
                                    scenario == "lambda")
                        if scenario == "async-e2e":
                            b = run_e2e(build, sluice, function, payload, concurrency,
                                        args.duration)
                        elif scenario == "async-ack":
                            b = run_acks(build, sluice, function, payload, concurrency,
                                         args.duration, args.warmup)
                        else:
                            b = loadgen(build, sluice.ports["grpc_port"], method, function,
                                        payload, concurrency, args.duration, args.warmup,
                                        scenario == "lambda")
                        for code, n in b["errors"].items():
                            errors[code] = errors.get(code, 0) + n
                        bare_runs.append(a)
                        sluice_runs.append(b)
                        ratios.append(b["ok_per_second"] / a["ok_per_second"]
                                      if a["ok_per_second"] else float("nan"))

                    def med(runs, key):
                        return statistics.median(r[key] for r in runs)

                    row = {
                        "scenario": scenario, "payload": payload, "concurrency": concurrency,
                        "bare_per_second": med(bare_runs, "ok_per_second"),
                        "sluice_per_second": med(sluice_runs, "ok_per_second"),
                        "ratio": statistics.median(ratios),
                        "bare_p50_us": med(bare_runs, "p50_us"),
                        "sluice_p50_us": med(sluice_runs, "p50_us"),
                        "bare_p99_us": med(bare_runs, "p99_us"),
                        "sluice_p99_us": med(sluice_runs, "p99_us"),
                        "errors": errors,
                    }
                    row["added_p50_us"] = row["sluice_p50_us"] - row["bare_p50_us"]
                    row["disk_ceiling"] = disk_ceiling(disk, scenario, payload, concurrency,
                                                       row["bare_per_second"],
                                                       row["bare_p50_us"])
                    if scenario == "async-ack":
                        row["acks_per_fsync"] = med(sluice_runs, "acks_per_fsync")
                    rows.append(row)
                    print("%-10s %7d %4d | %10.0f %10.0f %7.3f %7s | %9.0f %9.0f %9.0f | %9.0f %9.0f%s"
                          % (scenario, payload, concurrency, row["bare_per_second"],
                             row["sluice_per_second"], row["ratio"],
                             ceiling_text(row["disk_ceiling"]), row["bare_p50_us"],
                             row["sluice_p50_us"], row["added_p50_us"], row["bare_p99_us"],
                             row["sluice_p99_us"],
                             ("  %.1f acks/fsync" % row["acks_per_fsync"])
                             if "acks_per_fsync" in row else "")
                          + (("  errors " + json.dumps(errors)) if errors else ""),
                          flush=True)
        loaded_rss = sampler.stop()
        print("\nresident memory (MiB): sluice idle %.1f, loaded (peak) %.1f; bare echo idle %.1f"
              % (idle_rss, loaded_rss, bare_idle_rss))
        if args.markdown:
            with open(args.markdown, "w") as f:
                f.write("| scenario | payload | concurrency | bare calls/s | sluice calls/s | "
                        "ratio | disk ceiling | bare p50 µs | sluice p50 µs | added p50 µs | "
                        "sluice p99 µs |\n")
                f.write("|---|---|---|---|---|---|---|---|---|---|---|\n")
                for r in rows:
                    f.write("| %s | %d B | %d | %.0f | %.0f | %.3f | %s | %.0f | %.0f | %.0f | %.0f |\n"
                            % (r["scenario"], r["payload"], r["concurrency"],
                               r["bare_per_second"], r["sluice_per_second"], r["ratio"],
                               ceiling_text(r["disk_ceiling"]), r["bare_p50_us"],
                               r["sluice_p50_us"], r["added_p50_us"], r["sluice_p99_us"]))
                f.write("\nThe disk under the data directory: synced append p50 %s; synced "
                        "2 MiB appends %.0f MB/s.\n"
                        % (", ".join("%d B %.0f µs" % (p, us)
                                     for p, us in sorted(disk["append_us"].items())),
                           disk["bytes_per_second"] / 1e6))
                f.write("\nResident memory: sluice idle %.1f MiB, loaded (peak) %.1f MiB; "
                        "bare echo idle %.1f MiB.\n" % (idle_rss, loaded_rss, bare_idle_rss))
                acks = ["%d B, concurrency %d: %.1f" % (r["payload"], r["concurrency"],
                                                        r["acks_per_fsync"])
                        for r in rows if "acks_per_fsync" in r]
                if acks:
                    f.write("\nAcknowledgements per fsync (async-ack, medians): %s.\n"
                            % "; ".join(acks))
        if args.csv:
            with open(args.csv, "w") as f:
                f.write("scenario,payload,concurrency,bare_per_second,sluice_per_second,ratio,"
                        "bare_p50_us,sluice_p50_us,added_p50_us,disk_ceiling\n")
                for r in rows:
                    f.write("%s,%d,%d,%.1f,%.1f,%.4f,%.1f,%.1f,%.1f,%s\n" %
                            (r["scenario"], r["payload"], r["concurrency"],
                             r["bare_per_second"], r["sluice_per_second"], r["ratio"],
                             r["bare_p50_us"], r["sluice_p50_us"], r["added_p50_us"],
                             "" if r["disk_ceiling"] is None else "%.4f" % r["disk_ceiling"]))
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
