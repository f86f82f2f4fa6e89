# SPDX-License-Identifier: GPL-2.0
"""Host unit tests of scripts/ashmem-diag, on fake /proc trees.

Run: python3 -m unittest discover -s selftests/diag/unit -v   (or: make diag-test)
"""

import importlib.machinery
import importlib.util
import io
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import unittest
from unittest import mock

TOOL = os.path.join(os.path.dirname(os.path.abspath(__file__)),
                    "..", "..", "..", "scripts", "ashmem-diag")


def load_tool():
    loader = importlib.machinery.SourceFileLoader("ashmem_diag", TOOL)
    spec = importlib.util.spec_from_loader("ashmem_diag", loader)
    module = importlib.util.module_from_spec(spec)
    # dataclasses looks the module up in sys.modules while it is executed.
    sys.modules["ashmem_diag"] = module
    loader.exec_module(module)
    return module


sys.dont_write_bytecode = True
diag = load_tool()
KB = 1024
PF_KTHREAD = 0x00200000


def smaps_entry(start, size_kb, path="", inode=0, rss=0, pss=0, swap=0,
                perms="rw-s"):
    """One smaps block as the kernel prints it (fields in kB)."""
    head = "%08x-%08x %s 00000000 00:01 %d" % (
        start, start + size_kb * KB, perms, inode)
    head = head.ljust(73) + path if path else head + " "
    fields = [("Size", size_kb), ("KernelPageSize", 4), ("MMUPageSize", 4),
              ("Rss", rss), ("Pss", pss), ("Pss_Dirty", pss),
              ("Shared_Clean", 0), ("Shared_Dirty", rss), ("Private_Clean", 0),
              ("Private_Dirty", 0), ("Referenced", rss), ("Anonymous", 0),
              ("KSM", 0), ("LazyFree", 0), ("AnonHugePages", 0),
              ("ShmemPmdMapped", 0), ("FilePmdMapped", 0),
              ("Shared_Hugetlb", 0), ("Private_Hugetlb", 0), ("Swap", swap),
              ("SwapPss", swap * 7), ("Locked", 0)]
    lines = [head] + ["%-15s %8d kB" % (k + ":", v) for k, v in fields]
    lines += ["THPeligible:    0", "VmFlags: rd wr sh mr mw me ms sd"]
    return "\n".join(lines) + "\n"


def fdinfo_text(inode=None, name="dev/ashmem", size=4096, pins=None,
                region=None):
    """fdinfo of an ashmem fd: the generic lines, then the driver's (an older
    driver's without region)."""
    text = "pos:\t0\nflags:\t0100002\nmnt_id:\t25\nino:\t6\n"
    if region is not None:
        text += "region:\t%d\n" % region
    if inode is not None:
        text += "inode:\t%d\n" % inode
    if name is not None:
        text += "name:\t%s\n" % name
    text += "size:\t%d\n" % size
    if pins is not None:
        text += "pinned:\t%d\nunpinned:\t%d\npurged:\t%d\n" % pins
    return text


class FakeProc:
    """A fake /proc (and /sys) tree in a temporary directory."""

    def __init__(self, testcase):
        self.top = tempfile.mkdtemp(prefix="ashmem-diag-test-")
        testcase.addCleanup(shutil.rmtree, self.top, True)
        self.proc = os.path.join(self.top, "proc")
        self.sys = os.path.join(self.top, "sys")
        self.debug = os.path.join(self.top, "debug")
        for d in (self.proc, self.sys, self.debug):
            os.mkdir(d)

    def dir(self, pid, tid=None):
        d = os.path.join(self.proc, str(pid))
        return os.path.join(d, "task", str(tid)) if tid is not None else d

    def add(self, pid, comm="app", cgroup="0::/user.slice/app.scope",
            smaps="", fds=(), other_fds=(), starttime=1000, flags=0,
            maps=None, cmdline=None, state="S", tid=None):
        """A process (or with tid, the thread TID of process PID, under
        PID/task/TID). fds: (fd, fdinfo text) of ashmem fds; other_fds:
        (fd, link target). maps defaults to smaps's header lines, cmdline
        (bytes or str) to comm and a NUL, as after exec(comm)."""
        d = self.dir(pid, tid)
        shutil.rmtree(d, True)
        os.makedirs(os.path.join(d, "fd"))
        os.makedirs(os.path.join(d, "fdinfo"))
        stat = "%d (%s) %s 1 %d %d 0 -1 %d" % (tid or pid, comm, state, pid,
                                             pid, flags)
        stat += " 0" * 12 + " %d 0 0" % starttime
        self.write(pid, "stat", stat + "\n", tid)
        self.write(pid, "comm", comm + "\n", tid)
        self.write(pid, "cgroup", cgroup + "\n", tid)
        if cmdline is None:
            cmdline = comm + "\0"
        self.write(pid, "cmdline", cmdline, tid)
        self.write(pid, "smaps", smaps, tid)
        if maps is None:
            maps = "".join(line + "\n" for line in smaps.split("\n")
                           if re.match(r"^[0-9a-f]+-", line))
        self.write(pid, "maps", maps, tid)
        for fd, info in fds:
            self.add_fd(pid, fd, "/dev/ashmem", info, tid)
        for fd, target in other_fds:
            self.add_fd(pid, fd, target, "pos:\t0\nflags:\t02\n", tid)

    def add_fd(self, pid, fd, target, info, tid=None):
        os.symlink(target, os.path.join(self.dir(pid, tid), "fd", str(fd)))
        self.write(pid, os.path.join("fdinfo", str(fd)), info, tid)

    def write(self, pid, name, text, tid=None):
        mode = "wb" if isinstance(text, bytes) else "w"
        with open(os.path.join(self.dir(pid, tid), name), mode) as f:
            f.write(text)

    def kthread(self, pid, comm="kworker/0:1"):
        self.add(pid, comm, cgroup="0::/", flags=PF_KTHREAD, cmdline="")

    def remove(self, pid):
        shutil.rmtree(self.dir(pid))

    def scan(self, **filters):
        return diag.scan(self.proc, diag.Filter(**filters))

    def run(self, *args):
        """Runs the tool in-process; returns (exit code, stdout, stderr)."""
        out, err = io.StringIO(), io.StringIO()
        argv = ["--proc", self.proc, "--sysfs", self.sys,
                "--debugfs", self.debug] + list(args)
        code = diag.run(argv, out, err)
        return code, out.getvalue(), err.getvalue()

    def json(self, *args):
        code, out, _ = self.run("--json", *args)
        return code, json.loads(out)


def run_watch(fake, interval, tick, args, text=False):
    """Runs ashmem-diag --watch INTERVAL on fake, calling tick() before each
    sample (and sleeping not at all); returns (code, JSON document), or
    (code, stdout, stderr) when text."""
    real_scan = diag.scan

    def scan(proc, flt):
        tick()
        return real_scan(proc, flt)

    with mock.patch.object(diag, "scan", scan), \
            mock.patch.object(diag.time, "sleep"):
        if text:
            return fake.run("--watch", interval, *args)
        return fake.json("--watch", interval, *args)


def by_pid(scan):
    return {p.pid: p for p in scan.processes}


# ---------------------------------------------------------------- parsers

class SmapsParsing(unittest.TestCase):
    def test_named_unnamed_private_and_others(self):
        text = (smaps_entry(0x1000, 8, "/dev/ashmem/dalvik-main space (region"
                            " space) (deleted)", inode=1234, rss=4, pss=2,
                            swap=1)
                + smaps_entry(0x10000, 4, "/dev/ashmem (deleted)", inode=99,
                              rss=4, pss=4)
                + smaps_entry(0x20000, 12, "/dev/ashmem", inode=6, rss=8,
                              pss=8, perms="rw-p")
                + smaps_entry(0x30000, 132, "[heap]", rss=100, pss=100)
                + smaps_entry(0x40000, 16, "/usr/lib/libc.so.6", inode=77,
                              rss=16, pss=3)
                + smaps_entry(0x50000, 4, "/dev/ashmemfoo", inode=5, rss=4)
                + smaps_entry(0x60000, 4, "/memfd:ashmem (deleted)", inode=8)
                + smaps_entry(0x70000, 8))            # anonymous, no path
        maps = diag.parse_smaps(text.encode())
        self.assertEqual([(m.kind, m.name, m.inode) for m in maps], [
            ("region", "dalvik-main space (region space)", 1234),
            ("region", "dev/ashmem", 99),
            ("private", None, 6)])
        first = maps[0]
        # kB to bytes; SwapPss and Pss_Dirty are not Swap and Pss.
        self.assertEqual((first.mapped, first.rss, first.pss, first.swap),
                         (8 * KB, 4 * KB, 2 * KB, 1 * KB))
        self.assertEqual(first.start, 0x1000)

    def test_name_edge_cases(self):
        text = (smaps_entry(0x1000, 4, "/dev/ashmem/trailing  (deleted)", 1)
                + smaps_entry(0x2000, 4, "/dev/ashmem/line\\012break (deleted)",
                              2)
                + smaps_entry(0x3000, 4, "/dev/ashmem/a/b c (deleted)", 3)
                + smaps_entry(0x4000, 4, "/dev/ashmem/(deleted) (deleted)", 4)
                + smaps_entry(0x5000, 4, "/dev/ashmem/caf\u00e9 (deleted)", 5))
        names = [m.name for m in diag.parse_smaps(text.encode())]
        self.assertEqual(names, ["trailing ", "line\nbreak", "a/b c",
                                 "(deleted)", "caf\u00e9"])

    def test_empty_and_garbage(self):
        self.assertEqual(diag.parse_smaps(b""), [])
        self.assertEqual(diag.parse_smaps(b"nonsense\nSize: 4 kB\n"), [])

    def test_sizes_without_unit(self):
        m = diag.parse_smaps(b"00001000-00002000 rw-s 00000000 00:01 7 "
                             b"/dev/ashmem/x (deleted)\nSize: 4096\n")
        self.assertEqual(m[0].mapped, 4096)


class FdinfoParsing(unittest.TestCase):
    def test_octal_escapes_decoded(self):
        info = diag.parse_fdinfo(fdinfo_text(
            inode=42, name="my\\040region\\134x\\011tab\\012nl\\303\\251",
            size=12345, pins=(2, 1, 3)).encode())
        self.assertEqual(info.name, "my region\\x\ttab\nnl\u00e9")
        self.assertEqual((info.inode, info.size), (42, 12345))
        self.assertEqual((info.pinned, info.unpinned, info.purged), (2, 1, 3))

    def test_before_mmap_and_unnamed(self):
        info = diag.parse_fdinfo(fdinfo_text(size=0).encode())
        # The generic "ino:" line is the device node's, not the region's.
        self.assertIsNone(info.inode)
        self.assertEqual(info.name, "dev/ashmem")
        self.assertEqual(info.size, 0)
        self.assertIsNone(info.pinned)

    def test_region_id(self):
        info = diag.parse_fdinfo(fdinfo_text(region=7, size=0).encode())
        self.assertEqual((info.region, info.inode), (7, None))
        info = diag.parse_fdinfo(fdinfo_text(region=8, inode=99).encode())
        self.assertEqual((info.region, info.inode), (8, 99))
        # A driver without the line.
        self.assertIsNone(diag.parse_fdinfo(fdinfo_text().encode()).region)

    def test_invalid_utf8_and_lone_backslash(self):
        info = diag.parse_fdinfo(b"name:\t\\377x\\9\nsize:\tbad\n")
        self.assertEqual(info.name, "\\xffx\\9")
        self.assertIsNone(info.size)

    def test_display_escapes_control_characters(self):
        self.assertEqual(diag.display_name("a b\nc\x7f"), "a b\\012c\\177")
        self.assertEqual(diag.display_name(None), "-")


class CgroupParsing(unittest.TestCase):
    def test_v2(self):
        self.assertEqual(diag.parse_cgroup(
            b"0::/lxc.payload.waydroid2/system.slice\n"),
            "/lxc.payload.waydroid2/system.slice")

    def test_v1_only_uses_memory_controller(self):
        self.assertEqual(diag.parse_cgroup(
            b"5:cpu,cpuacct:/lxc/w\n4:memory:/lxc/waydroid\n1:name=systemd:/"
            b"\n"), "/lxc/waydroid")

    def test_hybrid_prefers_a_specific_v2_path(self):
        self.assertEqual(diag.parse_cgroup(
            b"4:memory:/lxc/waydroid\n0::/lxc.payload.waydroid2\n"),
            "/lxc.payload.waydroid2")
        self.assertEqual(diag.parse_cgroup(
            b"4:memory:/docker/abc\n0::/\n"), "/docker/abc")

    def test_root_and_empty(self):
        self.assertEqual(diag.parse_cgroup(b"0::/\n"), "/")
        self.assertEqual(diag.parse_cgroup(b""), "")

    def test_stat_with_odd_comm(self):
        comm, flags, start = diag.parse_stat(
            b"7 (a) b (c) S 1 7 7 0 -1 4194560" + b" 0" * 12 + b" 555 0\n")
        self.assertEqual((comm, flags, start), ("a) b (c", 4194560, 555))


# ---------------------------------------------------------------- scanning

class Scanning(unittest.TestCase):
    def setUp(self):
        self.fake = FakeProc(self)

    def test_fd_held_only_regions_counted_once(self):
        # Never mmapped (no inode line), and mmapped-then-unmapped (inode).
        self.fake.add(10, fds=[(3, fdinfo_text(name="early", size=5000)),
                               (4, fdinfo_text(inode=77, name="unmapped",
                                               size=8192))],
                      other_fds=[(0, "/dev/null"), (1, "pipe:[123]"),
                                 (5, "/dev/ashmem/x (deleted)")])
        p = by_pid(self.fake.scan())[10]
        self.assertEqual(p.region_count, 2)
        self.assertEqual(p.fd_held, 5000 + 8192)
        self.assertEqual(p.total("mapped"), 0)
        self.assertEqual(sorted(r.name for r in p.regions),
                         ["early", "unmapped"])

    def test_fds_of_one_unmapped_region_joined_by_region_id(self):
        # fds 3 and 4 are one never-mmapped region (dup()ed): one region with
        # two fds. fd 5 is another region of the same name and size.
        self.fake.add(11, fds=[
            (3, fdinfo_text(name="dup", size=8192, region=40)),
            (4, fdinfo_text(name="dup", size=8192, region=40)),
            (5, fdinfo_text(name="dup", size=8192, region=41))])
        p = by_pid(self.fake.scan())[11]
        self.assertEqual(p.region_count, 2)
        self.assertEqual(p.fd_held, 2 * 8192)
        self.assertEqual(sorted((r.id, r.fds) for r in p.regions),
                         [(40, [3, 4]), (41, [5])])
        self.assertEqual([r.inode for r in p.regions], [None, None])

    def test_without_region_line_each_fd_counts(self):
        # An older driver: nothing tells two fds of one region apart.
        self.fake.add(12, fds=[(3, fdinfo_text(name="dup", size=100)),
                               (4, fdinfo_text(name="dup", size=100))])
        p = by_pid(self.fake.scan())[12]
        self.assertEqual((p.region_count, p.fd_held), (2, 200))
        self.assertEqual([r.id for r in p.regions], [None, None])

    def test_mapped_region_joined_by_inode_and_keeps_its_id(self):
        # Two fds and two mappings of one mmapped region, one more region
        # only mapped (no fd: no id), one only held by an fd.
        smaps = (smaps_entry(0x1000, 8, "/dev/ashmem/buf (deleted)", 500,
                             rss=8, pss=8)
                 + smaps_entry(0x9000, 8, "/dev/ashmem/buf (deleted)", 500,
                               rss=8, pss=8)
                 + smaps_entry(0x20000, 4, "/dev/ashmem/other (deleted)", 501,
                               rss=4, pss=4))
        self.fake.add(13, smaps=smaps, fds=[
            (6, fdinfo_text(inode=500, name="buf", size=8192, region=3)),
            (7, fdinfo_text(inode=500, name="buf", size=8192, region=3)),
            (8, fdinfo_text(name="fresh", size=4096, region=9))])
        p = by_pid(self.fake.scan())[13]
        regions = {r.name: r for r in p.regions}
        self.assertEqual(p.region_count, 3)
        buf = regions["buf"]
        self.assertEqual((buf.id, buf.inode, buf.fds, buf.mappings),
                         (3, 500, [6, 7], 2))
        self.assertEqual((regions["other"].id, regions["other"].inode),
                         (None, 501))
        self.assertEqual((regions["fresh"].id, regions["fresh"].inode),
                         (9, None))
        self.assertEqual(p.fd_held, 8192 + 4096)
        self.assertEqual(p.total("mapped"), 20 * KB)

    def test_unmapped_region_shared_by_processes_counted_once(self):
        # An fd passed to another process (binder): same id in both.
        for pid, fd in ((14, 3), (15, 9)):
            self.fake.add(pid, fds=[(fd, fdinfo_text(name="passed",
                                                     size=4096, region=77))])
        self.fake.add(16, fds=[(3, fdinfo_text(name="passed", size=4096,
                                               region=78))])
        code, doc = self.fake.json()
        t = doc["totals"]
        self.assertEqual((t["processes"], t["region_count"]), (3, 2))
        self.assertEqual((t["region_bytes"], t["fd_held_bytes"]),
                         (2 * 4096, 3 * 4096))
        self.assertEqual(sorted(p["regions"][0]["id"]
                                for p in doc["processes"]), [77, 77, 78])

    def test_fd_and_mappings_of_one_region_deduplicated(self):
        smaps = (smaps_entry(0x1000, 8, "/dev/ashmem/buf (deleted)", 500,
                             rss=8, pss=4)
                 + smaps_entry(0x9000, 4, "/dev/ashmem/buf (deleted)", 500,
                               rss=4, pss=2))
        self.fake.add(20, smaps=smaps, fds=[
            (7, fdinfo_text(inode=500, name="buf", size=8192,
                            pins=(1, 1, 0)))])
        p = by_pid(self.fake.scan())[20]
        self.assertEqual(p.region_count, 1)
        (r,) = p.regions
        self.assertEqual((r.mappings, r.fds, r.size), (2, [7], 8192))
        self.assertEqual((r.mapped, r.rss, r.pss), (12 * KB, 12 * KB, 6 * KB))
        self.assertEqual((r.pinned, r.unpinned, r.purged), (1, 1, 0))
        self.assertEqual(p.fd_held, 8192)

    def test_mapped_only_and_private_mappings(self):
        smaps = (smaps_entry(0x1000, 4, "/dev/ashmem (deleted)", 1, rss=4)
                 + smaps_entry(0x2000, 4, "/dev/ashmem (deleted)", 2, rss=4)
                 + smaps_entry(0x3000, 8, "/dev/ashmem", 6, rss=8, pss=8,
                               perms="rw-p")
                 + smaps_entry(0x5000, 8, "/dev/ashmem", 6, perms="rw-p"))
        self.fake.add(30, smaps=smaps)
        p = by_pid(self.fake.scan())[30]
        # Two unnamed regions told apart by inode; private mappings are not
        # regions but their memory counts.
        self.assertEqual(p.region_count, 2)
        self.assertEqual(p.total("mapped"), 24 * KB)
        self.assertEqual(p.total("rss"), 16 * KB)
        self.assertEqual(p.fd_held, 0)
        doc = p.to_json()
        self.assertEqual(doc["private_mappings"], 2)

    def test_smaps_skipped_without_ashmem_in_maps(self):
        self.fake.add(40, smaps=smaps_entry(0x1000, 4, "/dev/ashmem/x "
                                            "(deleted)", 9), maps="")
        self.assertEqual(by_pid(self.fake.scan())[40].regions, [])

    def test_kernel_threads_and_non_holders(self):
        self.fake.kthread(2)
        self.fake.add(50, smaps=smaps_entry(0x1000, 4, "[heap]"))
        s = self.fake.scan()
        self.assertEqual((s.seen, s.kernel_threads, len(s.processes)),
                         (2, 1, 1))
        self.assertEqual(s.holders, [])

    def test_shared_region_counted_once_in_totals(self):
        for pid in (60, 61):
            self.fake.add(pid, smaps=smaps_entry(
                0x1000, 8, "/dev/ashmem/shared (deleted)", 321, rss=8,
                pss=4))
        self.fake.add(62, fds=[(3, fdinfo_text(name="own", size=100))])
        code, doc = self.fake.json()
        self.assertEqual(code, 0)
        t = doc["totals"]
        self.assertEqual((t["processes"], t["region_count"]), (3, 2))
        self.assertEqual(t["region_bytes"], 8 * KB + 100)
        self.assertEqual((t["rss_bytes"], t["pss_bytes"]),
                         (16 * KB, 8 * KB))


class SortingAndFilters(unittest.TestCase):
    def setUp(self):
        self.fake = FakeProc(self)
        region = "/dev/ashmem/r%d (deleted)"
        self.fake.add(100, "surfaceflinger", "0::/lxc.payload.waydroid2",
                      smaps=smaps_entry(0x1000, 64, region % 1, 1, rss=16,
                                        pss=16))
        self.fake.add(200, "com.android.sys", "0::/lxc.payload.waydroid2/app",
                      smaps=smaps_entry(0x1000, 16, region % 2, 2, rss=16,
                                        pss=8, swap=4)
                      + smaps_entry(0x9000, 4, region % 3, 3, rss=4, pss=4))
        self.fake.add(300, "redroid-init", "0::/docker/abc",
                      smaps=smaps_entry(0x1000, 8, region % 4, 4, rss=8,
                                        pss=2),
                      fds=[(9, fdinfo_text(name="big", size=1 << 20))])

    def order(self, *args):
        code, doc = self.fake.json(*args)
        self.assertEqual(code, 0)
        return [p["pid"] for p in doc["processes"]]

    def test_default_sort_is_pss_descending(self):
        self.assertEqual(self.order(), [100, 200, 300])

    def test_every_sort_key(self):
        expect = {"pid": [100, 200, 300], "comm": [200, 300, 100],
                  "cgroup": [300, 100, 200], "regions": [200, 300, 100],
                  "mapped": [100, 200, 300], "rss": [200, 100, 300],
                  "pss": [100, 200, 300], "swap": [200, 100, 300],
                  "fd": [300, 100, 200]}
        self.assertEqual(set(expect), set(diag.SORT_KEYS))
        for key, pids in expect.items():
            self.assertEqual(self.order("--sort", key), pids, key)
        self.assertEqual(self.order("--sort", "rss", "--reverse"),
                         [300, 100, 200])

    def test_pid_filter(self):
        self.assertEqual(self.order("--pid", "300,100"), [100, 300])
        self.assertEqual(self.order("--pid", "200", "--pid", "300"),
                         [200, 300])

    def test_comm_filter_substring_and_regex(self):
        self.assertEqual(self.order("--comm", "android"), [200])
        self.assertEqual(self.order("--comm", "^(surface|redroid)"),
                         [100, 300])
        self.assertEqual(self.order("--comm", "com.android.sys"), [200])
        self.assertEqual(self.order("--comm", "[unclosed"), [])

    def test_cgroup_filter(self):
        self.assertEqual(self.order("--cgroup", "waydroid"), [100, 200])
        self.assertEqual(self.order("--cgroup", "docker"), [300])
        code, doc = self.fake.json("--cgroup", "docker")
        self.assertEqual(doc["scan"]["filtered_out"], 2)
        self.assertEqual(doc["filters"], {"pid": None, "comm": None,
                                          "cgroup": "docker"})

    def test_text_table_and_regions(self):
        self.fake.add(400, "spacey", smaps=smaps_entry(
            0x1000, 4, "/dev/ashmem/name with spaces (deleted)", 44))
        code, out, _ = self.fake.run("--regions", "--sort", "pid")
        self.assertEqual(code, 0)
        lines = out.splitlines()
        self.assertTrue(lines[0].split()[:3] == ["PID", "COMMAND", "REGIONS"])
        # By container (host, then lxc:waydroid2: by label when sorted by
        # pid), a TOTAL line each, then the TOTAL of all.
        self.assertEqual([ln.split()[:1] for ln in lines[1:10]],
                         [["300"], ["400"], ["TOTAL"], [], ["100"], ["200"],
                          ["TOTAL"], [], ["TOTAL"]])
        self.assertEqual(lines[3].split()[:5],
                         ["TOTAL", "host:", "2", "processes", "3"])
        self.assertEqual(lines[7].split()[:5],
                         ["TOTAL", "lxc:waydroid2:", "2", "processes", "3"])
        self.assertTrue(lines[7].endswith(" /lxc.payload.waydroid2"))
        total = lines[9].split()
        self.assertEqual(total[:4], ["TOTAL", "all:", "4", "processes"])
        self.assertEqual(total[4], "6")              # unique regions
        self.assertIn("name with spaces", out)
        self.assertIn("big", out)
        self.assertIn("1.0M", out)                  # fd-held size of pid 300
        code, out, _ = self.fake.run("--bytes", "--pid", "300")
        self.assertIn(str(1 << 20), out)

    def test_regions_table_shows_the_region_id(self):
        self.fake.add(500, "holder", fds=[
            (3, fdinfo_text(name="held", size=4096, region=123)),
            (4, fdinfo_text(name="held", size=4096, region=123))])
        code, out, _ = self.fake.run("--regions", "--pid", "500")
        lines = out.splitlines()
        head = [ln for ln in lines if ln.startswith("PID ") and "KIND" in ln]
        self.assertEqual(head[0].split()[:4], ["PID", "KIND", "ID", "INODE"])
        rows = [ln.split() for ln in lines if ln.split()[:1] == ["500"]]
        # The process row, then one row for the region of both fds.
        self.assertEqual(len(rows), 2)
        self.assertEqual(rows[1][:4], ["500", "region", "123", "-"])
        self.assertEqual(rows[1][-2:], ["3,4", "held"])


class JsonSchema(unittest.TestCase):
    PROCESS = {"pid", "comm", "cgroup", "starttime", "region_count",
               "private_mappings", "mapped_bytes", "rss_bytes", "pss_bytes",
               "swap_bytes", "fd_held_bytes", "region_bytes", "regions",
               "command", "argv0", "state", "tid", "container"}
    TOTALS = {"processes", "region_count", "region_bytes", "mapped_bytes",
              "rss_bytes", "pss_bytes", "swap_bytes", "fd_held_bytes"}
    REGION = {"kind", "id", "inode", "name", "size", "mappings",
              "mapped_bytes", "rss_bytes", "pss_bytes", "swap_bytes", "fds",
              "pinned_pages", "unpinned_pages", "purged_pages"}

    def setUp(self):
        self.fake = FakeProc(self)
        self.fake.add(10, "app", "0::/lxc.payload.waydroid2", starttime=4242,
                      smaps=smaps_entry(0x1000, 8, "/dev/ashmem/a b (deleted)",
                                        5, rss=8, pss=4, swap=0)
                      + smaps_entry(0x3000, 4, "/dev/ashmem", 6, rss=4,
                                    perms="rw-p"),
                      fds=[(3, fdinfo_text(inode=5, name="a\\040b", size=8000,
                                           pins=(1, 1, 0), region=17)),
                           (4, fdinfo_text(name="new", size=10))])

    def check_scan_doc(self, doc):
        self.assertEqual(set(doc), {"schema", "time", "proc_root", "filters",
                                    "processes", "totals", "containers",
                                    "scan", "driver"})
        self.assertEqual(doc["schema"], "ashmem-diag/2")
        self.assertEqual(set(doc["filters"]), {"pid", "comm", "cgroup"})
        self.assertEqual(set(doc["totals"]), self.TOTALS)
        for c in doc["containers"]:
            self.assertEqual(set(c), self.TOTALS | {"label", "kind", "name",
                                                    "cgroup"})
        self.assertEqual(set(doc["scan"]), {
            "duration_s", "processes_seen", "processes_scanned",
            "kernel_threads", "filtered_out", "vanished", "vanished_pids",
            "unreadable"})
        self.assertEqual(set(doc["scan"]["unreadable"]),
                         {"count", "smaps", "fd", "pids"})
        self.assertEqual(set(doc["driver"]), {
            "module_loaded", "device_registered", "summary_path", "summary",
            "summary_error", "summary_totals", "summary_regions"})
        for p in doc["processes"]:
            self.assertEqual(set(p), self.PROCESS)
            for r in p["regions"]:
                self.assertEqual(set(r), self.REGION)

    def test_schema_and_values_through_the_executable(self):
        out = subprocess.run(
            [TOOL, "--proc", self.fake.proc, "--sysfs", self.fake.sys,
             "--debugfs", self.fake.debug, "--json"],
            check=True, stdout=subprocess.PIPE, universal_newlines=True,
            env=dict(os.environ, PYTHONDONTWRITEBYTECODE="1")).stdout
        doc = json.loads(out)
        self.check_scan_doc(doc)
        (p,) = doc["processes"]
        self.assertEqual((p["pid"], p["comm"], p["cgroup"], p["starttime"]),
                         (10, "app", "/lxc.payload.waydroid2", 4242))
        self.assertEqual((p["command"], p["argv0"], p["state"], p["tid"],
                          p["container"]),
                         ("app", "app", "S", None, "lxc:waydroid2"))
        self.assertEqual(doc["containers"], [dict(
            label="lxc:waydroid2", kind="lxc", name="waydroid2",
            cgroup="/lxc.payload.waydroid2", processes=1, region_count=2,
            region_bytes=8010, mapped_bytes=12 * KB, rss_bytes=12 * KB,
            pss_bytes=4 * KB, swap_bytes=0, fd_held_bytes=8010)])
        self.assertEqual((p["region_count"], p["private_mappings"]), (2, 1))
        self.assertEqual((p["mapped_bytes"], p["rss_bytes"], p["pss_bytes"]),
                         (12 * KB, 12 * KB, 4 * KB))
        self.assertEqual(p["fd_held_bytes"], 8010)
        # Regions only: the private mapping is not region memory.
        self.assertEqual(p["region_bytes"], 8010)
        regions = {r["name"]: r for r in p["regions"]}
        self.assertEqual(regions["a b"], {
            "kind": "region", "id": 17, "inode": 5, "name": "a b",
            "size": 8000,
            "mappings": 1, "mapped_bytes": 8 * KB, "rss_bytes": 8 * KB,
            "pss_bytes": 4 * KB, "swap_bytes": 0, "fds": [3],
            "pinned_pages": 1, "unpinned_pages": 1, "purged_pages": 0})
        self.assertEqual(regions["new"]["inode"], None)
        self.assertEqual(regions[None]["kind"], "private")
        self.assertEqual(doc["driver"]["module_loaded"], False)

    def test_watch_schema(self):
        with mock.patch.object(diag.time, "sleep"):
            code, doc = self.fake.json("--watch", "0", "--samples", "3")
        self.assertEqual(code, 0)
        self.assertEqual(set(doc), {"schema", "interval_s",
                                    "samples_requested", "interrupted",
                                    "rules", "samples", "flagged", "chart",
                                    "last"})
        self.assertEqual(doc["schema"], "ashmem-diag-watch/2")
        self.assertIsNone(doc["chart"])
        self.assertEqual(doc["rules"], {"min_run": 3, "grow_bytes": None,
                                        "grow_regions": None})
        self.assertEqual(len(doc["samples"]), 3)
        for smp in doc["samples"]:
            self.assertEqual(set(smp), {"time", "processes", "region_count",
                                        "region_bytes"})
        self.assertEqual(doc["flagged"], [])
        self.check_scan_doc(doc["last"])


# ---------------------------------------------------------------- leaks

class LeakRules(unittest.TestCase):
    def test_growth(self):
        g = diag.growth
        self.assertEqual(g([1, 2, 3], None, 3), "strict")
        self.assertEqual(g([5, 5, 1, 2, 3], None, 3), "strict")
        self.assertIsNone(g([1, 2], None, 3))            # too few samples
        self.assertIsNone(g([3, 3, 3, 3], None, 3))      # stable
        self.assertIsNone(g([4, 3, 2, 1], None, 3))      # shrinking
        self.assertIsNone(g([1, 2, 3, 3], None, 3))      # stopped growing
        self.assertIsNone(g([1, 2, 2, 3], None, 3))      # not strict...
        self.assertEqual(g([1, 2, 2, 3], 2, 3), "threshold")   # ...but up 2
        self.assertIsNone(g([1, 2, 2, 3], 3, 3))         # less than threshold
        self.assertIsNone(g([1, 5, 4, 6], 2, 3))         # it shrank once
        self.assertIsNone(g([3, 3, 3], 0, 3))            # no growth at all
        self.assertEqual(g([1, 2], None, 2), "strict")


class LeakDetection(unittest.TestCase):
    """Whole runs of --watch on a tree that changes between samples."""

    def setUp(self):
        self.fake = FakeProc(self)
        self.step = 0

    def leaky(self, n):
        return "".join(smaps_entry(0x100000 * (i + 1), 4,
                                   "/dev/ashmem/GraphicBuffer (deleted)",
                                   1000 + i, rss=4, pss=4) for i in range(n))

    def tick(self):
        """The world between samples: 501 leaks a region each time, 502 is
        stable, 503 shrinks, 504 only grows its fd-held bytes."""
        i = self.step
        self.step += 1
        self.fake.add(501, "leaker", "0::/lxc.payload.waydroid2",
                      smaps=self.leaky(i + 1))
        stable = smaps_entry(0x1000, 64, "/dev/ashmem/stable (deleted)", 7,
                             rss=64, pss=64)
        self.fake.add(502, "stable", smaps=stable)
        self.fake.add(503, "shrinker", smaps="".join(
            smaps_entry(0x10000 * (k + 1), 4, "/dev/ashmem/s (deleted)",
                        2000 + k) for k in range(6 - i)))
        self.fake.add(504, "fdgrow", fds=[(3, fdinfo_text(
            name="blob", size=4096 * (1 + i * i)))])

    def watch(self, *args, ticks=None, text=False):
        """Runs --watch 1, calling ticks (default self.tick) before each
        sample; returns (code, JSON document), or (code, stdout, stderr)."""
        return run_watch(self.fake, "1", ticks or self.tick, args, text)

    def flagged(self, doc):
        return {(f["pid"], f["scope"], f["name"], f["metric"], f["rule"])
                for f in doc["flagged"]}

    def test_leaker_flagged_stable_and_shrinking_not(self):
        code, doc = self.watch("--samples", "4")
        self.assertEqual(code, 1)
        self.assertEqual(self.flagged(doc), {
            (501, "process", None, "regions", "strict"),
            (501, "process", None, "bytes", "strict"),
            (501, "name", "GraphicBuffer", "regions", "strict"),
            (501, "name", "GraphicBuffer", "bytes", "strict"),
            (504, "process", None, "bytes", "strict"),
            (504, "name", "blob", "bytes", "strict")})
        leak = [f for f in doc["flagged"] if f["pid"] == 501][0]
        self.assertEqual(leak["values"], [1, 2, 3, 4])
        self.assertEqual(leak["cgroup"], "/lxc.payload.waydroid2")
        self.assertEqual(len(doc["samples"]), 4)

    def test_text_report(self):
        code, out, err = self.watch("--samples", "3", "--comm", "leaker",
                                    text=True)
        self.assertEqual(code, 1)
        self.assertEqual(err.count("sample "), 3)
        self.assertIn("Growing over 3 samples", out)
        self.assertIn("pid 501 leaker", out)
        self.assertIn("name 'GraphicBuffer', regions (strict): 1 -> 2 -> 3",
                      out)
        self.assertNotIn("pid 502", out)

    def test_nothing_flagged_when_stable(self):
        code, doc = self.watch("--samples", "5", "--pid", "502,503",
                               "--grow-bytes", "1", "--grow-regions", "1")
        self.assertEqual(code, 0)
        self.assertEqual(doc["flagged"], [])
        code, out, _ = self.fake.run("--pid", "502")
        self.assertNotIn("Growing", out)

    def test_threshold_rule(self):
        # 601 grows by 4K every other sample: never strictly over 3 samples.
        sizes = iter([4096, 8192, 8192, 12288, 12288])

        def ticks():
            self.fake.add(601, "slow", fds=[(3, fdinfo_text(
                name="x", size=next(sizes)))])

        code, doc = self.watch("--samples", "5", ticks=ticks)
        self.assertEqual((code, doc["flagged"]), (0, []))
        sizes = iter([4096, 8192, 8192, 12288, 12288])
        code, doc = self.watch("--samples", "5", "--grow-bytes", "8K",
                               ticks=ticks)
        self.assertEqual(code, 1)
        self.assertEqual(self.flagged(doc), {
            (601, "process", None, "bytes", "threshold"),
            (601, "name", "x", "bytes", "threshold")})
        self.assertEqual(doc["rules"]["grow_bytes"], 8192)

    def test_private_mappings_tracked_as_a_group(self):
        n = iter(range(1, 10))

        def ticks():
            i = next(n)
            self.fake.add(900, "cow", smaps="".join(smaps_entry(
                0x100000 * (k + 1), 4, "/dev/ashmem", 6, perms="rw-p")
                for k in range(i)) + smaps_entry(
                0x1000, 4, "/dev/ashmem/fixed (deleted)", 31))

        code, doc = self.watch("--samples", "3", ticks=ticks)
        self.assertEqual(self.flagged(doc), {
            (900, "private", None, "regions", "strict"),
            (900, "private", None, "bytes", "strict")})
        self.assertEqual(doc["flagged"][0]["values"], [1, 2, 3])

    def test_pid_reuse_and_late_start(self):
        starts = iter([1, 1, 2, 2, 2])
        counts = iter([1, 2, 3, 4, 5])

        def ticks():
            # Same PID, new process (start time) from the third sample on:
            # one region, then two, then three: growing over its 3 samples.
            n = next(counts)
            start = next(starts)
            self.fake.add(700, "reused", starttime=start,
                          smaps=self.leaky(n if start == 1 else n - 2))

        code, doc = self.watch("--samples", "5", ticks=ticks)
        f = [f for f in doc["flagged"] if f["scope"] == "process"
             and f["metric"] == "regions"]
        self.assertEqual([x["values"] for x in f], [[1, 2, 3]])

    def test_process_gone_by_last_sample_not_judged(self):
        n = iter(range(1, 10))

        def ticks():
            i = next(n)
            if i < 4:
                self.fake.add(800, "brief", smaps=self.leaky(i))
            else:
                self.fake.remove(800)

        code, doc = self.watch("--samples", "4", ticks=ticks)
        self.assertEqual((code, doc["flagged"]), (0, []))

    def test_interrupted_watch_judges_what_it_has(self):
        def ticks():
            if self.step == 3:
                raise KeyboardInterrupt     # Ctrl-C before the 4th sample
            self.tick()

        code, doc = self.watch("--samples", "10", ticks=ticks)
        self.assertTrue(doc["interrupted"])
        self.assertEqual(len(doc["samples"]), 3)
        self.assertIn((501, "process", None, "regions", "strict"),
                      self.flagged(doc))

    def test_samples_need_watch(self):
        with self.assertRaises(SystemExit) as cm, \
                mock.patch("sys.stderr", io.StringIO()):
            self.fake.run("--samples", "4")
        self.assertEqual(cm.exception.code, 2)
        with self.assertRaises(SystemExit), \
                mock.patch("sys.stderr", io.StringIO()):
            self.fake.run("--watch", "1", "--samples", "2")


# ---------------------------------------------------------------- races

class UnreadableAndVanishing(unittest.TestCase):
    def setUp(self):
        self.fake = FakeProc(self)
        self.fake.add(1, "init", smaps=smaps_entry(
            0x1000, 4, "/dev/ashmem/mine (deleted)", 11, rss=4, pss=4))
        self.fake.add(2, "other", smaps=smaps_entry(
            0x1000, 4, "/dev/ashmem/theirs (deleted)", 12, rss=4, pss=4))
        self.fake.add(3, "third", fds=[(5, fdinfo_text(name="t"))])

    def patch(self, name, wrapper):
        real = getattr(diag, name)
        p = mock.patch.object(diag, name, lambda path: wrapper(real, path))
        p.start()
        self.addCleanup(p.stop)

    def deny(self, pattern):
        def wrapper(real, path):
            if re.search(pattern, path):
                raise PermissionError(13, "Permission denied", path)
            return real(path)
        return wrapper

    def test_unreadable_processes_reported(self):
        # What a normal user meets: another user's maps and fd directory.
        self.patch("read_bytes", self.deny(r"/2/(maps|smaps)$"))
        self.patch("listdir", self.deny(r"/[23]/fd$"))
        code, doc = self.fake.json()
        self.assertEqual(code, 0)
        self.assertEqual([p["pid"] for p in doc["processes"]], [1])
        self.assertEqual(doc["scan"]["unreadable"],
                         {"count": 2, "smaps": 1, "fd": 2, "pids": [2, 3]})
        code, out, _ = self.fake.run("-v")
        self.assertIn("Could not read 2 processes (smaps of 1, fd of 2):"
                      " permission denied", out)
        self.assertIn("unreadable: 2(other) 3(third)", out)

    def test_unreadable_status_files(self):
        self.patch("read_bytes", self.deny(r"/1/(stat|comm|cgroup)$"))
        p = by_pid(self.fake.scan())[1]
        self.assertEqual((p.comm, p.cgroup, p.region_count), ("?", "?", 1))

    def test_listed_process_already_gone(self):
        self.patch("listdir", lambda real, path: real(path) + ["4242"]
                   if path == self.fake.proc else real(path))
        code, doc = self.fake.json()
        self.assertEqual(code, 0)
        self.assertEqual(doc["scan"]["vanished_pids"], [4242])
        self.assertEqual(len(doc["processes"]), 3)

    def test_process_exits_between_maps_and_smaps(self):
        def wrapper(real, path):
            data = real(path)
            if path.endswith("/2/maps"):
                self.fake.remove(2)
            return data
        self.patch("read_bytes", wrapper)
        s = self.fake.scan()
        self.assertEqual(s.vanished, [2])
        self.assertEqual(sorted(by_pid(s)), [1, 3])

    def test_process_exits_while_fds_are_read(self):
        def wrapper(real, path):
            names = real(path)
            if path.endswith("/3/fd"):
                self.fake.remove(3)
            return names
        self.patch("listdir", wrapper)
        s = self.fake.scan()
        self.assertEqual(s.vanished, [3])

    def test_esrch_and_enoent_everywhere(self):
        for target in ("stat", "comm", "cgroup", "maps", "smaps"):
            with self.subTest(target=target):
                def wrapper(real, path, target=target):
                    if path.endswith("/1/" + target):
                        raise ProcessLookupError(3, "No such process", path)
                    return real(path)
                with mock.patch.object(
                        diag, "read_bytes",
                        lambda p, real=diag.read_bytes, w=wrapper: w(real, p)):
                    s = self.fake.scan()
                self.assertEqual(s.vanished, [1])
                self.assertEqual(sorted(by_pid(s)), [2, 3])

    def test_fd_closed_during_scan_skipped(self):
        self.fake.add_fd(3, 6, "/dev/ashmem", fdinfo_text(name="closing"))

        def wrapper(real, path):
            names = real(path)
            if path.endswith("/3/fd"):
                os.remove(os.path.join(path, "6"))
            return names
        self.patch("listdir", wrapper)
        p = by_pid(self.fake.scan())[3]
        self.assertEqual([r.name for r in p.regions], ["t"])

    def test_bad_proc_root(self):
        code, out, err = FakeProc(self).run("--proc", "/nonexistent/proc")
        self.assertEqual(code, 2)
        self.assertIn("cannot read /nonexistent/proc", err)


# ---------------------------------------------------------------- driver

class DriverAndHost(unittest.TestCase):
    def test_summary_printed_verbatim(self):
        fake = FakeProc(self)
        os.makedirs(os.path.join(fake.debug, "ashmem"))
        summary = "regions: 3\n  lru pages:\t12\n"
        with open(os.path.join(fake.debug, "ashmem", "summary"), "w") as f:
            f.write(summary)
        os.makedirs(os.path.join(fake.sys, "module", "ashmem_linux"))
        os.makedirs(os.path.join(fake.sys, "class", "misc", "ashmem"))
        code, out, _ = fake.run()
        self.assertIn("Driver summary (%s/ashmem/summary):\n%s"
                      % (fake.debug, summary), out)
        self.assertIn("Module ashmem_linux: loaded; misc device ashmem:"
                      " registered.", out)
        _, doc = fake.json()
        self.assertEqual(doc["driver"]["summary"], summary)
        self.assertIsNone(doc["driver"]["summary_error"])

    SUMMARY = (
        "regions:\t3\nbytes_reserved:\t37752832\npages_resident:\t1026\n"
        "pages_pinned:\t9217\npages_unpinned:\t0\npages_purged:\t0\n"
        "lru_pages:\t0\nshrinker_scans:\t1\n"
        "shrinker_pages_purged:\t8192\npurge_all_pages_purged:\t0\n"
        "# id\ttgid\tcomm\tsize\tresident\tpinned\tunpinned\tpurged\t"
        "name\n"
        "2\t53\tashmem_purge_de\t4194304\t1024\t1024\t0\t0\tdemo-pinned\n"
        "3\t53\tashmem_purge_de\t33554432\t2\t8192\t0\t0\tdemo-cache\n"
        "5\t60\tmy\\040app\t4096\t0\t1\t0\t0\tbeta\\040cache\\134\\303\\251\n")

    def test_summary_parsed_into_json(self):
        fake = FakeProc(self)
        os.makedirs(os.path.join(fake.debug, "ashmem"))
        with open(os.path.join(fake.debug, "ashmem", "summary"), "w") as f:
            f.write(self.SUMMARY)
        _, doc = fake.json()
        d = doc["driver"]
        self.assertEqual(d["summary"], self.SUMMARY)
        self.assertEqual(d["summary_totals"], {
            "regions": 3, "bytes_reserved": 37752832, "pages_resident": 1026,
            "pages_pinned": 9217, "pages_unpinned": 0, "pages_purged": 0,
            "lru_pages": 0, "shrinker_scans": 1,
            "shrinker_pages_purged": 8192, "purge_all_pages_purged": 0})
        self.assertEqual(d["summary_regions"][0], {
            "id": 2, "tgid": 53, "comm": "ashmem_purge_de", "size": 4194304,
            "resident": 1024, "pinned": 1024, "unpinned": 0, "purged": 0,
            "name": "demo-pinned"})
        self.assertEqual([r["id"] for r in d["summary_regions"]], [2, 3, 5])
        last = d["summary_regions"][2]
        self.assertEqual((last["comm"], last["name"]),
                         ("my app", "beta cache\\\u00e9"))
        # The table output prints it as it is, escapes included.
        _, out, _ = fake.run()
        self.assertIn("5\t60\tmy\\040app\t", out)

    def test_summary_odd_lines_skipped(self):
        totals, regions = diag.parse_summary(
            b"regions:\t2\nbogus\nlru_pages:\tmany\n# id\tsize\tname\n"
            b"1\t4096\ta\n2\t4096\n3\tbig\tb\n4\t0\tdev/ashmem\n")
        self.assertEqual(totals, {"regions": 2})
        self.assertEqual(regions, [{"id": 1, "size": 4096, "name": "a"},
                                   {"id": 4, "size": 0,
                                    "name": "dev/ashmem"}])
        self.assertEqual(diag.parse_summary(b""), ({}, []))

    def test_summary_missing_or_denied(self):
        fake = FakeProc(self)
        code, out, _ = fake.run()
        self.assertIn("ashmem/summary: not readable: No such file or"
                      " directory", out)
        real = diag.read_bytes

        def deny(path):
            if path.endswith("summary"):
                raise PermissionError(13, "Permission denied", path)
            return real(path)
        with mock.patch.object(diag, "read_bytes", deny):
            _, doc = fake.json()
        self.assertEqual(doc["driver"]["summary_error"],
                         "Permission denied (root only)")
        self.assertIsNone(doc["driver"]["summary_totals"])
        self.assertIsNone(doc["driver"]["summary_regions"])

    def test_empty_tree(self):
        fake = FakeProc(self)
        fake.kthread(2)
        code, out, _ = fake.run()
        self.assertEqual(code, 0)
        self.assertIn("(no ashmem regions found; 0 processes scanned)", out)

    def test_real_proc(self):
        """The host's own /proc: no crash, a well-formed answer."""
        out = subprocess.run([TOOL, "--json"], check=True,
                             stdout=subprocess.PIPE,
                             universal_newlines=True).stdout
        doc = json.loads(out)
        self.assertEqual(doc["schema"], "ashmem-diag/2")
        # At least this test's own process, which is always readable.
        self.assertGreater(doc["scan"]["processes_scanned"], 0)
        self.assertNotIn(os.getpid(), doc["scan"]["unreadable"]["pids"])

    def test_help_documents_the_region_line(self):
        help_text = diag.build_parser().format_help()
        self.assertIn("region:", help_text)
        self.assertIn("summary_regions", help_text)
        self.assertNotIn("count twice", help_text)

    def test_sizes(self):
        self.assertEqual(diag.parse_size("16M"), 16 << 20)
        self.assertEqual(diag.parse_size("4096"), 4096)
        self.assertEqual(diag.parse_size("2KiB"), 2048)
        self.assertEqual(diag.human(0), "0")
        self.assertEqual(diag.human(1000), "1000B")
        self.assertEqual(diag.human(1536), "1.5K")
        self.assertEqual(diag.human(64 << 20), "64M")
        self.assertEqual(diag.human(123, raw=True), "123")


if __name__ == "__main__":
    unittest.main()
