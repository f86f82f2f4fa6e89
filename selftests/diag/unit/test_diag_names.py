# SPDX-License-Identifier: GPL-2.0
"""Host unit tests of scripts/ashmem-diag: process names (argv[0] as
Android's tools show it, comm beside it when renamed) and per-container
totals, on fake /proc trees.

Run: python3 -m unittest discover -s selftests/diag/unit -v   (or: make diag-test)
"""

import unittest
from unittest import mock

from test_ashmem_diag import KB, FakeProc, by_pid, diag, fdinfo_text, \
    smaps_entry

REGION = "/dev/ashmem/%s (deleted)"
DOCKER_ID = "ae836c95b4c3c9e9179e0e91015512da89fdec91612f63cebae57df9a5444c79"
PODMAN_ID = "0123456789abcdef" * 4


def holding(name, inode, size_kb=4, pss=None):
    """smaps of one mapped region."""
    return smaps_entry(0x1000, size_kb, REGION % name, inode, rss=size_kb,
                       pss=size_kb if pss is None else pss)


def android_cmdline(name, area=96):
    """The argument area of a zygote child: the package name, then NULs up
    to the end of the area zygote was started with."""
    return name.encode() + b"\0" * (area - len(name))


def android_comm(name):
    """What Android's zygote sets as comm: the last 15 bytes of the name."""
    return name[-15:]


class NameRules(unittest.TestCase):
    def test_argv0_is_the_cmdline_up_to_its_first_nul(self):
        a = diag.cmdline_argv0
        self.assertEqual(a(b"com.example.app\0\0\0\0\0"), b"com.example.app")
        self.assertEqual(a(b"/usr/bin/python3\0-u\0x.py\0"),
                         b"/usr/bin/python3")
        self.assertEqual(a(b"sshd: root@pts/0  \0\0"), b"sshd: root@pts/0")
        self.assertEqual(a(b""), b"")
        self.assertEqual(a(b"\0\0\0\0"), b"")             # area cleared
        self.assertEqual(a(b"no-nul-at-all"), b"no-nul-at-all")

    def test_name_of_a_path_is_its_last_component(self):
        n = diag.command_name
        self.assertEqual(n(b"app_process64", b"/system/bin/app_process64"),
                         b"app_process64")
        self.assertEqual(n(b"x", b"./run"), b"run")
        # A title with blanks is not a path, whatever slashes it holds.
        self.assertEqual(n(b"sshd", b"sshd: root@pts/0"), b"sshd: root@pts/0")
        self.assertEqual(n(b"x", b"/opt/dir/"), b"/opt/dir/")
        self.assertEqual(n(b"kworker/0:1", b""), b"kworker/0:1")

    def test_when_comm_says_the_same_as_the_name(self):
        c = diag.comm_in_name
        self.assertTrue(c(b"surfaceflinger", b"surfaceflinger"))
        # exec keeps the first 15 bytes of the file name...
        self.assertTrue(c(b"android.hardwar",
                          b"android.hardware.graphics.composer@2.1-service"))
        # ...Android's zygote the last 15 bytes of the package name.
        self.assertTrue(c(b".gms.persistent",
                          b"com.google.android.gms.persistent"))
        self.assertTrue(c(b"sshd", b"sshd: root@pts/0"))
        # Renamed: a different word, or a shorter prefix that is no cut.
        self.assertFalse(c(b"main", b"zygote64"))
        self.assertFalse(c(b"leak-hunter", b"python3"))
        self.assertFalse(c(b"py", b"python3"))
        self.assertFalse(c(b"python3", b"python3_x"))
        self.assertFalse(c(b"gms.persistent", b"com.google.android.gms."
                           b"persistent"))   # 14 bytes: not a 15-byte cut


class ProcessNames(unittest.TestCase):
    def setUp(self):
        self.fake = FakeProc(self)

    def row(self, out, pid):
        """The text of pid's row in the process table."""
        (line,) = [ln for ln in out.splitlines()
                   if ln.split()[:1] == [str(pid)]]
        return line

    def test_long_package_names_in_full(self):
        gms = "com.google.android.gms.persistent"
        self.fake.add(100, android_comm(gms), cmdline=android_cmdline(gms),
                      smaps=holding("a", 1))
        p = by_pid(self.fake.scan())[100]
        self.assertEqual((p.comm, p.command, p.argv0),
                         (".gms.persistent", gms, gms))
        self.assertTrue(p.comm_in_command)
        code, out, _ = self.fake.run()
        self.assertEqual(self.row(out, 100).split()[1], gms)
        self.assertNotIn("(.gms.persistent)", out)

    def test_two_apps_alike_by_comm_told_apart(self):
        # Their comms are the same 15 bytes; the table and --comm tell the
        # packages apart.
        one, two = "com.example.one.sync.persistent", \
            "com.example.two.sync.persistent"
        self.assertEqual(android_comm(one), android_comm(two))
        self.fake.add(101, android_comm(one), cmdline=android_cmdline(one),
                      smaps=holding("a", 1))
        self.fake.add(102, android_comm(two), cmdline=android_cmdline(two),
                      smaps=holding("b", 2))
        code, out, _ = self.fake.run()
        self.assertIn(one, self.row(out, 101))
        self.assertIn(two, self.row(out, 102))
        code, doc = self.fake.json("--comm", r"example\.two")
        self.assertEqual([p["pid"] for p in doc["processes"]], [102])
        code, doc = self.fake.json("--comm", "^sync.persistent$")
        self.assertEqual([p["pid"] for p in doc["processes"]], [101, 102])

    def test_comm_renamed_after_start_shown_beside_the_name(self):
        # prctl(PR_SET_NAME) in a process started as /usr/bin/python3.
        self.fake.add(103, "leak-hunter",
                      cmdline=b"/usr/bin/python3\0-u\0hunt.py\0",
                      smaps=holding("a", 1))
        p = by_pid(self.fake.scan())[103]
        self.assertEqual((p.command, p.argv0, p.comm),
                         ("python3", "/usr/bin/python3", "leak-hunter"))
        self.assertFalse(p.comm_in_command)
        self.assertEqual(p.display_command, "python3 (leak-hunter)")
        code, out, _ = self.fake.run()
        self.assertIn("  python3 (leak-hunter)  ", self.row(out, 103))
        # --comm matches either.
        for pattern in ("^leak-hunter$", "^python3$"):
            code, doc = self.fake.json("--comm", pattern)
            self.assertEqual([p["pid"] for p in doc["processes"]], [103])
        code, doc = self.fake.json("--comm", "hunt.py")
        self.assertEqual(doc["processes"], [])

    def test_zygote_like_rename(self):
        self.fake.add(104, "main", cmdline=android_cmdline("zygote64"),
                      smaps=holding("a", 1))
        code, out, _ = self.fake.run()
        self.assertIn("zygote64 (main)", self.row(out, 104))

    def test_paths_and_cut_comms(self):
        hal = "/vendor/bin/hw/android.hardware.graphics.composer@2.1-service"
        self.fake.add(105, "android.hardwar", cmdline=hal.encode() + b"\0",
                      smaps=holding("a", 1))
        self.fake.add(106, "app_process64",
                      cmdline=b"/system/bin/app_process64\0-Xzygote\0"
                              b"/system/bin\0--zygote\0",
                      smaps=holding("b", 2))
        self.fake.add(107, "sshd", cmdline=b"sshd: root@pts/0\0\0\0",
                      smaps=holding("c", 3))
        procs = by_pid(self.fake.scan())
        self.assertEqual(procs[105].display_command,
                         "android.hardware.graphics.composer@2.1-service")
        self.assertEqual(procs[105].argv0, hal)
        self.assertEqual(procs[106].display_command, "app_process64")
        self.assertEqual(procs[107].display_command, "sshd: root@pts/0")

    def test_empty_or_unreadable_cmdline_falls_back_to_comm(self):
        self.fake.add(108, "cleared", cmdline=b"\0" * 32,
                      smaps=holding("a", 1))
        self.fake.add(109, "hidden", cmdline=b"secret\0",
                      smaps=holding("b", 2))
        real = diag.read_bytes

        def deny(path):
            if path.endswith("/109/cmdline"):
                raise PermissionError(13, "Permission denied", path)
            return real(path)
        with mock.patch.object(diag, "read_bytes", deny):
            code, doc = self.fake.json("--sort", "pid")
        p108, p109 = doc["processes"]
        self.assertEqual((p108["command"], p108["argv0"]), ("cleared", ""))
        self.assertEqual((p109["command"], p109["argv0"]), ("hidden", None))

    def test_kernel_threads_skipped_before_their_name(self):
        self.fake.kthread(2)
        self.fake.add(110, "holder", smaps=holding("a", 1))
        s = self.fake.scan()
        self.assertEqual((s.kernel_threads, sorted(by_pid(s))), (1, [110]))

    def test_zombie_marked_defunct(self):
        # A zombie holds nothing; listed only as a scanned process.
        self.fake.add(111, "gone", cmdline="", state="Z")
        p = by_pid(self.fake.scan())[111]
        self.assertEqual((p.state, p.tid, p.regions), ("Z", None, []))
        self.assertTrue(p.zombie)
        self.assertEqual(p.display_command, "gone <defunct>")

    def test_zombie_leader_read_through_a_live_thread(self):
        # The main thread exited, another thread lives on with the
        # process's memory and files: the leader's own files are empty.
        self.fake.add(112, "daemon", cmdline="", state="Z")
        self.fake.add(112, "daemon", tid=112, cmdline="", state="Z")
        self.fake.add(112, "worker", tid=113, state="Z", cmdline="")
        self.fake.add(112, "worker", tid=114,
                      cmdline=b"/usr/sbin/daemon\0--fg\0",
                      smaps=holding("kept", 9, size_kb=8),
                      fds=[(5, fdinfo_text(inode=9, name="kept",
                                           size=8192))])
        code, doc = self.fake.json()
        (p,) = doc["processes"]
        self.assertEqual((p["pid"], p["state"], p["tid"]), (112, "Z", 114))
        self.assertEqual((p["region_count"], p["mapped_bytes"],
                          p["fd_held_bytes"]), (1, 8 * KB, 8192))
        self.assertEqual((p["command"], p["argv0"]),
                         ("daemon", "/usr/sbin/daemon"))
        code, out, _ = self.fake.run()
        self.assertNotIn("<defunct>", out)

    def test_cmdline_read_only_for_holders(self):
        # Reading cmdline takes the target's mmap lock: not for the many
        # processes without ashmem (unless --comm needs the name).
        self.fake.add(113, "idle", smaps=holding("x", 1), maps="")
        self.fake.add(114, "holder", smaps=holding("a", 1))
        real = diag.read_bytes
        read = []

        def spy(path):
            read.append(path)
            return real(path)
        with mock.patch.object(diag, "read_bytes", spy):
            s = self.fake.scan()
        self.assertEqual([p for p in read if p.endswith("/cmdline")],
                         [self.fake.dir(114) + "/cmdline"])
        self.assertEqual(by_pid(s)[113].argv0, None)

    def test_sort_by_command(self):
        self.fake.add(115, "zz", cmdline=b"aa.first\0", smaps=holding("a", 1))
        self.fake.add(116, "aa", cmdline=b"zz.last\0", smaps=holding("b", 2))
        code, doc = self.fake.json("--sort", "comm")
        self.assertEqual([p["pid"] for p in doc["processes"]], [115, 116])

    def test_watch_flags_carry_the_name(self):
        app = "com.example.leaky.persistent"
        n = iter(range(1, 10))

        def scan(proc, flt, real=diag.scan):
            i = next(n)
            self.fake.add(117, android_comm(app), cmdline=android_cmdline(app),
                          smaps="".join(smaps_entry(
                              0x10000 * (k + 1), 4, REGION % "leaky", 50 + k)
                              for k in range(i)))
            return real(proc, flt)
        with mock.patch.object(diag, "scan", scan), \
                mock.patch.object(diag.time, "sleep"):
            code, doc = self.fake.json("--watch", "1", "--samples", "3")
        self.assertEqual(code, 1)
        self.assertEqual({(f["command"], f["comm"], f["container"])
                          for f in doc["flagged"]},
                         {(app, android_comm(app), "host")})
        with mock.patch.object(diag, "scan", scan), \
                mock.patch.object(diag.time, "sleep"):
            n = iter(range(1, 10))
            code, out, _ = self.fake.run("--watch", "1", "--samples", "3")
        self.assertIn("pid 117 %s [" % app, out)


class ContainerRules(unittest.TestCase):
    def test_paths(self):
        c = diag.classify_container
        cases = [
            # Waydroid's LXC payload (LXC 4.0+), nested cgroups inside it.
            ("/lxc.payload.waydroid", ("lxc", "waydroid",
                                       "/lxc.payload.waydroid")),
            ("/lxc.payload.waydroid2/uid_10063/pid_812",
             ("lxc", "waydroid2", "/lxc.payload.waydroid2")),
            # LXC before 4.0 and Proxmox: /lxc/NAME.
            ("/lxc/waydroid/ns", ("lxc", "waydroid", "/lxc/waydroid")),
            # Docker (redroid): systemd and cgroupfs drivers.
            ("/system.slice/docker-%s.scope" % DOCKER_ID,
             ("docker", DOCKER_ID[:12],
              "/system.slice/docker-%s.scope" % DOCKER_ID)),
            ("/docker/%s" % DOCKER_ID,
             ("docker", DOCKER_ID[:12], "/docker/%s" % DOCKER_ID)),
            # Podman: systemd (machine.slice) and cgroupfs (libpod_parent).
            ("/machine.slice/libpod-%s.scope/container" % PODMAN_ID,
             ("podman", PODMAN_ID[:12],
              "/machine.slice/libpod-%s.scope" % PODMAN_ID)),
            ("/libpod_parent/libpod-%s" % PODMAN_ID,
             ("podman", PODMAN_ID[:12],
              "/libpod_parent/libpod-%s" % PODMAN_ID)),
            # The outermost container counts: docker inside an LXC.
            ("/lxc.payload.box/system.slice/docker-%s.scope" % DOCKER_ID,
             ("lxc", "box", "/lxc.payload.box")),
        ]
        for path, want in cases:
            got = c(path)
            self.assertEqual((got.kind, got.name, got.cgroup), want, path)
        for path in ("/", "", "/init.scope", "/user.slice/user-1000.slice/"
                     "session-2.scope", "/system.slice/docker.service",
                     "/docker/buildkit", "/lxc.monitor.waydroid",
                     "/machine.slice/libpod-conmon-%s.scope" % PODMAN_ID,
                     "/system.slice/docker-1234.scope", "/lxc"):
            self.assertEqual(c(path), diag.HOST, path)
        self.assertEqual(c("?").kind, "unknown")

    def test_labels(self):
        self.assertEqual(diag.classify_container("/lxc.payload.w").label,
                         "lxc:w")
        self.assertEqual(diag.HOST.label, "host")


class ContainerTotals(unittest.TestCase):
    def setUp(self):
        self.fake = FakeProc(self)
        way = "0::/lxc.payload.waydroid"
        # Two Android processes sharing one region (inode 7), one more each.
        shared = smaps_entry(0x1000, 64, REGION % "shared", 7, rss=64,
                             pss=32)
        self.fake.add(10, "surfaceflinger", way + "/vendor",
                      smaps=shared + smaps_entry(0x90000, 16, REGION % "sf",
                                                 8, rss=16, pss=16))
        self.fake.add(11, ".gms.persistent", way + "/uid_10063/pid_11",
                      cmdline=android_cmdline(
                          "com.google.android.gms.persistent"),
                      smaps=shared + smaps_entry(0x90000, 4, REGION % "g", 9,
                                                 rss=4, pss=4))
        self.fake.add(20, "redroid-app",
                      "0::/system.slice/docker-%s.scope" % DOCKER_ID,
                      fds=[(3, fdinfo_text(name="big", size=1 << 20))])
        self.fake.add(30, "host-tool", "0::/user.slice/user-1000.slice",
                      smaps=holding("h", 11, size_kb=8))
        self.fake.add(31, "host-other", "0::/init.scope",
                      smaps=holding("h2", 12))

    def test_json_containers_with_totals(self):
        code, doc = self.fake.json()
        self.assertEqual(code, 0)
        got = {c["label"]: c for c in doc["containers"]}
        # Ordered by the sort key's sum (PSS).
        self.assertEqual([c["label"] for c in doc["containers"]],
                         ["lxc:waydroid", "host", "docker:" + DOCKER_ID[:12]])
        w = got["lxc:waydroid"]
        self.assertEqual((w["kind"], w["name"], w["cgroup"]),
                         ("lxc", "waydroid", "/lxc.payload.waydroid"))
        # The shared region counts once in the container's regions.
        self.assertEqual((w["processes"], w["region_count"],
                          w["region_bytes"], w["pss_bytes"],
                          w["rss_bytes"]),
                         (2, 3, (64 + 16 + 4) * KB, (32 + 32 + 16 + 4) * KB,
                          (64 + 64 + 16 + 4) * KB))
        d = got["docker:" + DOCKER_ID[:12]]
        self.assertEqual((d["processes"], d["region_count"],
                          d["fd_held_bytes"]), (1, 1, 1 << 20))
        h = got["host"]
        self.assertEqual((h["processes"], h["region_bytes"], h["cgroup"]),
                         (2, 12 * KB, "/"))
        self.assertEqual({p["pid"]: p["container"] for p in doc["processes"]},
                         {10: "lxc:waydroid", 11: "lxc:waydroid",
                          20: "docker:" + DOCKER_ID[:12], 30: "host",
                          31: "host"})
        # The grand total still counts the shared region once.
        self.assertEqual(doc["totals"]["region_count"], 6)

    def test_table_groups_processes_with_a_total_each(self):
        code, out, _ = self.fake.run()
        lines = out[:out.index("\n\nScanned ")].splitlines()
        firsts = [ln.split()[:2] for ln in lines]
        self.assertEqual([f[0] if f else "" for f in firsts], [
            "PID", "10", "11", "TOTAL", "", "30", "31", "TOTAL", "", "20",
            "TOTAL", "", "TOTAL"])
        self.assertEqual(firsts[3], ["TOTAL", "lxc:waydroid:"])
        self.assertEqual(firsts[12], ["TOTAL", "all:"])
        self.assertTrue(lines[3].endswith("/lxc.payload.waydroid"))
        self.assertEqual(lines[3].split()[2:5], ["2", "processes", "3"])
        self.assertIn("com.google.android.gms.persistent", lines[2])

    def test_one_container_one_total(self):
        code, out, _ = self.fake.run("--cgroup", "waydroid")
        totals = [ln for ln in out.splitlines() if ln.startswith("TOTAL")]
        self.assertEqual(len(totals), 1)
        self.assertIn("lxc:waydroid: 2 processes", totals[0])

    def test_cgroup_selects_by_path_or_container(self):
        def pids(*args):
            return sorted(p["pid"] for p in self.fake.json(*args)[1]
                          ["processes"])
        self.assertEqual(pids("--cgroup", "waydroid"), [10, 11])
        self.assertEqual(pids("--cgroup", "lxc:waydroid"), [10, 11])
        self.assertEqual(pids("--cgroup", "host"), [30, 31])
        self.assertEqual(pids("--cgroup", "docker:" + DOCKER_ID[:12]), [20])
        self.assertEqual(pids("--cgroup", "docker"), [20])
        self.assertEqual(pids("--cgroup", "user.slice"), [30])

    def test_regions_table_follows_the_groups(self):
        # Sorted by pid, the containers come by label: docker, host, lxc.
        code, out, _ = self.fake.run("--regions", "--sort", "pid")
        head = out.index("KIND")
        rows = [ln.split()[0] for ln in out[head:].splitlines()[1:]
                if ln.split()[:1] and ln.split()[0].isdigit()]
        self.assertEqual(rows, ["20", "30", "31", "10", "10", "11", "11"])


if __name__ == "__main__":
    unittest.main()
