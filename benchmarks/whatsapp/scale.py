#!/usr/bin/env python3
"""The WhatsApp case's scale figures: chat_relay and chat_load as processes on loopback.

1. idle connections one relay holds, and its memory per connection (VmRSS delta / N) plus the
   kernel's TCP buffer pages (/proc/net/sockstat), from several loopback source addresses;
2. messages per second per relay core with acks: one relay, no churn, delivered messages
   divided by the relay's CPU seconds (utime + stime), V1, V2 and V3;
3. a 3-relay cluster, V2 (a new relay-to-relay connection per forward) against V3 (a pool of
   long-lived links), offered more than it can carry: delivered/s, relay connections opened,
   most open at once;
4. delivery latency (p50, p99) in a 3-relay cluster at a load it carries (300 messages/s,
   10% of them 16 KB bulk);
5. the store: one V2 relay on the log store, then on the Redis store (redis-server on
   loopback, appendonly yes with appendfsync always, then everysec), the same offered load
   (10,000 messages/s for 5 s, more than one relay carries here), drained to the last
   message: delivered messages/s over the whole run and messages per core-second (relay +
   redis-server CPU).

Usage: benchmarks/whatsapp/scale.py [--build build/release] [--idle 100000] [--quick]
                                    [--only idle,per-core,cluster,latency,stores]
Needs a file-descriptor limit above --idle (it raises its own soft limit, and the hard one when
allowed; otherwise it lowers --idle to fit and says so).
"""
import argparse
import os
import re
import resource
import shutil
import socket
import subprocess
import tempfile
import time

TICK = os.sysconf("SC_CLK_TCK")


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def fields(line):
    return dict(w.split("=", 1) for w in line.split() if "=" in w)


def cpu_s(pid):
    parts = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(parts[11]) + int(parts[12])) / TICK


def rss_kb(pid):
    for line in open(f"/proc/{pid}/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def tcp_mem_pages():
    for line in open("/proc/net/sockstat"):
        if line.startswith("TCP:"):
            return int(line.split("mem")[1].split()[0])
    return 0


class Cluster:
    def __init__(self, bin_dir, mode, n, users, work, extra=()):
        self.addresses = ",".join(f"127.0.0.1:{free_port()}" for _ in range(n))
        self.procs = []
        for i in range(n):
            p = subprocess.Popen(
                [f"{bin_dir}/chat_relay", "--mode", mode, "--index", str(i), "--cluster",
                 self.addresses, "--users", str(users), "--data-dir", f"{work}/{mode}-{i}-{time.time()}"]
                + list(extra),
                stdout=subprocess.PIPE, text=True)
            assert "listening" in p.stdout.readline()
            self.procs.append(p)

    def stop(self):
        stats = []
        for p in self.procs:
            p.terminate()
            out = p.communicate(timeout=60)[0]
            m = re.search(r"stopped: (.*)", out)
            stats.append(fields(m.group(1)) if m else {})
        return stats


def load(bin_dir, cluster, mode, args):
    out = subprocess.run([f"{bin_dir}/chat_load", "--mode", mode, "--cluster", cluster.addresses] + args,
                         stdout=subprocess.PIPE, text=True, timeout=300).stdout
    line = [l for l in out.splitlines() if l.startswith("mode=")][-1]
    return line, fields(line)


def idle(bin_dir, count, work):
    c = Cluster(bin_dir, "v2", 1, count, work)
    pid = c.procs[0].pid
    before, mem_before = rss_kb(pid), tcp_mem_pages()
    sources = ",".join(f"127.0.0.{i}" for i in range(2, 3 + count // 20000))
    p = subprocess.Popen([f"{bin_dir}/chat_load", "--cluster", c.addresses, "--idle", str(count),
                          "--sources", sources, "--hold-ms", "3000"], stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline().strip()
    time.sleep(1)
    after, mem_after = rss_kb(pid), tcp_mem_pages()
    p.wait()
    c.stop()
    n = int(fields(line)["connections"])
    print(f"idle: {line} sources={sources.count(',') + 1} relay_rss_before_kb={before} "
          f"relay_rss_after_kb={after} bytes_per_connection={(after - before) * 1024 / max(n, 1):.0f} "
          f"kernel_tcp_pages={mem_after - mem_before}", flush=True)


def per_core(bin_dir, mode, users, rate, duration, work):
    c = Cluster(bin_dir, mode, 1, users, work)
    pid = c.procs[0].pid
    cpu0 = cpu_s(pid)
    line, f = load(bin_dir, c, mode, ["--users", str(users), "--duration-ms", str(duration), "--rate", str(rate),
                                      "--churn", "0", "--bulk-fraction", "0"])
    cpu = cpu_s(pid) - cpu0
    c.stop()
    delivered = int(f["delivered"])
    print(f"per-core {mode}: delivered={delivered} relay_cpu_s={cpu:.2f} msgs_per_core_s={delivered / cpu:.0f} "
          f"msgs_per_s={delivered / float(f['wall_s']):.0f} p50_ms={f['p50_ms']} p99_ms={f['p99_ms']}", flush=True)


def links(bin_dir, mode, users, rate, duration, work):
    c = Cluster(bin_dir, mode, 3, users, work)
    pids = [p.pid for p in c.procs]
    cpu0 = sum(cpu_s(p) for p in pids)
    line, f = load(bin_dir, c, mode, ["--users", str(users), "--duration-ms", str(duration), "--rate", str(rate),
                                      "--churn", "0", "--bulk-fraction", "0"])
    cpu = sum(cpu_s(p) for p in pids) - cpu0
    stats = c.stop()
    connects = sum(int(s.get("peer_connects", 0)) for s in stats)
    peak = max(int(s.get("peer_links_peak", 0)) for s in stats)
    delivered = int(f["delivered"])
    print(f"cluster {mode}: delivered={delivered} msgs_per_s={delivered / float(f['wall_s']):.0f} "
          f"relay_cpu_s={cpu:.2f} msgs_per_core_s={delivered / cpu:.0f} relay_connects={connects} "
          f"links_peak_per_relay={peak} p50_ms={f['p50_ms']} p99_ms={f['p99_ms']}", flush=True)


def latency(bin_dir, mode, users, rate, duration, work):
    c = Cluster(bin_dir, mode, 3, users, work)
    line, f = load(bin_dir, c, mode, ["--users", str(users), "--duration-ms", str(duration), "--rate", str(rate),
                                      "--churn", "0"])
    c.stop()
    print(f"latency {mode}: rate={rate} users={users} delivered={f['delivered']} lost={f['lost']} "
          f"p50_ms={f['p50_ms']} p99_ms={f['p99_ms']}", flush=True)


class Redis:
    """redis-server on a free loopback port, persistence as given, in its own directory."""

    def __init__(self, work, appendfsync):
        self.port = free_port()
        data = tempfile.mkdtemp(prefix="redis-", dir=work)
        self.proc = subprocess.Popen(
            [shutil.which("redis-server"), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "yes", "--appendfsync", appendfsync, "--dir", data, "--daemonize", "no"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        for _ in range(500):
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                time.sleep(0.01)
        raise RuntimeError("redis-server did not start")

    def stop(self):
        self.proc.kill()
        self.proc.wait()


def stores(bin_dir, users, rate, duration, work):
    for store, fsync in (("log", None), ("redis", "always"), ("redis", "everysec")):
        redis = Redis(work, fsync) if store == "redis" else None
        extra = ["--store=redis", f"--redis=127.0.0.1:{redis.port}"] if redis else []
        c = Cluster(bin_dir, "v2", 1, users, work, extra)
        pids = [c.procs[0].pid] + ([redis.proc.pid] if redis else [])
        cpu0 = [cpu_s(p) for p in pids]
        line, f = load(bin_dir, c, "v2", ["--users", str(users), "--duration-ms", str(duration), "--rate", str(rate),
                                          "--churn", "0", "--bulk-fraction", "0", "--drain-timeout-ms", "120000"])
        cpu = [cpu_s(p) - c0 for p, c0 in zip(pids, cpu0)]
        stats = c.stop()[0]
        if redis:
            redis.stop()
        delivered = int(f["delivered"])
        stored = max(int(stats.get("stored", 0)), 1)
        name = store if not fsync else f"redis-{fsync}"
        print(f"store {name}: delivered={delivered} lost={f['lost']} drained={f['drained']} msgs_per_s={delivered / float(f['wall_s']):.0f} "
              f"relay_cpu_s={cpu[0]:.2f} redis_cpu_s={sum(cpu[1:]):.2f} "
              f"msgs_per_core_s={delivered / sum(cpu):.0f} batches_per_1000_msgs={1000 * int(stats.get('fsyncs', 0)) / stored:.1f} "
              f"store_failures={stats.get('store_failures', '?')}", flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default="build/release")
    ap.add_argument("--idle", type=int, default=100000)
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", default="idle,per-core,cluster,latency,stores",
                    help="comma list of: idle, per-core, cluster, latency, stores")
    a = ap.parse_args()
    only = set(a.only.split(","))
    bin_dir = os.path.join(a.build, "examples/cases/whatsapp")
    # The relay and chat_load each hold one descriptor per connection.
    want = a.idle + 500
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, want), max(hard, want)))
    except (ValueError, OSError):
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        if hard < want:
            print(f"note: the hard descriptor limit is {hard}: --idle {a.idle} lowered to {hard - 500}")
            a.idle = hard - 500
    work = tempfile.mkdtemp(prefix="chat-scale-")
    try:
        duration = 1000 if a.quick else 5000
        if "idle" in only:
            idle(bin_dir, 2000 if a.quick else a.idle, work)
        if "per-core" in only:
            for mode in ("v1", "v2", "v3"):
                per_core(bin_dir, mode, 2000, 30000, duration, work)
        if "cluster" in only:
            for mode in ("v2", "v3"):
                links(bin_dir, mode, 3000, 30000, duration, work)
        if "latency" in only:
            for mode in ("v1", "v2", "v3"):
                latency(bin_dir, mode, 1000, 300, duration, work)
        if "stores" in only:
            if shutil.which("redis-server"):
                stores(bin_dir, 2000, 10000, duration, work)
            else:
                print("store: redis-server is not installed: skipped")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
