"""`make run`: the whole application on this machine, until Ctrl-C.

    python -m infra.localcloud [--port 3000] [--moto-port 4566] [--host 127.0.0.1] [--template template.yaml]

Ports also come from K2K_LOCAL_API_PORT and K2K_LOCAL_MOTO_PORT. moto runs as
a server so the AWS CLI can reach it too (`aws --endpoint-url ...`). If
infra/localcloud/demo.py exists, its `seed(cloud) -> dict` runs first and
what it returns (tokens, ids) is printed.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import Any

from infra.localcloud import tokens
from infra.localcloud.runtime import LocalCloud

REPO = Path(__file__).resolve().parents[2]
DEMO_MODULE = "infra.localcloud.demo"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m infra.localcloud", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--template", default=str(REPO / "template.yaml"))
    parser.add_argument("--host", default=os.environ.get("K2K_LOCAL_HOST", "127.0.0.1"))
    parser.add_argument("--port", type=int, default=int(os.environ.get("K2K_LOCAL_API_PORT", "3000")))
    parser.add_argument("--moto-port", type=int, default=int(os.environ.get("K2K_LOCAL_MOTO_PORT", "4566")))
    parser.add_argument("--interval", type=float, default=0.2, help="seconds between polling rounds")
    parser.add_argument("--no-demo", action="store_true", help="do not run infra/localcloud/demo.py")
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    for noisy in ("botocore", "boto3", "urllib3", "werkzeug"):
        logging.getLogger(noisy).setLevel(logging.WARNING)

    cloud = LocalCloud(args.template, mode="server", port=args.port, moto_port=args.moto_port, host=args.host)
    cloud.start()
    try:
        for function, error in cloud.load_functions().items():
            print(f"! {function} does not load: {error!r}", file=sys.stderr)
        seeded = {} if args.no_demo else _seed(cloud)
        _banner(cloud, seeded)
        cloud.start_background(args.interval)
        _wait_for_ctrl_c()
    finally:
        print("\nstopping the local cloud")
        cloud.stop()
    return 0


def _seed(cloud: LocalCloud) -> dict[str, Any]:
    try:
        demo = importlib.import_module(DEMO_MODULE)
    except ModuleNotFoundError as e:
        if e.name == DEMO_MODULE:
            return {}
        raise
    seeded = demo.seed(cloud)
    cloud.drain()  # let the seed's events settle before anyone looks
    return dict(seeded or {})


def _banner(cloud: LocalCloud, seeded: dict[str, Any]) -> None:
    drop = next(iter(cloud.resources.buckets.values()), "<bucket>")
    lines = [
        "",
        "K2K local cloud is up",
        f"  API            {cloud.base_url}",
        f"  API docs       {cloud.base_url}/docs",
        f"  AWS emulator   {cloud.moto_endpoint}   (moto; any access key works)",
        f"    aws --endpoint-url {cloud.moto_endpoint} s3 cp book.xlsx s3://{drop}/imports/<company>/<type>/book.xlsx",
        "  tokens         python -m infra.localcloud.token --company <id> --roles Admin",
        f"  operator       {tokens.mint(None, [tokens.OPERATOR], user='operator@k2k.example')}",
    ]
    for key, value in seeded.items():
        if isinstance(value, dict):
            lines.append(f"  {key}")
            lines += [f"    {name:<36} {item}" for name, item in value.items()]
        else:
            lines.append(f"  {key:<14} {value}")
    lines += ["", "Ctrl-C to stop.", ""]
    print("\n".join(lines), flush=True)


def _wait_for_ctrl_c() -> None:
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    try:
        while not stop.wait(1.0):
            pass
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
