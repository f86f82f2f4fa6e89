#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Start Waydroid's LXC container with Waydroid's own code, as its container
service does for a session (tools/actions/container_manager.py: do_start(),
stop()), wait for what the program in the container reports, and stop it.

The configuration is what Waydroid wrote before (helpers.lxc.set_lxc_config(),
selftests/android/waydroid_host.py), plus whatever the caller added to
config_nodes (packaging/waydroid-ashmem-entry). Run as root with the module
loaded; the container's root file system (/var/lib/waydroid/rootfs, which
Waydroid would mount from its images) holds an /init that writes RESULTS
(a path inside that root) and then waits to be stopped.

In Waydroid's order, with Waydroid's functions:
- helpers.drivers.probeAshmemDriver() (prepare_drivers_once()): `modprobe -q
  ashmem_linux` when /dev/ashmem is missing;
- data/scripts/waydroid-net.sh start: the waydroid0 bridge (the config's
  lxc.net.0.link), nftables rules and dnsmasq;
- helpers.lxc.start(): `lxc-start -P /var/lib/waydroid/lxc -F -n waydroid --
  /init` in the background, then waits until lxc-info says RUNNING;
- helpers.lxc.stop() (`lxc-stop -k`), until STOPPED; waydroid-net.sh stop.

Waydroid's log lines and lxc-start's output are printed as TAP comments, the
container's report as it is (its own TAP plans) after them. Prints TAP; exits 1 when a
case fails.

usage: waydroid_lxc.py WAYDROID_DIR RESULTS TIMEOUT_SECONDS
"""
import os
import sys
import time

if len(sys.argv) != 4:
    sys.exit(__doc__.strip().splitlines()[-1])
sys.path.insert(0, sys.argv[1])
results_path, timeout = sys.argv[2], float(sys.argv[3])
sys.argv = ["waydroid", "container", "start"]

import tools  # noqa: E402  (Waydroid's package, from WAYDROID_DIR)
import tools.config  # noqa: E402
from tools import helpers  # noqa: E402
import waydroid_session  # noqa: E402  (beside this file)

cases = []


def case(name, ok, *notes):
    cases.append((name, bool(ok)))
    print("%s %d %s" % ("ok" if ok else "not ok", len(cases), name))
    for n in notes:
        print("#   " + n)
    sys.stdout.flush()
    return ok


def main():
    args = waydroid_session.arguments()
    net = tools.config.tools_src + "/data/scripts/waydroid-net.sh"
    rootfs = tools.config.defaults["rootfs"]
    results = os.path.join(rootfs, results_path.lstrip("/"))
    if os.path.exists(results):
        os.unlink(results)

    print("1..5")
    ret = helpers.drivers.probeAshmemDriver(args)
    case("waydroid_probe_finds_or_loads_the_module", ret == 0 and os.path.exists("/dev/ashmem"),
         "probeAshmemDriver() returned %r" % ret)
    ret = helpers.run.user(args, [net, "start"], check=False)
    case("waydroid_net_starts_the_bridge_of_lxc_net_0_link",
         ret == 0 and os.path.isdir("/sys/class/net/waydroid0"),
         "waydroid-net.sh start: exit status %r" % ret)

    lxc = tools.config.defaults["lxc"]
    print("# containers: lxc-start -P %s -F -n waydroid -- /init (Waydroid's helpers.lxc.start())" % lxc,
          flush=True)
    t0 = time.monotonic()
    try:
        helpers.lxc.start(args)
        started, why = True, "lxc-info: %s" % helpers.lxc.status(args)
    except OSError as e:
        started, why = False, str(e)
    case("lxc_start_runs_waydroids_container", started, why)

    while started and not os.path.exists(results) and time.monotonic() < t0 + timeout:
        time.sleep(0.5)
    reported = os.path.exists(results)
    case("the_program_in_the_container_reported", reported,
         "%s %.0f s after lxc-start" % (results if reported else "no " + results, time.monotonic() - t0))

    state = helpers.lxc.status(args)
    if state != "STOPPED":
        helpers.lxc.stop(args)
        for _ in range(60):
            state = helpers.lxc.status(args)
            if state == "STOPPED":
                break
            time.sleep(0.5)
    helpers.run.user(args, [net, "stop"], check=False)
    print("# containers: Waydroid's container stopped", flush=True)
    case("lxc_stop_stops_it", state == "STOPPED", "lxc-info: %s" % state)
    # The container's own TAP, after this plan's cases.
    inside_ok = False
    if reported:
        with open(results) as f:
            text = f.read()
        sys.stdout.write(text)
        sys.stdout.flush()
        inside_ok = "\nnot ok " not in "\n" + text
    return 0 if inside_ok and all(ok for _, ok in cases) else 1


if __name__ == "__main__":
    sys.exit(main())
