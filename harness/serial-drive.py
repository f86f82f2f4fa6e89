#!/usr/bin/env python3
"""Type at a serial console as a person would, answering what it shows.

usage: serial-drive.py LOG STEPS -- COMMAND [ARG...]

Runs COMMAND (a QEMU whose console is `-serial stdio`) with its stdin and
stdout on pipes and copies everything it prints to LOG. STEPS is a file of
lines "TEXT<TAB>KEYS": for each line in order, wait until TEXT has appeared
on the console since the previous step (compared with ANSI escape sequences
and box-drawing characters removed, spaces squeezed), wait STEP_PAUSE
seconds (the firmware polls its keyboard), then type KEYS, where \\e, \\r,
\\n and \\t stand for ESC, CR, LF and TAB. Lines starting with # are
comments.

Exit status: COMMAND's once every step was taken and COMMAND ended; 124
when a step's TEXT did not appear within STEP_TIMEOUT seconds (default 300)
or COMMAND did not end within that time after the last step (COMMAND is
killed; the last screen is printed to stderr).
"""
import os
import re
import select
import subprocess
import sys
import time

ESCAPES = {"\\e": "\x1b", "\\r": "\r", "\\n": "\n", "\\t": "\t", "\\\\": "\\"}
SCREEN_NOISE = re.compile(r"\x1b\[[0-9;=?]*[A-Za-z]|[\u2500-\u257f]")


def usage():
    sys.stderr.write("usage: serial-drive.py LOG STEPS -- COMMAND [ARG...]  "
                     "(env STEP_TIMEOUT=S, STEP_PAUSE=S)\n")
    sys.exit(2)


def keys_of(text):
    return re.sub(r"\\[ernt\\]", lambda m: ESCAPES[m.group(0)], text)


def screen(raw):
    text = SCREEN_NOISE.sub(" ", raw.decode("utf-8", "replace"))
    return re.sub(r"\s+", " ", text)


def main():
    if len(sys.argv) < 5 or sys.argv[3] != "--":
        usage()
    log_path, steps_path, command = sys.argv[1], sys.argv[2], sys.argv[4:]
    timeout = float(os.environ.get("STEP_TIMEOUT", "300"))
    pause = float(os.environ.get("STEP_PAUSE", "1"))
    steps = []
    with open(steps_path, encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line or line.startswith("#"):
                continue
            text, _, keys = line.partition("\t")
            steps.append((re.sub(r"\s+", " ", text), keys_of(keys)))

    proc = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    out = proc.stdout.fileno()
    seen = b""  # console output since the last step
    with open(log_path, "wb") as log:
        def read_for(seconds):
            """Copy output to the log for up to SECONDS; False at EOF."""
            nonlocal seen
            end = time.monotonic() + seconds
            while True:
                left = end - time.monotonic()
                if left <= 0:
                    return True
                ready, _, _ = select.select([out], [], [], left)
                if not ready:
                    return True
                data = os.read(out, 65536)
                if not data:
                    return False
                log.write(data)
                log.flush()
                seen += data

        def give_up(why):
            proc.kill()
            proc.wait()
            tail = screen(seen[-4000:])[-1500:]
            sys.stderr.write(f"serial-drive: {why}; last screen: {tail}\n")
            sys.exit(124)

        for n, (text, keys) in enumerate(steps, 1):
            deadline = time.monotonic() + timeout
            while text not in screen(seen):
                if time.monotonic() > deadline:
                    give_up(f"step {n}: '{text}' did not appear within {timeout:.0f} s")
                if not read_for(0.5):
                    give_up(f"step {n}: the console ended before '{text}' appeared")
            read_for(pause)
            sys.stderr.write(f"serial-drive: step {n}: saw '{text}', typing {keys!r}\n")
            seen = b""
            proc.stdin.write(keys.encode())
            proc.stdin.flush()
        deadline = time.monotonic() + timeout
        while read_for(1):
            if time.monotonic() > deadline:
                give_up(f"the command did not end within {timeout:.0f} s after the last step")
    sys.exit(proc.wait())


if __name__ == "__main__":
    main()
