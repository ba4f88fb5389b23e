"""`fashion-edge service`: a systemd unit for a Pi that classifies for weeks without anyone watching.

    $ fashion-edge service -- 0 --serve 8080 --jsonl /home/pi/log.jsonl | sudo tee /etc/systemd/system/fashion-edge.service
    $ sudo systemctl daemon-reload && sudo systemctl enable --now fashion-edge
    $ journalctl -u fashion-edge -f

The unit runs this very interpreter (`sys.executable -m edge_app.cli`), so the venv it was made in
is the one systemd uses. How it relies on `run` (see runner.py): SIGTERM ends a run with its summary
and exit 143, which counts as success; a stream lost for good exits 4 and is restarted; logs are
appended to, never replaced, so a restart loses nothing.
"""

from __future__ import annotations

import getpass
import os
import shlex
import sys
from dataclasses import dataclass


@dataclass(frozen=True)
class ServiceSpec:
    """What goes into the unit."""

    run_args: tuple[str, ...] = ("0",)  # the arguments of `fashion-edge run`
    user: str | None = None  # the account it runs as (None: whoever makes the unit)
    name: str = "fashion-edge"  # SyslogIdentifier: `journalctl -t NAME`
    restart_sec: int = 5  # pause before a restart (a camera re-plugged, Wi-Fi back)
    workdir: str | None = None  # relative paths in run_args resolve here (None: the current folder)


def _systemd_quote(arg: str) -> str:
    """One ExecStart word: shell-style quoting, and `%`/`$` doubled (systemd specifiers, variables)."""
    return shlex.quote(arg).replace("%", "%%").replace("$", "$$")


def _with_append(args: list[str]) -> list[str]:
    """`--append` added when the run writes --jsonl/--csv: a restart must not replace the log."""
    writes_log = any(a in ("--jsonl", "--csv") or a.startswith(("--jsonl=", "--csv=")) for a in args)
    return args + ["--append"] if writes_log and "--append" not in args else args


def unit_text(spec: ServiceSpec) -> str:
    """The unit file's text."""
    args = _with_append(list(spec.run_args) or ["0"])
    if "--quiet" not in args:
        args.append("--quiet")  # a line per frame for weeks would flood the journal; --jsonl keeps the record
    exec_start = " ".join(_systemd_quote(a) for a in (sys.executable, "-m", "edge_app.cli", "run", *args))
    user = spec.user or getpass.getuser()
    workdir = spec.workdir or os.getcwd()
    return f"""[Unit]
Description=Fashion Edge: classify clothing in camera frames ({spec.name})
After=network-online.target
Wants=network-online.target
# Restarted at most 5 times in 5 minutes: a wrong flag or a missing camera must not loop forever.
StartLimitIntervalSec=300
StartLimitBurst=5

[Service]
Type=simple
User={user}
WorkingDirectory={_systemd_quote(workdir)}
ExecStart={exec_start}
# Exit 143 is how `fashion-edge run` answers SIGTERM (systemctl stop): a clean ending.
SuccessExitStatus=143
Restart=on-failure
RestartSec={spec.restart_sec}
KillSignal=SIGTERM
TimeoutStopSec=15
# Lines reach the journal as they happen (journalctl -u {spec.name} -f).
Environment=PYTHONUNBUFFERED=1
StandardOutput=journal
StandardError=journal
SyslogIdentifier={spec.name}
NoNewPrivileges=yes
PrivateTmp=yes

[Install]
WantedBy=multi-user.target
"""
