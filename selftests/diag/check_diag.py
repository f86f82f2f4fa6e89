# SPDX-License-Identifier: GPL-2.0
"""ashmem-diag against the real driver, with known numbers (runs as root in
the test guest, with the module loaded).

Starts ./workload (its processes, names and regions are listed in
workload.c), moves diag-beta into a cgroup named like Waydroid's and
diag-alpha into one named like a docker container's, runs ashmem-diag
--json, --cgroup, --comm, --watch --chart and the table output, and checks
what they report against what the workload holds. Prints TAP: one result per
checked behaviour, diagnostics as "# " lines, the table output as "# " lines
too.

  check_diag.py [--tool PATH] [--workload PATH] [--dir DIR] [--chart FILE]
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import time
import traceback
import xml.etree.ElementTree as ET

HERE = os.path.dirname(os.path.abspath(__file__))
# workload.c's sizes are counts of pages, written as the KiB they are with
# 4 KiB pages (x86-64's); KIB is that unit: a quarter of the kernel's page.
# The figures in the case names are those of 4 KiB pages.
PAGE = os.sysconf("SC_PAGESIZE")
KIB = PAGE // 4
CGROUP = "/lxc.payload.waydroid2"
DOCKER_ID = "d1a9" * 16
DOCKER_CGROUP = "/system.slice/docker-%s.scope" % DOCKER_ID
CGROUP_FS = "/sys/fs/cgroup"
ROLES = ("alpha", "beta", "stable", "leaker", "blank", "zleader")
# Named like Android apps (workload.c): the package name as argv[0], its
# last 15 bytes as comm.
PACKAGES = {"stable": "com.example.steady.persistent",
            "leaker": "com.example.leaky.persistent"}
SVG = "{http://www.w3.org/2000/svg}"


def comm_of(role):
    """The comm the workload gives a role."""
    return PACKAGES[role][-15:] if role in PACKAGES else "diag-" + role


class Failed(Exception):
    """A check's reason to fail, printed as a diagnostic."""


def expect(what, got, want):
    if got != want:
        raise Failed("%s: expected %r, got %r" % (what, want, got))


def expect_true(what, cond, detail=""):
    if not cond:
        raise Failed("%s%s" % (what, (": " + detail) if detail else ""))


class Tap:
    def __init__(self, planned):
        self.planned = planned
        self.n = 0
        self.failed = 0
        print("1..%d" % planned, flush=True)

    def diag(self, text):
        for line in str(text).splitlines() or [""]:
            print("# " + line, flush=True)

    def check(self, description, fn, *args):
        """Runs fn(*args); ok when it returns without raising."""
        self.n += 1
        try:
            fn(*args)
        except Failed as e:
            ok, why = False, str(e)
        except Exception:       # a missing field is a failure too
            ok = False
            why = "\n".join(traceback.format_exc().rstrip()
                            .splitlines()[-4:])
        else:
            ok, why = True, ""
        print("%s %d - %s" % ("ok" if ok else "not ok", self.n, description),
              flush=True)
        if not ok:
            self.failed += 1
            self.diag(why)

    def finish(self):
        while self.n < self.planned:    # a miscounted plan must fail
            self.n += 1
            print("not ok %d - (planned but not run)" % self.n, flush=True)
            self.failed += 1
        return 1 if self.failed else 0


def run_tool(tool, *args):
    """Runs ashmem-diag with this same interpreter; returns (code, stdout)."""
    p = subprocess.run([sys.executable, tool] + list(args),
                       stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       universal_newlines=True, timeout=300)
    if p.stderr.strip():
        for line in p.stderr.rstrip().splitlines():
            print("# ashmem-diag stderr: " + line, flush=True)
    return p.returncode, p.stdout


def run_json(tool, *args):
    code, out = run_tool(tool, "--json", *args)
    try:
        return code, json.loads(out)
    except ValueError:
        raise Failed("ashmem-diag %s: exit %d, not JSON: %r"
                     % (" ".join(args), code, out[:300]))


class Workload:
    def __init__(self, binary, directory):
        self.dir = directory
        os.makedirs(directory, exist_ok=True)
        ready = os.path.join(directory, "ready")
        if os.path.exists(ready):
            os.remove(ready)
        self.proc = subprocess.Popen([binary, directory])
        self.pids = {}
        deadline = time.monotonic() + 60
        while not os.path.exists(ready):
            if self.proc.poll() is not None:
                raise Failed("workload exited with %d before it was ready"
                             % self.proc.returncode)
            if time.monotonic() > deadline:
                raise Failed("workload not ready after 60 s")
            time.sleep(0.1)
        with open(ready) as f:
            for line in f:
                role, pid = line.split()
                self.pids[role] = int(pid)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait()


def alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie is gone for ashmem's purposes, but the parent reaps them.
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:
        return False


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--tool", default=os.path.join(HERE, "ashmem-diag"))
    ap.add_argument("--workload", default=os.path.join(HERE, "workload"))
    ap.add_argument("--dir", default="/tmp/diag-workload")
    ap.add_argument("--chart", default="/tmp/diag-chart.svg")
    args = ap.parse_args()
    tool = args.tool

    t = Tap(28)
    state = {}

    # ---- the workload
    def start():
        w = state["w"] = Workload(args.workload, args.dir)
        expect("roles ready", sorted(w.pids), sorted(ROLES))
        t.diag("workload pids: " + " ".join(
            "%s=%d" % (r, w.pids[r]) for r in ROLES))
        for role, pid in w.pids.items():
            with open("/proc/%d/comm" % pid) as f:
                expect("comm of %s" % role, f.read().strip(), comm_of(role))
        # diag-beta into a cgroup named like Waydroid's container, diag-alpha
        # into one named like a docker container's (systemd driver).
        for cgroup, role in ((CGROUP, "beta"), (DOCKER_CGROUP, "alpha")):
            path = CGROUP_FS + cgroup
            os.makedirs(path, exist_ok=True)
            with open(os.path.join(path, "cgroup.procs"), "w") as f:
                f.write(str(w.pids[role]))
    t.check("workload started: diag-alpha, diag-beta, diag-stable,"
            " diag-leaker, diag-blank, diag-zleader ready", start)

    def scan():
        code, doc = run_json(tool)
        state["doc"] = doc
        expect("exit status", code, 0)
        expect("schema", doc["schema"], "ashmem-diag/2")
        procs = {p["pid"]: p for p in doc["processes"]}
        state["procs"] = procs
        for role, pid in state["w"].pids.items():
            expect_true("diag-%s (pid %d) listed" % (role, pid), pid in procs)
            expect("comm of pid %d" % pid, procs[pid]["comm"], comm_of(role))
        expect("unreadable processes", doc["scan"]["unreadable"]["count"], 0)
    t.check("ashmem-diag --json exits 0 and lists the 6 workload processes"
            " by comm", scan)

    def proc(role):
        return state["procs"][state["w"].pids[role]]

    def regions_by_name(p):
        out = {}
        for r in p["regions"]:
            expect_true("one region named %r" % r["name"],
                        r["name"] not in out)
            out[r["name"]] = r
        return out

    def totals(p, want):
        got = {k: p[k] for k in want}
        expect("pid %d %s" % (p["pid"], p["comm"]), got, want)

    def driver():
        d = state["doc"]["driver"]
        expect("module_loaded", d["module_loaded"], True)
        expect("device_registered", d["device_registered"], True)
    t.check("module ashmem_linux loaded and misc device ashmem registered",
            driver)

    # ---- diag-alpha: 64K mapped (4 pages written, fd kept), 128K mapped
    # (all written, fd closed), 256K never mapped (fd + dup).
    def alpha_totals():
        totals(proc("alpha"), {
            "region_count": 3, "private_mappings": 0,
            "mapped_bytes": (64 + 128) * KIB, "rss_bytes": (16 + 128) * KIB,
            "pss_bytes": (16 + 128) * KIB, "swap_bytes": 0,
            "fd_held_bytes": (64 + 256) * KIB,
            "region_bytes": (64 + 128 + 256) * KIB})
    t.check("diag-alpha: 3 regions, mapped 192K, Rss 144K, Pss 144K,"
            " fd-held 320K", alpha_totals)

    def alpha_fdonly():
        r = regions_by_name(proc("alpha"))["alpha-fdonly"]
        expect("alpha-fdonly fds", len(r["fds"]), 2)
        expect("alpha-fdonly inode (never mapped)", r["inode"], None)
        expect_true("alpha-fdonly has a region id", isinstance(r["id"], int))
        expect("alpha-fdonly size, mapped, mappings",
               (r["size"], r["mapped_bytes"], r["mappings"]),
               (256 * KIB, 0, 0))
        expect("alpha-fdonly pinned/unpinned/purged pages",
               (r["pinned_pages"], r["unpinned_pages"], r["purged_pages"]),
               (64, 0, 0))
    t.check("diag-alpha: the never-mapped region and its dup() count once"
            " (one region, 2 fds, 256K)", alpha_fdonly)

    def alpha_mapped():
        rs = regions_by_name(proc("alpha"))
        expect("region names", sorted(rs),
               ["alpha-128k", "alpha-64k", "alpha-fdonly"])
        a, b = rs["alpha-64k"], rs["alpha-128k"]
        expect("alpha-64k", (a["size"], a["mappings"], a["mapped_bytes"],
                             a["rss_bytes"], len(a["fds"]), a["pinned_pages"]),
               (64 * KIB, 1, 64 * KIB, 4 * PAGE, 1, 16))
        expect_true("alpha-64k has inode and id",
                    a["inode"] is not None and a["id"] is not None)
        expect("alpha-128k (fd closed)",
               (b["size"], b["id"], b["fds"], b["mappings"], b["mapped_bytes"],
                b["rss_bytes"], b["pss_bytes"]),
               (None, None, [], 1, 128 * KIB, 128 * KIB, 128 * KIB))
        expect_true("alpha-128k has an inode", b["inode"] is not None)
    t.check("diag-alpha: mapped regions joined to their fd by inode, Rss per"
            " region (4 pages, 32 pages)", alpha_mapped)

    # ---- diag-beta: "beta cache" 1M mapped, 10 pages written, 0-3 unpinned.
    def beta_totals():
        totals(proc("beta"), {
            "region_count": 1, "mapped_bytes": 1024 * KIB,
            "rss_bytes": 10 * PAGE, "pss_bytes": 10 * PAGE, "swap_bytes": 0,
            "fd_held_bytes": 1024 * KIB, "region_bytes": 1024 * KIB})
    t.check("diag-beta: 1 region, mapped 1M, Rss 40K, Pss 40K, fd-held 1M",
            beta_totals)

    def beta_region():
        (r,) = proc("beta")["regions"]
        expect("name (with its space)", r["name"], "beta cache")
        expect("pinned/unpinned/purged pages",
               (r["pinned_pages"], r["unpinned_pages"], r["purged_pages"]),
               (252, 4, 0))
        expect("mappings, fds", (r["mappings"], len(r["fds"])), (1, 1))
    t.check("diag-beta: region \"beta cache\": 252 pinned, 4 unpinned,"
            " 0 purged pages", beta_region)

    def cgroups():
        for role in ROLES:
            want = {"beta": CGROUP, "alpha": DOCKER_CGROUP}.get(role, "/")
            expect("cgroup of diag-%s" % role, proc(role)["cgroup"], want)
        code, doc = run_json(tool, "--cgroup", "waydroid")
        expect("--cgroup waydroid exit status", code, 0)
        expect("--cgroup waydroid pids", [p["pid"] for p in doc["processes"]],
               [state["w"].pids["beta"]])
    t.check("cgroup: diag-beta shows %s, --cgroup waydroid selects only it"
            % CGROUP, cgroups)

    def stable():
        p = proc("stable")
        totals(p, {"region_count": 2, "mapped_bytes": 32 * KIB,
                   "rss_bytes": 32 * KIB, "pss_bytes": 32 * KIB,
                   "fd_held_bytes": 40 * KIB, "region_bytes": 40 * KIB})
        expect("names", sorted(regions_by_name(p)), ["stable-a", "stable-b"])
    t.check("diag-stable: 2 regions, mapped 32K, Rss 32K, fd-held 40K",
            stable)

    def leaker():
        p = proc("leaker")
        expect_true("diag-leaker holds regions", p["region_count"] >= 1)
        for r in p["regions"]:
            expect("leaker region", (r["name"], r["mapped_bytes"],
                                     r["rss_bytes"], r["fds"]),
                   ("leaky", 16 * KIB, PAGE, []))
        t.diag("diag-leaker: %d regions at the first scan"
               % p["region_count"])
    t.check("diag-leaker: regions named \"leaky\", 16K mapped, 1 page"
            " resident each", leaker)

    def filtered_totals():
        code, doc = run_json(tool, "--comm",
                             "^diag-(alpha|beta)$|^com.example.steady")
        expect("exit status", code, 0)
        expect("totals", {k: doc["totals"][k] for k in (
            "processes", "region_count", "region_bytes", "fd_held_bytes",
            "mapped_bytes")},
            {"processes": 3, "region_count": 6,
             "region_bytes": (64 + 128 + 256 + 1024 + 32 + 8) * KIB,
             "fd_held_bytes": (320 + 1024 + 40) * KIB,
             "mapped_bytes": (192 + 1024 + 32) * KIB})
    t.check("--comm filter: totals of alpha, beta, stable: 3 processes,"
            " 6 regions, 1512K", filtered_totals)

    # ---- the driver summary
    def summary_read():
        d = state["doc"]["driver"]
        expect("summary_error", d["summary_error"], None)
        expect_true("summary text", d["summary"] and
                    d["summary"].startswith("regions:\t"), repr(d["summary"]))
        tot = d["summary_totals"]
        expect("summary regions: vs its lines", tot["regions"],
               len(d["summary_regions"]))
        t.diag("summary totals: " + " ".join(
            "%s=%d" % kv for kv in tot.items()))
        # The registry holds a region while its /dev/ashmem file is open:
        # alpha-128k and the leaker's regions, whose fds were closed after
        # mmap, are not in it; but the leaker makes a new one every 0.5 s,
        # whose fd is open from its open() to its close(), and a read at
        # that moment shows that one too (at most one).
        names = sorted(s["name"] for s in d["summary_regions"])
        in_flight = names.count("leaky")
        expect_true("at most one of the leaker's regions, the one being made",
                    in_flight <= 1, "%d" % in_flight)
        expect("summary region names",
               [n for n in names if n != "leaky"],
               ["alpha-64k", "alpha-fdonly", "beta cache", "blank", "orphan",
                "stable-a", "stable-b"])
        expect("summary bytes_reserved", tot["bytes_reserved"],
               (64 + 256 + 1024 + 32 + 8 + 4 + 12 + 16 * in_flight) * KIB)
    t.check("driver summary read (root) and parsed: the 7 regions with an"
            " open fd, 1400K", summary_read)

    def summary_beta():
        d = state["doc"]["driver"]
        (r,) = proc("beta")["regions"]
        lines = [s for s in d["summary_regions"] if s["id"] == r["id"]]
        expect("summary lines with beta's region id %r" % r["id"],
               len(lines), 1)
        expect("summary line", lines[0], {
            "id": r["id"], "tgid": state["w"].pids["beta"],
            "comm": "diag-beta", "size": 1024 * KIB, "resident": 10,
            "pinned": 252, "unpinned": 4, "purged": 0, "name": "beta cache"})
        expect_true("raw summary escapes the space",
                    "\tbeta\\040cache\n" in d["summary"])
    t.check("summary line of \"beta cache\" joined by region id: creator,"
            " 10 resident, 4 unpinned pages", summary_beta)

    def summary_ids():
        d = state["doc"]["driver"]
        ids = {s["id"] for s in d["summary_regions"]}
        seen = 0
        for role in ("alpha", "beta", "stable"):
            for r in proc(role)["regions"]:
                if r["fds"]:
                    seen += 1
                    expect_true("region %r id %r in the summary"
                                % (r["name"], r["id"]), r["id"] in ids)
        expect("regions with fds checked", seen, 5)
        fdonly = regions_by_name(proc("alpha"))["alpha-fdonly"]
        (s,) = [s for s in d["summary_regions"] if s["id"] == fdonly["id"]]
        expect("alpha-fdonly in the summary",
               (s["size"], s["resident"], s["tgid"]),
               (256 * KIB, 0, state["w"].pids["alpha"]))
    t.check("every region id from fdinfo is a summary line; the dup()ed"
            " region is one line", summary_ids)

    # ---- names: as Android's ps shows them, comm beside a renamed one
    def package_names():
        for role, package in sorted(PACKAGES.items()):
            p = proc(role)
            expect("diag-%s command, argv0, comm" % role,
                   (p["command"], p["argv0"], p["comm"]),
                   (package, package, package[-15:]))
        code, out = run_tool(tool, "--comm", "com.example")
        expect("exit status", code, 0)
        for role, package in sorted(PACKAGES.items()):
            pid = str(state["w"].pids[role])
            # PID, the name, then REGIONS: no "(comm)" between them.
            expect_true("table row of diag-%s: %s in full, comm not beside"
                        " it" % (role, package), any(
                            ln.split()[:2] == [pid, package]
                            and ln.split()[2].isdigit()
                            for ln in out.splitlines()), out)
    t.check("names: package names written over argv[0] (zygote-style) shown"
            " in full, comm is their last 15 bytes", package_names)

    def renamed_and_blank():
        for role in ("alpha", "beta"):
            p = proc(role)
            expect("diag-%s command, comm" % role, (p["command"], p["comm"]),
                   ("workload", "diag-" + role))
            expect_true("diag-%s argv0 is the workload's path" % role,
                        p["argv0"].endswith("/workload"), p["argv0"])
        p = proc("blank")
        expect("diag-blank command, argv0, comm",
               (p["command"], p["argv0"], p["comm"]),
               ("diag-blank", "", "diag-blank"))
        code, out = run_tool(tool, "--pid", "%d,%d" % (
            state["w"].pids["alpha"], state["w"].pids["blank"]))
        lines = [ln.split() for ln in out.splitlines()]
        expect_true("row: workload (diag-alpha)",
                    [str(state["w"].pids["alpha"]), "workload",
                     "(diag-alpha)"] in [ln[:3] for ln in lines], out)
        expect_true("row: diag-blank",
                    [str(state["w"].pids["blank"]), "diag-blank", "1"]
                    in [ln[:3] for ln in lines], out)
    t.check("names: a comm renamed after start shows beside argv[0]"
            " (\"workload (diag-alpha)\"); a cleared cmdline shows comm",
            renamed_and_blank)

    def comm_filter():
        leaker = state["w"].pids["leaker"]
        for pattern in (r"^com\.example\.leaky", "^eaky.persistent$"):
            code, doc = run_json(tool, "--comm", pattern)
            expect("--comm %s pids" % pattern,
                   [p["pid"] for p in doc["processes"]], [leaker])
        code, doc = run_json(tool, "--comm", "^diag-alpha$|^diag-blank$")
        expect("--comm by comm", sorted(p["pid"] for p in doc["processes"]),
               sorted(state["w"].pids[r] for r in ("alpha", "blank")))
    t.check("--comm matches the package name or the comm", comm_filter)

    def zombie_leader():
        p = proc("zleader")
        pid = state["w"].pids["zleader"]
        with open("/proc/%d/stat" % pid) as f:
            expect("kernel state of the leader",
                   f.read().rpartition(")")[2].split()[0], "Z")
        expect("state", p["state"], "Z")
        expect_true("read through a live thread", isinstance(p["tid"], int)
                    and p["tid"] != pid, str(p["tid"]))
        totals(p, {"region_count": 1, "mapped_bytes": 12 * KIB,
                   "rss_bytes": 12 * KIB, "fd_held_bytes": 12 * KIB})
        expect("command, comm", (p["command"], p["comm"]),
               ("workload", "diag-zleader"))
    t.check("zombie leader: diag-zleader's main thread exited, its region"
            " (12K, fd kept) read through its live thread", zombie_leader)

    # ---- containers
    def containers():
        got = {c["label"]: c for c in state["doc"]["containers"]}
        docker = "docker:" + DOCKER_ID[:12]
        expect_true("containers lxc:waydroid2, %s, host" % docker,
                    {"lxc:waydroid2", docker, "host"} <= set(got),
                    str(sorted(got)))
        w, d = got["lxc:waydroid2"], got[docker]
        expect("lxc:waydroid2", (w["kind"], w["cgroup"], w["processes"],
                                 w["region_count"], w["region_bytes"]),
               ("lxc", CGROUP, 1, 1, 1024 * KIB))
        expect("docker", (d["kind"], d["cgroup"], d["processes"],
                          d["region_count"], d["region_bytes"]),
               ("docker", DOCKER_CGROUP, 1, 3, (64 + 128 + 256) * KIB))
        for role in ROLES:
            want = {"beta": "lxc:waydroid2", "alpha": docker}.get(role,
                                                                   "host")
            expect("container of diag-%s" % role, proc(role)["container"],
                   want)
        code, out = run_tool(tool)
        lines = out.splitlines()
        expect_true("table: a TOTAL line per container", all(any(
            ln.startswith("TOTAL") and (" %s: " % label) in ln
            for ln in lines) for label in ("lxc:waydroid2", docker, "host",
                                          "all")), out)
    t.check("containers: diag-beta in lxc:waydroid2, diag-alpha in a docker"
            " container, the rest on the host, with totals", containers)

    def cgroup_labels():
        for text, roles in (("lxc:waydroid2", ["beta"]),
                            ("docker:" + DOCKER_ID[:12], ["alpha"])):
            code, doc = run_json(tool, "--cgroup", text)
            expect("--cgroup %s pids" % text,
                   [p["pid"] for p in doc["processes"]],
                   [state["w"].pids[r] for r in roles])
        code, doc = run_json(tool, "--cgroup", "host")
        pids = {p["pid"] for p in doc["processes"]}
        expect_true("--cgroup host: the host roles only",
                    {state["w"].pids[r] for r in ("stable", "leaker",
                                                  "blank", "zleader")}
                    <= pids and state["w"].pids["beta"] not in pids)
    t.check("--cgroup selects a container by its label", cgroup_labels)

    # ---- leak mode
    def watch():
        if os.path.exists(args.chart):
            os.remove(args.chart)
        code, doc = run_json(tool, "--watch", "1", "--samples", "4",
                             "--chart", args.chart)
        state["watch"] = doc
        expect("exit status (1: something flagged)", code, 1)
        expect("schema", doc["schema"], "ashmem-diag-watch/2")
        expect("samples", len(doc["samples"]), 4)
        for f in doc["flagged"]:
            t.diag("flagged: pid %d %s %s %s %s %s: %s" % (
                f["pid"], f["comm"], f["scope"], f["name"], f["metric"],
                f["rule"], f["values"]))
    t.check("ashmem-diag --watch 1 --samples 4 --json: 4 samples, exit"
            " status 1", watch)

    def leak_flagged():
        pid = state["w"].pids["leaker"]
        flags = {(f["scope"], f["name"], f["metric"]): f
                 for f in state["watch"]["flagged"] if f["pid"] == pid}
        for key in (("process", None, "regions"), ("process", None, "bytes"),
                    ("name", "leaky", "regions")):
            expect_true("diag-leaker flagged for %s %s %s" % key,
                        key in flags, str(sorted(flags, key=str)))
        values = flags[("process", None, "regions")]["values"]
        expect("values per sample", len(values), 4)
        expect_true("strictly growing", all(
            a < b for a, b in zip(values, values[1:])), str(values))
    t.check("--watch flags diag-leaker: regions and bytes growing at every"
            " sample", leak_flagged)

    def others_not_flagged():
        quiet = {state["w"].pids[r]: r for r in ROLES if r != "leaker"}
        bad = [f for f in state["watch"]["flagged"] if f["pid"] in quiet]
        expect("flags of the other roles", bad, [])
        last = {p["pid"]: p for p in state["watch"]["last"]["processes"]}
        expect_true("diag-stable still in the last sample",
                    state["w"].pids["stable"] in last)
    t.check("--watch does not flag diag-stable, diag-alpha, diag-beta,"
            " diag-blank or diag-zleader", others_not_flagged)

    def chart():
        root = ET.parse(args.chart).getroot()
        expect("root element", root.tag, SVG + "svg")
        drawn = {}
        for g in root.iter(SVG + "g"):
            cls = (g.get("class") or "").split()
            if cls[:1] == ["series"]:
                drawn[g.find(SVG + "title").text] = "flagged" in cls
        t.diag("chart series: %s" % drawn)
        leaker = "%s (pid %d)" % (PACKAGES["leaker"],
                                  state["w"].pids["leaker"])
        stable = "%s (pid %d)" % (PACKAGES["stable"],
                                  state["w"].pids["stable"])
        expect("the leaking package's series, flagged", drawn.get(leaker),
               True)
        expect("the stable package's series, not flagged", drawn.get(stable),
               False)
        words = " ".join("".join(e.itertext())
                         for e in root.iter(SVG + "text"))
        expect_true("legend names the leaking package",
                    PACKAGES["leaker"] in words and "FLAGGED" in words)
        series = {s["pid"]: s for s in state["watch"]["chart"]["series"]}
        values = series[state["w"].pids["leaker"]]["values"]
        expect_true("the leaker's bytes grow at every sample", all(
            a < b for a, b in zip(values, values[1:])), str(values))
    t.check("--watch --chart: valid SVG naming the leaking package (flagged)"
            " beside the stable one (not flagged)", chart)

    # ---- the table, for a person to read
    def table():
        code, out = run_tool(tool, "--regions")
        t.diag("ashmem-diag --regions:")
        t.diag(out)
        expect("exit status", code, 0)
        lines = out.splitlines()
        beta = str(state["w"].pids["beta"])
        expect_true("process row of diag-beta", any(
            ln.split()[:3] == [beta, "workload", "(diag-beta)"]
            for ln in lines))
        expect_true("TOTAL row", any(ln.startswith("TOTAL") for ln in lines))
        expect_true("region row named beta cache", any(
            ln.split()[:2] == [beta, "region"] and ln.endswith(" beta cache")
            for ln in lines))
        expect_true("driver summary printed verbatim",
                    "Driver summary (/sys/kernel/debug/ashmem/summary):"
                    in out and "\tbeta\\040cache" in out)
    t.check("table output (--regions): diag-beta's row, its region \"beta"
            " cache\", the summary", table)

    # ---- the end
    def stop():
        w = state["w"]
        code = w.stop()
        expect("workload exit status after SIGTERM", code, 0)
        left = [r for r, pid in w.pids.items() if alive(pid)]
        expect("role processes still alive", left, [])
        for cgroup in (CGROUP, DOCKER_CGROUP, "/system.slice"):
            try:
                os.rmdir(CGROUP_FS + cgroup)
            except OSError as e:
                raise Failed("rmdir %s: %s" % (cgroup, e))
    t.check("workload stops on SIGTERM: exit 0, its processes gone", stop)

    def released():
        pids = set(state["w"].pids.values())
        deadline = time.monotonic() + 10
        while True:
            code, doc = run_json(tool)
            theirs = [s for s in doc["driver"]["summary_regions"]
                      if s["tgid"] in pids]
            if not theirs or time.monotonic() > deadline:
                break
            time.sleep(0.5)
        expect("summary lines of the workload's regions", theirs, [])
        expect("holders left", [p["pid"] for p in doc["processes"]
                                if p["pid"] in pids], [])
    t.check("after the workload exits, the summary lists none of its"
            " regions", released)

    if "w" in state and state["w"].proc.poll() is None:
        state["w"].stop()
    return t.finish()


if __name__ == "__main__":
    sys.exit(main())
