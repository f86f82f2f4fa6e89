# SPDX-License-Identifier: GPL-2.0
"""Host unit tests of scripts/ashmem-diag --watch --chart: the SVG chart of
the samples, parsed back with xml.etree.ElementTree.

Run: python3 -m unittest discover -s selftests/diag/unit -v   (or: make diag-test)
"""

import io
import os
import xml.etree.ElementTree as ET
import unittest
from unittest import mock

from test_ashmem_diag import FakeProc, diag, fdinfo_text, run_watch, smaps_entry

SVG = "{http://www.w3.org/2000/svg}"
LEAKER = "com.example.leaky.persistent"


def texts(element):
    """Every piece of text in the document, in order."""
    return ["".join(e.itertext()) for e in element.iter(SVG + "text")]


def series_groups(root):
    """(class, title) of each drawn series."""
    return [(g.get("class"), g.find(SVG + "title").text)
            for g in root.iter(SVG + "g")
            if (g.get("class") or "").split()[:1] == ["series"]]


class Chart(unittest.TestCase):
    def setUp(self):
        self.fake = FakeProc(self)
        self.step = 0
        self.path = os.path.join(self.fake.top, "chart.svg")

    def tick(self):
        """501 leaks a 4K region per sample (an Android app in Waydroid),
        502 is stable, 503 shrinks, 505 holds nothing."""
        i = self.step
        self.step += 1
        self.fake.add(501, LEAKER[-15:], "0::/lxc.payload.waydroid",
                      cmdline=LEAKER.encode() + b"\0" * 20,
                      smaps="".join(smaps_entry(
                          0x100000 * (k + 1), 4,
                          "/dev/ashmem/GraphicBuffer (deleted)", 1000 + k)
                          for k in range(i + 1)))
        self.fake.add(502, "stable", smaps=smaps_entry(
            0x1000, 64, "/dev/ashmem/stable (deleted)", 7))
        self.fake.add(503, "shrinker", smaps="".join(
            smaps_entry(0x10000 * (k + 1), 4, "/dev/ashmem/s (deleted)",
                        2000 + k) for k in range(6 - i)))
        self.fake.add(505, "bystander")

    def watch(self, *args, ticks=None, text=False):
        return run_watch(self.fake, "2", ticks or self.tick, args, text)

    def parse(self):
        return ET.parse(self.path).getroot()

    def test_chart_names_the_leaker_and_marks_it(self):
        code, doc = self.watch("--samples", "4", "--chart", self.path)
        self.assertEqual(code, 1)
        root = self.parse()
        self.assertEqual(root.tag, SVG + "svg")
        drawn = series_groups(root)
        self.assertEqual(drawn, [
            ("series flagged",
             "%s (pid 501) [lxc:waydroid]" % LEAKER),
            ("series", "stable (pid 502)"),
            ("series", "shrinker (pid 503)")])
        words = "\n".join(texts(root))
        self.assertIn(LEAKER, words)
        self.assertIn("FLAGGED: bytes (strict), regions (strict)", words)
        self.assertIn("grew +12K, now 16K", words)      # 4K -> 16K
        self.assertIn("grew -12K, now 12K", words)      # 24K -> 12K
        self.assertNotIn("bystander", words)            # never held any
        # Axis labels with units, and the flag marker on the leaker only.
        self.assertIn("time since the first sample (s)", words)
        self.assertIn("region bytes (KiB)", words)
        markers = [e for e in root.iter(SVG + "path")
                   if e.get("class") == "flag-marker"]
        self.assertEqual(len(markers), 1)
        # The JSON tells the same.
        chart = doc["chart"]
        self.assertEqual((chart["path"], chart["by"]), (self.path, "process"))
        self.assertEqual([(s["pid"], s["command"], s["flagged"], s["values"])
                          for s in chart["series"]],
                         [(501, LEAKER, True, [4096, 8192, 12288, 16384]),
                          (502, "stable", False, [65536] * 4),
                          (503, "shrinker", False,
                           [24576, 20480, 16384, 12288])])

    def test_points_on_the_time_axis(self):
        times = iter([1000.0, 1002.0, 1004.5, 1006.0])
        real_scan = diag.scan

        def scan(proc, flt):
            s = real_scan(proc, flt)
            s.time = next(times)
            return s
        with mock.patch.object(diag, "scan", scan):
            self.watch("--samples", "4", "--chart", self.path)
        root = self.parse()
        # One point per sample of each series, with its time and value.
        (leaker,) = [g for g in root.iter(SVG + "g")
                     if g.get("class") == "series flagged"]
        tips = [c.find(SVG + "title").text
                for c in leaker.iter(SVG + "circle")]
        self.assertEqual([t.rpartition(": ")[2] for t in tips],
                         ["4.0K at 0 s", "8.0K at 2 s", "12K at 4.5 s",
                          "16K at 6 s"])
        xs = [float(c.get("cx")) for c in leaker.iter(SVG + "circle")]
        ys = [float(c.get("cy")) for c in leaker.iter(SVG + "circle")]
        self.assertEqual(xs, sorted(xs))
        self.assertEqual(ys, sorted(ys, reverse=True))   # growing: upwards

    def test_top_n_and_flagged_beyond_it(self):
        code, doc = self.watch("--samples", "4", "--chart", self.path,
                               "--chart-top", "1")
        self.assertEqual([s["pid"] for s in doc["chart"]["series"]], [501])
        # A flagged series beyond the top N is drawn too: here the top one
        # by growth is 601, flagged is only 501... make 601 grow more
        # without being flagged (one jump).
        big = iter([0, 0, 0, 1 << 20])

        def ticks():
            self.tick()
            self.fake.add(601, "jump", fds=[(3, fdinfo_text(
                name="j", size=4096 + next(big)))])
        self.step = 0
        code, doc = self.watch("--samples", "4", "--chart", self.path,
                               "--chart-top", "1", ticks=ticks)
        self.assertEqual([(s["pid"], s["flagged"])
                          for s in doc["chart"]["series"]],
                         [(601, False), (501, True)])
        self.assertEqual(len(series_groups(self.parse())), 2)

    def test_by_region_name(self):
        code, doc = self.watch("--samples", "3", "--chart", self.path,
                               "--chart-by", "name")
        drawn = series_groups(self.parse())
        self.assertEqual(drawn[0], (
            "series flagged",
            "GraphicBuffer in %s (pid 501) [lxc:waydroid]" % LEAKER))
        self.assertIn(("series", "stable in stable (pid 502)"), drawn)

    def test_late_process_and_absent_name(self):
        def ticks():
            i = self.step
            self.step += 1
            if i >= 1:      # starts at the second sample
                self.fake.add(701, "late", smaps=smaps_entry(
                    0x1000, 4 * i, "/dev/ashmem/x (deleted)", 5))
        code, doc = self.watch("--samples", "3", "--chart", self.path,
                               ticks=ticks)
        (s,) = doc["chart"]["series"]
        self.assertEqual(s["values"], [None, 4096, 8192])
        self.assertEqual(s["growth"], 4096)
        root = self.parse()
        lines = [p for p in root.iter(SVG + "polyline")]
        self.assertEqual(len(lines), 1)
        self.assertEqual(len(lines[0].get("points").split()), 2)

    def test_names_escaped(self):
        nasty = "a<b>&\"c'\x01\x7f\u00e9"

        def ticks():
            self.step += 1
            self.fake.add(801, "x&<y>", cmdline=nasty.encode() + b"\0",
                          smaps=smaps_entry(0x1000, 4 * self.step,
                                            "/dev/ashmem/%s (deleted)"
                                            % nasty, 5))
        code, doc = self.watch("--samples", "3", "--chart", self.path,
                               "--chart-by", "name", ticks=ticks)
        root = self.parse()         # well-formed, whatever the names hold
        label = diag.display_name(nasty)
        self.assertEqual(series_groups(root)[0][1],
                         "%s in %s (x&<y>) (pid 801)" % (label, label))
        self.assertIn("\\001", label)

    def test_text_mode_says_where_the_chart_went(self):
        code, out, err = self.watch("--samples", "3", "--chart", self.path,
                                    text=True)
        self.assertEqual(code, 1)
        self.assertIn("chart of 3 series written to %s" % self.path, err)
        self.assertIn("Growing over 3 samples", out)
        self.parse()

    def test_unwritable_chart_is_an_error_after_the_report(self):
        path = os.path.join(self.fake.top, "no", "such", "dir", "c.svg")
        code, out, err = self.watch("--samples", "3", "--chart", path,
                                    text=True)
        self.assertEqual(code, 2)
        self.assertIn("Growing over 3 samples", out)
        self.assertIn("cannot write %s" % path, err)
        self.assertFalse(os.path.exists(path))

    def test_no_holders_still_a_valid_chart(self):
        code, doc = self.watch("--samples", "3", "--chart", self.path,
                               ticks=lambda: None)
        self.assertEqual(doc["chart"]["series"], [])
        self.assertIn("no process held ashmem in these samples",
                      texts(self.parse()))

    def test_chart_options_need_watch_and_chart(self):
        for args in (["--chart", self.path], ["--chart-top", "3"],
                     ["--watch", "1", "--chart-by", "name"],
                     ["--watch", "1", "--chart", self.path, "--chart-top",
                      "0"]):
            with self.assertRaises(SystemExit) as cm, \
                    mock.patch("sys.stderr", io.StringIO()):
                self.fake.run(*args)
            self.assertEqual(cm.exception.code, 2, args)
        self.assertFalse(os.path.exists(self.path))

    def test_nice_steps(self):
        self.assertEqual(diag.nice_step(10), 2)
        self.assertEqual(diag.nice_step(38), 10)
        self.assertEqual(diag.nice_step(1.2), 0.25)
        self.assertEqual(diag.nice_step(600), 200)


if __name__ == "__main__":
    unittest.main()
