#!/usr/bin/python3
# SPDX-License-Identifier: GPL-2.0
"""Run Waydroid's host-side ashmem logic, as Debian ships it, against the module.

The guest job calls this as root with /dev/ashmem absent and the module not
loaded. It imports Waydroid's own `tools` package (its __init__ pulls in every
action and helper, D-Bus and GLib) and calls, in the order `waydroid init`
does, the shipped functions:

- helpers.drivers.probeAshmemDriver(): runs `modprobe -q ashmem_linux` when
  /dev/ashmem is missing, and must find the node afterwards;
- helpers.lxc.set_lxc_config(): writes the LXC configuration, whose node part
  (generate_nodes_lxc_config()) must bind our /dev/ashmem;
- helpers.lxc.make_base_props(): Android's properties; with /dev/ashmem
  present it must not set sys.use_memfd=true (so Android uses ashmem).

What setup_config() would have stored (it needs binder nodes and images,
which this guest has not) is written with Waydroid's own config functions:
a MAINLINE vendor with preinstalled images. Waydroid's log lines are
printed as TAP comments. Prints TAP; exits 1 when a case fails.

usage: waydroid_host.py WAYDROID_DIR   (e.g. /usr/lib/waydroid)
"""
import os
import re
import stat
import sys

if len(sys.argv) != 2:
    sys.exit(__doc__.strip().splitlines()[-1])
sys.path.insert(0, sys.argv[1])
# Waydroid's argument parser reads sys.argv: what the container service runs.
sys.argv = ["waydroid", "container", "start"]

import tools  # noqa: E402  (Waydroid's package, from WAYDROID_DIR)
import tools.config  # noqa: E402
from tools import helpers  # noqa: E402
import waydroid_session  # noqa: E402  (beside this file)

results = []


def case(name, ok, *notes):
    results.append((name, bool(ok), notes))


def module_loaded():
    with open("/proc/modules") as f:
        return any(line.split()[0] == "ashmem_linux" for line in f)


def char_device(path):
    try:
        st = os.stat(path)
    except OSError as e:
        return None, str(e)
    if not stat.S_ISCHR(st.st_mode):
        return None, "%s is not a character device" % path
    return st.st_rdev, "%s is char %d:%d" % (path, os.major(st.st_rdev), os.minor(st.st_rdev))


def main():
    args = waydroid_session.arguments()

    # What `waydroid init` stores for a MAINLINE host with preinstalled images.
    cfg = tools.config.load(args)
    cfg["waydroid"]["arch"] = helpers.arch.host()
    cfg["waydroid"]["vendor_type"] = "MAINLINE"
    cfg["waydroid"]["binder"] = "binder"
    cfg["waydroid"]["vndbinder"] = "vndbinder"
    cfg["waydroid"]["hwbinder"] = "hwbinder"
    cfg["waydroid"]["images_path"] = tools.config.defaults["preinstalled_images_paths"][0]
    tools.config.save(args, cfg)
    args.vendor_type = "MAINLINE"
    args.images_path = cfg["waydroid"]["images_path"]
    helpers.drivers.loadBinderNodes(args)

    # The driver probe.
    before = os.path.exists("/dev/ashmem") or module_loaded()
    case("before_the_probe_no_dev_ashmem_and_no_module", not before)
    ret = helpers.drivers.probeAshmemDriver(args)
    rdev, note = char_device("/dev/ashmem")
    loaded = module_loaded()
    case("waydroid_probe_returns_0", ret == 0, "probeAshmemDriver() returned %r" % ret)
    case("waydroid_probe_loaded_ashmem_linux", loaded and rdev is not None, note)
    if loaded and rdev is not None:
        print("# android: Waydroid's probeAshmemDriver() ran `modprobe -q ashmem_linux` "
              "and loaded the module: %s" % note, flush=True)

    # The LXC configuration, through lxc-info's version as Waydroid reads it.
    helpers.lxc.set_lxc_config(args)
    nodes_path = tools.config.defaults["lxc"] + "/waydroid/config_nodes"
    with open(nodes_path) as f:
        nodes = [line.rstrip("\n") for line in f]
    ashmem_entries = [n for n in nodes if "ashmem" in n]
    for n in ashmem_entries:
        print("#   config_nodes: " + n)
    case("waydroid_lxc_config_binds_dev_ashmem",
         "lxc.mount.entry = /dev/ashmem dev/ashmem none bind,create=file,optional 0 0" in nodes,
         nodes_path)
    boot_id = open("/proc/sys/kernel/random/boot_id").read().strip()
    suffixed = [n for n in nodes if re.search(r"dev/ashmem[0-9a-f]{8}-", n)]
    # What Waydroid does with the suffixed name: nothing. Recorded, so that a
    # Waydroid release that starts binding it shows up here.
    case("waydroid_binds_no_suffixed_name", not suffixed,
         "Waydroid %s's node configuration has %d entries naming /dev/ashmem%s"
         % (tools.config.version, len(suffixed), boot_id))

    # Android's properties: with our /dev/ashmem, Android is told to use it.
    helpers.lxc.make_base_props(args)
    with open(args.work + "/waydroid_base.prop") as f:
        props = [line.strip() for line in f]
    memfd = [p for p in props if "memfd" in p]
    case("waydroid_leaves_sys_use_memfd_unset_with_the_module", "sys.use_memfd=true" not in props,
         "waydroid_base.prop: %s" % (", ".join(memfd) or "no memfd property, Android uses ashmem"))

    print("1..%d" % len(results))
    for i, (name, ok, notes) in enumerate(results, 1):
        print("%s %d %s" % ("ok" if ok else "not ok", i, name))
        for n in notes:
            print("#   " + n)
    return 0 if all(ok for _, ok, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
