"""`make run`: the whole application on this machine, until Ctrl-C.

    python -m infra.localcloud [--port 3000] [--moto-port 4566] [--host 127.0.0.1] [--template template.yaml]

Ports also come from K2K_LOCAL_API_PORT and K2K_LOCAL_MOTO_PORT. moto runs as
a server so the AWS CLI can reach it too (`aws --endpoint-url ...`). The demo
(infra/localcloud/demo.py) is seeded unless --no-demo; the banner ends with the
shell exports that README.md's walks use. The local-only helpers (emails,
events, clock, reset) are in infra/localcloud/devtools.py.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import sys
import threading
from pathlib import Path

from infra.localcloud import devtools
from infra.localcloud.runtime import LocalCloud

REPO = Path(__file__).resolve().parents[2]
PORTS = (("--port", "K2K_LOCAL_API_PORT", "3000", "the API"),
         ("--moto-port", "K2K_LOCAL_MOTO_PORT", "4566", "the AWS emulator"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localcloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(REPO / "template.yaml"))
    parser.add_argument("--host", default=os.environ.get("K2K_LOCAL_HOST", "127.0.0.1"))
    for flag, variable, default, _ in PORTS:
        parser.add_argument(flag, type=int, default=int(os.environ.get(variable, default)),
                            help=f"default {default}, or ${variable}")
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between polling rounds")
    parser.add_argument("--no-demo", action="store_true", help="do not seed the demo companies")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    taken = _taken_port(args)
    if taken:
        print(taken, file=sys.stderr)
        return 1
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    cloud = LocalCloud(args.template, mode="server", port=args.port, moto_port=args.moto_port, host=args.host)
    cloud.start()
    tools = None
    try:
        tools = devtools.install(cloud)
        for function, error in cloud.load_functions().items():
            print(f"! {function} does not load: {error!r}", file=sys.stderr)
        if not args.no_demo:
            tools.seed()
        _banner(cloud, tools.exports())
        cloud.start_background(args.interval)
        _wait_for_ctrl_c()
    finally:
        print("\nstopping the local cloud")
        if tools is not None:
            tools.close()
        cloud.stop()
    return 0


def _taken_port(args: argparse.Namespace) -> str | None:
    """Which port is in use, and the variable that moves it; None when both are free."""
    for flag, variable, _, what in PORTS:
        port = getattr(args, flag.lstrip("-").replace("-", "_"))
        if port and _in_use(args.host, port):
            return (f"port {port} ({what}) is in use on {args.host}: stop what holds it, or choose another port, "
                    f"e.g. {variable}={port + 100} make run")
    return None


def _in_use(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the servers bind
        try:
            probe.bind((host, port))
        except OSError:
            return True
    return False


def _banner(cloud: LocalCloud, exports: dict[str, str]) -> None:
    drop = next(iter(cloud.resources.buckets.values()), "<bucket>")
    lines = [
        "",
        "K2K local cloud is up (Ctrl-C to stop)",
        f"  API            {cloud.base_url}    Swagger UI: {cloud.base_url}/docs",
        f"  local helpers  {cloud.base_url}/_local/emails, /_local/events, /_local/clock, /_local/reset",
        f"  AWS emulator   {cloud.moto_endpoint}   (moto; any access key works)",
        f"    aws --endpoint-url {cloud.moto_endpoint} s3 cp book.xlsx s3://{drop}/imports/<company>/<type>/book.xlsx",
        f"  other tokens   {_python()} -m infra.localcloud.token --company bloom --roles Salesperson",
        "",
        "Paste into your shell for README.md's walks (another shell: eval \"$(curl -s "
        f"{cloud.base_url}/_local/exports)\"):",
        "",
        *(f"export {key}={value}" for key, value in exports.items()),
        "",
    ]
    print("\n".join(lines), flush=True)


def _python() -> str:
    """This interpreter as a command that works from the repository's root."""
    executable = Path(sys.executable)
    return str(executable.relative_to(Path.cwd())) if executable.is_relative_to(Path.cwd()) else str(executable)


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    # A shell without job control starts background commands with SIGINT ignored, and Python keeps an
    # ignored SIGINT: `make run &` (or the soak bench run that way) would then never stop on Ctrl-C.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
