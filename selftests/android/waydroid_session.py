# SPDX-License-Identifier: GPL-2.0
"""What waydroid_host.py and waydroid_lxc.py both set up before they call
Waydroid's own code: Waydroid's parsed arguments (from sys.argv, which the
caller sets to the command it stands for) with its work directory, and
Waydroid's log lines, its VERBOSE level included, printed as TAP comments.

Import it once WAYDROID_DIR (Waydroid's `tools` package) is on sys.path.
"""
import logging
import os
import sys

import tools
from tools import helpers


def arguments():
    args = helpers.arguments()
    tools.prep_args(args)
    os.makedirs(args.work, exist_ok=True)
    helpers.logging.add_verbose_log_level()
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(logging.Formatter("#   waydroid: %(message)s"))
    logging.getLogger().handlers = [handler]
    logging.getLogger().setLevel(logging.DEBUG)
    return args
