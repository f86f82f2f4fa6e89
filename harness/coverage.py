#!/usr/bin/env python3
# SPDX-License-Identifier: GPL-2.0
"""Which blocks of the driver the debug kernel's guest run executed.

usage: coverage.py KO RECORDS SRC OUT

KO is the module `make module COVERAGE=1` built (with debug info) and the
guest loaded; RECORDS the "#cov " lines of the guest's result channel
(harness/guest/selftests-job.sh), what the module recorded (rust/coverage.c):
its record read from debugfs, and what each unload logged (the tests load
and unload it: every instance starts afresh); SRC the project's top
directory. Prints TAP (the `coverage:` part of make check) and writes into
OUT:

  summary     "driver coverage: N of M blocks (P%)"
  functions   per function: blocks hit, blocks, percent
  lines       per source line of the driver: hit/blocks, and the line
  unreached   every block of the driver that never ran, with its reason
  checks      the driver's blocks of inserted checks, not counted (below)
  uncalled    the driver's blocks in function copies nothing calls, not counted

A block is a call of __sanitizer_cov_trace_pc(): one per basic block and
critical edge of the instrumented code (LLVM's sanitizer coverage, level 3).
It belongs to the driver when the source line it was compiled from, the
innermost of its inlined frames, is in the driver's own files (rust/*.rs,
rust/shmem_shim.c, rust/memcg_shim.c), and its function is not a KUnit
test. The rest of the instrumented code is the kernel crate's and core's
generic code compiled into the module, counted on its own line, and the
KUnit tests themselves. Two kinds of the driver's blocks are not source
blocks and are counted apart: those of checks the compiler or KASAN inserted
(a block that only reports a failed check, and the edge of KASAN's inline
check that lets an access to a partly addressable granule go on), and those
in a compiled copy of a function that no instruction or table refers to
(every caller inlined it): nothing can run them, and the third case fails if
one ever did.

Reasons for unreached blocks are in harness/coverage-unreached: lines of
"FILE | FUNCTION | SOURCE TEXT | REASON" (fields apart by " | "; the reason
may hold more), where FUNCTION and SOURCE TEXT are
matched as substrings of the block's function and of its source line
(stripped; a SOURCE TEXT starting with "=" must be the whole line). A block without a reason fails the case that wants one.
"""
import collections
import json
import os
import re
import subprocess
import sys
import tempfile

# The goal (issue 26): a run whose guests reach less of the driver fails.
TARGET = 90.0
CALL = "__sanitizer_cov_trace_pc"
# What a block calls when it exists only to report a check the compiler, a
# sanitizer or a kernel macro inserted: KASAN's and UBSAN's reports, lockdep's
# RCU checks (rcu_dereference() and friends in the C shims), Rust's overflow checks
# (RUST_OVERFLOW_CHECKS) and debug assertions on pointers, bounds and unsafe
# preconditions (RUST_DEBUG_ASSERTIONS). Reaching one is a kernel BUG or a
# report, which fails make check by itself.
CHECK_REPORT = re.compile(r"^(__asan_report_|__ubsan_handle_|lockdep_rcu_suspicious$|"
                          r"_RNvNtNtCs\w+_4core9panicking11panic_const\d+panic_const_\w+_overflow|"
                          r"_RNvNtCs\w+_4core9panicking\d+(panic_misaligned_pointer_dereference|"
                          r"panic_null_pointer_dereference|panic_nounwind_fmt|panic_bounds_check)$)")


# Sections whose relocations name code without calling it or taking its address
# for a call: debug info, unwind tables, the kernel's lists of instructions to patch.
NOT_A_CALLER = re.compile(r"^\.(debug|orc_|ibt_endbr_seal|smp_locks|return_sites|call_sites|"
                          r"retpoline_sites|static_call|altinstr|parainstructions)|^__bug_table|"
                          r"^__patchable|^__mcount|^\.note")


def sites_of(ko):
    """Every call of the coverage callback: (section, return offset, kind), where kind is
    "check" when the block only reports a failed inserted check or is the "access allowed"
    edge of KASAN's inline check of a partly addressable granule, "uncalled" when it is in a
    compiled copy of a function that nothing calls, jumps to or takes the address of (every
    caller inlined it), and "" otherwise."""
    dis = subprocess.run(["llvm-objdump", "-dr", "--no-show-raw-insn", ko],
                         capture_output=True, text=True, check=True).stdout.splitlines()
    relocs = subprocess.run(["llvm-objdump", "-r", ko],
                            capture_output=True, text=True, check=True).stdout.splitlines()
    # Functions: (section, start) -> name; and what refers to them.
    starts, section, func = collections.defaultdict(dict), None, None
    insns = []  # (section, address, text, index in dis, function)
    for i, line in enumerate(dis):
        m = re.match(r"Disassembly of section (\S+):", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"([0-9a-f]+) <(.*)>:$", line)
        if m:
            starts[section][int(m.group(1), 16)] = func = m.group(2)
            continue
        m = re.match(r"\s+([0-9a-f]+):\s+(\S.*)$", line)
        if m and "R_X86_64" not in line:
            insns.append((section, int(m.group(1), 16), m.group(2), i, func))
    referenced = set()
    for section, addr, text, i, func in insns:
        # A call or jump the assembler resolved itself, to another function's start.
        m = re.match(r"(callq|jmp|j[a-z]+)\s+0x([0-9a-f]+) <([^+>]+)>", text)
        if m and m.group(3) != func and not (i + 1 < len(dis) and "R_X86_64" in dis[i + 1]):
            referenced.add(m.group(3))
    rsection = None
    for line in relocs:
        m = re.match(r"RELOCATION RECORDS FOR \[(\S+)\]:", line)
        if m:
            rsection = m.group(1)
            continue
        if rsection is None or NOT_A_CALLER.match(rsection):
            continue
        m = re.search(r"R_X86_64_\S+\s+(\S+?)(?:([+-])0x([0-9a-f]+))?$", line.strip())
        if not m:
            continue
        if m.group(1) in starts:
            # Relative to a section: the function at that offset (a call's addend is -4).
            off = int(m.group(3) or "0", 16) * (-1 if m.group(2) == "-" else 1)
            for at in (off, off + 4):
                if at in starts[m.group(1)]:
                    referenced.add(starts[m.group(1)][at])
        else:
            referenced.add(m.group(1))
    # KASAN's inline check of an access to a partly addressable 8-byte granule: the shadow
    # byte is compared with the access's last offset in the granule ("andb $0x7", "addb",
    # "cmpb", "jl"): the jump goes on with the access, the fall-through reports it.
    kasan_ok_edges = set()
    for n, (section, addr, text, i, _) in enumerate(insns):
        m = re.match(r"jl\s+0x([0-9a-f]+) ", text)
        if m and n >= 2 and insns[n - 1][2].startswith("cmpb") and \
                any(re.match(r"andb\s+\$0x7,", insns[k][2]) for k in range(max(0, n - 3), n)):
            kasan_ok_edges.add((section, int(m.group(1), 16)))
    line_at = {(section, addr): i for section, addr, _, i, _ in insns}
    calls = {}
    for i, line in enumerate(dis):
        m = re.match(r"\s+([0-9a-f]+):\s+R_X86_64_PLT32\s+(\S+)-0x4$", line)
        if m:
            calls[i] = m.group(2)
    sites, section, func = [], None, None
    for i, line in enumerate(dis):
        m = re.match(r"Disassembly of section (\S+):", line)
        if m:
            section = m.group(1)
            continue
        m = re.match(r"[0-9a-f]+ <(.*)>:$", line)
        if m:
            func = m.group(1)
            continue
        if calls.get(i) != CALL:
            continue
        ret = int(re.match(r"\s+([0-9a-f]+):", line).group(1), 16) + 4
        # The first call the block makes after this one, before it jumps or returns
        # (KASAN's no-return hook comes before a panic).
        # An unconditional jump is followed once: blocks that report the same failed
        # check share its report (Rust's panics on a null or misaligned pointer).
        callee, at, jumps = None, i + 1, 0
        while at is not None:
            start, at = at, None
            for k in range(start, min(start + 60, len(dis))):
                later = dis[k]
                c = re.search(r"R_X86_64_PLT32\s+(\S+)-0x4$", later)
                if c and c.group(1) not in ("__asan_handle_no_return", CALL):
                    callee = c.group(1)
                    break
                j = re.search(r"\tjmp\s+0x([0-9a-f]+) <", later)
                tail_call = k + 1 < len(dis) and "R_X86_64" in dis[k + 1]
                if j and not tail_call and jumps == 0 and (section, int(j.group(1), 16)) in line_at:
                    jumps, at = 1, line_at[section, int(j.group(1), 16)]
                    break
                if re.search(r"\t(j[a-z]+|ret[a-z]*|ud2|int3)\b", later) or re.match(r"[0-9a-f]+ <", later):
                    break
        if func not in referenced and func not in ("init_module", "cleanup_module"):
            kind = "uncalled"
        elif (callee and CHECK_REPORT.match(callee)) or (section, ret - 5) in kasan_ok_edges:
            kind = "check"
        else:
            kind = ""
        # The relocation is the call's 4-byte operand: the call returns right after it.
        sites.append((section, ret, kind))
    return sites


def symbolize(ko, sites):
    """The inlined frames of each site, innermost first: [(function, file, line)]."""
    sections = sorted({s for s, _, _ in sites})
    start = {s: 0x1000000 * (i + 1) for i, s in enumerate(sections)}
    with tempfile.TemporaryDirectory() as tmp:
        # The .ko is relocatable, its sections all at 0: link a copy with each
        # text section at an address of its own, so that addresses are unique.
        linked = os.path.join(tmp, "linked.elf")
        subprocess.run(["ld.lld", "-o", linked, "--unresolved-symbols=ignore-all", "-e", "0",
                        "--no-pie", "-z", "norelro"] +
                       ["--section-start=%s=%#x" % (s, a) for s, a in start.items()] + [ko],
                       check=True, capture_output=True)
        # The call instruction itself: one byte before its return address.
        addrs = "\n".join("%#x" % (start[s] + r - 1) for s, r, _ in sites)
        out = subprocess.run(["llvm-symbolizer", "--obj=" + linked, "--inlining",
                              "--output-style=JSON", "--functions=linkage", "--demangle"],
                             input=addrs, capture_output=True, text=True, check=True).stdout
    frames = []
    for line in out.splitlines():
        if line.strip():
            frames.append([(f["FunctionName"], f["FileName"], f["Line"])
                           for f in json.loads(line)["Symbol"]])
    if len(frames) != len(sites):
        sys.exit("coverage: llvm-symbolizer answered %d of %d sites" % (len(frames), len(sites)))
    return frames


def records(results):
    """What the guest recorded: one dict per dump (sections, bases, slots), and the exit log's slots."""
    dumps, exit_slots, cur = [], set(), None
    with open(results, errors="replace") as f:
        for line in f:
            if not line.startswith("#cov "):
                continue
            words = line[5:].split()
            if not words:
                continue
            if words[0] == "begin":
                cur = {"name": words[1], "sections": {}, "t": set(), "i": set(),
                       "text": None, "init": None}
            elif words[0] == "end" and cur:
                dumps.append(cur)
                cur = None
            elif words[0] == "exit" and len(words) > 1 and words[1] in ("t", "i"):
                exit_slots.update((words[1], int(w, 16)) for w in words[2:])
            elif cur is None:
                continue
            elif words[0] == "section" and len(words) == 3:
                cur["sections"][words[1]] = int(words[2], 16)
            elif words[0] == "#" and "text" in words:
                cur["text"] = int(words[words.index("text") + 1], 16)
                cur["init"] = int(words[words.index("init_text") + 1].rstrip(","), 16)
            elif words[0] in ("t", "i") and len(words) == 2:
                cur[words[0]].add(int(words[1], 16))
    return dumps, exit_slots


def slot(dump, section, ret):
    """The slot the module recorded a site's hit in, in this dump's instance."""
    addr = dump["sections"].get(section)
    if addr is None:
        return None, None
    if section.startswith(".init"):
        return "i", (addr - dump["init"] + ret) // 4 if dump["init"] else None
    return "t", (addr - dump["text"] + ret) // 4


def hits_of(sites, dumps, exit_slots):
    hit = [False] * len(sites)
    for n, (section, ret, _) in enumerate(sites):
        for d in dumps:
            kind, s = slot(d, section, ret)
            if s is not None and s in d[kind]:
                hit[n] = True
        if dumps and not hit[n]:
            # What unloads logged: every instance has the same layout, any dump's will do.
            hit[n] = slot(dumps[-1], section, ret) in exit_slots
    return hit


def classify(sites, frames, src):
    """'driver' (with the file relative to src), 'check' (a driver block of an inserted check,
    see sites_of), 'uncalled' (a driver block in a copy of a function nothing calls), 'test',
    or 'library', per site."""
    top = os.path.realpath(src) + "/"
    out = []
    for (_, _, kind), fr in zip(sites, frames):
        outer = fr[-1][0]
        func, path, line = fr[0]
        if "::tests::" in outer or re.search(r"kunit", outer):
            out.append(("test", None))
        elif path.startswith(top) and (path.endswith(".rs") or path.endswith("_shim.c")):
            out.append((kind or "driver", path[len(top):]))
        else:
            out.append(("library", None))
    return out


def short(func):
    """A function's name without the crate prefix and closure noise."""
    return func.replace("ashmem::", "")


def load_reasons(path):
    reasons = []
    if not os.path.exists(path):
        return reasons
    with open(path) as f:
        for line in f:
            line = line.rstrip("\n")
            if not line.strip() or line.startswith("#"):
                continue
            parts = [p.strip() for p in line.split(" | ", 3)]
            if len(parts) != 4:
                sys.exit("coverage: %s: not FILE | FUNCTION | SOURCE TEXT | REASON: %s" % (path, line))
            reasons.append(parts)
    return reasons


def reason_for(reasons, file, func, text):
    for f, fn, t, why in reasons:
        if f == file and fn in func and (t[1:] == text if t.startswith("=") else t in text):
            return why
    return None


def main():
    if len(sys.argv) != 5:
        sys.exit(__doc__.splitlines()[2])
    ko, results, src, out = sys.argv[1:]
    os.makedirs(out, exist_ok=True)
    sites = sites_of(ko)
    frames = symbolize(ko, sites)
    dumps, exit_slots = records(results)
    hit = hits_of(sites, dumps, exit_slots)
    kinds = classify(sites, frames, src)
    reasons = load_reasons(os.path.join(src, "harness", "coverage-unreached"))

    sources = {}

    def text_of(file, line):
        if file not in sources:
            try:
                with open(os.path.join(src, file), errors="replace") as f:
                    sources[file] = f.read().splitlines()
            except OSError:
                sources[file] = []
        lines = sources[file]
        return lines[line - 1].strip() if 0 < line <= len(lines) else ""

    per_func = collections.defaultdict(lambda: [0, 0])
    per_line = collections.defaultdict(lambda: [0, 0])
    counts = collections.Counter()
    unreached = []
    checks = []
    uncalled = []
    for n, (kind, file) in enumerate(kinds):
        counts[kind, hit[n]] += 1
        if kind in ("check", "uncalled"):
            func, _, line = frames[n][0]
            (checks if kind == "check" else uncalled).append(
                (file, line, short(func), text_of(file, line), hit[n]))
        if kind != "driver":
            continue
        func, _, line = frames[n][0]
        for key, table in (((file, short(func)), per_func), ((file, line), per_line)):
            table[key][0] += hit[n]
            table[key][1] += 1
        if not hit[n]:
            text = text_of(file, line)
            unreached.append((file, line, short(func), text,
                              reason_for(reasons, file, short(func), text)))

    hit_n, total = counts["driver", True], counts["driver", True] + counts["driver", False]
    pct = 100.0 * hit_n / total if total else 0.0
    summary = "driver coverage: %d of %d blocks (%.1f%%)" % (hit_n, total, pct)
    with open(os.path.join(out, "summary"), "w") as f:
        f.write(summary + "\n")
    with open(os.path.join(out, "functions"), "w") as f:
        f.write("# %s\n# hit/blocks  percent  file  function\n" % summary)
        for (file, func), (h, t) in sorted(per_func.items()):
            f.write("%4d/%-4d %5.1f%%  %s  %s\n" % (h, t, 100.0 * h / t, file, func))
    with open(os.path.join(out, "lines"), "w") as f:
        f.write("# %s\n# file:line  hit/blocks  source\n" % summary)
        for (file, line), (h, t) in sorted(per_line.items()):
            mark = "" if h == t else "  <-- %d unreached" % (t - h)
            f.write("%s:%d  %d/%d  %s%s\n" % (file, line, h, t, text_of(file, line), mark))
    without = [u for u in unreached if u[4] is None]
    with open(os.path.join(out, "checks"), "w") as f:
        f.write("# blocks of the driver that only report a failed compiler- or sanitizer-inserted"
                " check (KASAN, UBSAN, lockdep's RCU checks, Rust's overflow checks and debug"
                " assertions), and the edges of KASAN's check that let an access to a partly"
                " addressable granule go on; not counted. A reached report is a report that"
                " fails make check; a reached edge is an access KASAN allowed\n")
        for file, line, func, text, h in sorted(checks):
            f.write("%s:%d  %s  `%s`%s\n" % (file, line, func, text, "  REACHED" if h else ""))
    with open(os.path.join(out, "uncalled"), "w") as f:
        f.write("# blocks of the driver in compiled copies of functions that nothing calls, jumps to"
                " or takes the address of (every caller inlined the function), not counted; one"
                " that ran would mean that this is wrong\n")
        for file, line, func, text, h in sorted(uncalled):
            f.write("%s:%d  %s  `%s`%s\n" % (file, line, func, text, "  RAN" if h else ""))
    with open(os.path.join(out, "unreached"), "w") as f:
        f.write("# %s; %d unreached, %d without a reason\n" % (summary, len(unreached), len(without)))
        for file, line, func, text, why in sorted(unreached):
            f.write("%s:%d  %s  `%s`  -- %s\n" % (file, line, func, text, why or "NO REASON"))

    lib_hit, lib = counts["library", True], counts["library", True] + counts["library", False]
    print("# coverage: the driver's blocks the debug kernel's guest ran (make module COVERAGE=1)")
    print("# %d records read (%s), %d slots logged by unloads" %
          (len(dumps), ", ".join(d["name"] for d in dumps), len(exit_slots)))
    chk_hit, chk = counts["check", True], counts["check", True] + counts["check", False]
    print("# not counted: the driver's blocks that only report a failed inserted check (KASAN, UBSAN,"
          " Rust's overflow checks and debug assertions), %d of %d reached (%s/checks);"
          " kernel crate and core code compiled into the module, %d of %d blocks run;"
          " KUnit tests, %d blocks" % (chk_hit, chk, out, lib_hit, lib,
                                      counts["test", True] + counts["test", False]))
    print("# per function and line: %s/functions, %s/lines, %s/unreached" % (out, out, out))
    unc_hit, unc = counts["uncalled", True], counts["uncalled", True] + counts["uncalled", False]
    print("# not counted: the driver's blocks in copies of functions nothing calls (every caller"
          " inlined them), %d (%s/uncalled)" % (unc, out))
    print("1..3")
    print("%s 1 driver_coverage_at_least_%d_percent (%s)" %
          ("ok" if total > 0 and pct >= TARGET else "not ok", TARGET, summary))
    ok_reasons = total > 0 and not without
    print("%s 2 every_unreached_driver_block_has_a_reason (%d unreached, %d without one)" %
          ("ok" if ok_reasons else "not ok", len(unreached), len(without)))
    for file, line, func, text, _ in sorted(without)[:40]:
        print("#   %s:%d  %s  `%s`" % (file, line, func, text))
    print("%s 3 no_block_counted_as_uncalled_ran (%d of %d ran)" %
          ("ok" if unc_hit == 0 else "not ok", unc_hit, unc))


if __name__ == "__main__":
    main()
