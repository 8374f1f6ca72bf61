"""README.md as a newcomer follows it: `make run`, paste the banner's exports, run the walks top to bottom.

One `python -m infra.localcloud` (what `make run` runs) on free ports. Every
```sh block of README's walks runs in bash, as written, with the banner's
exports in the environment; curl is wrapped only to fail the walk on an answer
that is not 2xx. A reader's step `export NAME=<the KEY in the answer>` takes
KEY from the answer just before it, as the reader would.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from infra.localcloud.client import ApiClient

pytestmark = [pytest.mark.e2e,
              pytest.mark.skipif(shutil.which("curl") is None, reason="README's walks are curl commands")]

ROOT = Path(__file__).resolve().parents[2]
README = ROOT / "README.md"
WALKS = ("## A first walk with curl", "## The local cloud")  # the walks are the sh blocks between these
START_OVER = "### Start over"
PLACEHOLDER = re.compile(r"^export (\w+)=<the (\w+) in the answer>\s*$", re.MULTILINE)
# A hang guard, never a performance claim: a loaded machine waits longer, a stuck server still ends the test.
PATIENCE_SECONDS = 300

# curl as written, but an answer that is not 2xx stops the walk; the last answer is kept for placeholders.
PREAMBLE = r"""
set -euo pipefail
curl() {
  command curl -w '\n%{http_code}' "$@" > "$WALK/raw"
  local status; status=$(tail -n 1 "$WALK/raw"); sed '$d' "$WALK/raw" > "$WALK/answer"
  cat "$WALK/answer"; echo
  case "$status" in 2*) ;; *) echo "the walk got HTTP $status from: curl $*" >&2; return 1;; esac
}
from_answer() { "$PYTHON" -c "$FIND" "$WALK/answer" "$1"; }
"""
# The first value of a key, depth first, in a JSON answer (an object or a list of them).
FIND = """
import json, sys
def find(value, key):
    if isinstance(value, dict):
        if key in value:
            return value[key]
        value = list(value.values())
    for item in value if isinstance(value, list) else []:
        found = find(item, key)
        if found is not None:
            return found
    return None
answer, key = sys.argv[1:3]
found = find(json.load(open(answer)), key)
sys.exit(f"no {key} in the answer") if found is None else print(found)
"""


@dataclass
class Server:
    process: subprocess.Popen[str]
    stdout: list[str] = field(default_factory=list)
    exports: dict[str, str] = field(default_factory=dict)
    banner: list[str] = field(default_factory=list)

    def client(self, token_of: str | None = None) -> ApiClient:
        return ApiClient(self.exports["API"], self.exports[token_of] if token_of else None)


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    api_port, moto_port = _free_port(), _free_port()
    logs = (tmp_path_factory.mktemp("make-run") / "stderr.log").open("w")
    process = subprocess.Popen(
        [sys.executable, "-m", "infra.localcloud"], cwd=ROOT, text=True, stdout=subprocess.PIPE, stderr=logs,
        env={**os.environ, "K2K_LOCAL_API_PORT": str(api_port), "K2K_LOCAL_MOTO_PORT": str(moto_port)})
    server = Server(process)
    up = threading.Event()

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            server.stdout.append(line.rstrip("\n"))
            if line.startswith("export LINE="):
                up.set()
        up.set()  # it ended: no need to wait any longer to say so

    threading.Thread(target=read, daemon=True).start()
    try:
        up.wait(PATIENCE_SECONDS)
        assert any(line.startswith("export LINE=") for line in server.stdout), \
            f"no banner (exit code {process.poll()}); stdout ends: {server.stdout[-5:]}; see {logs.name}"
        first = next(i for i, line in enumerate(server.stdout) if line.startswith("K2K local cloud is up"))
        last = next(i for i, line in enumerate(server.stdout) if line.startswith("export LINE="))
        server.banner = server.stdout[first:last + 1]
        server.exports = dict(line.removeprefix("export ").split("=", 1) for line in server.banner
                              if line.startswith("export "))
        yield server
    finally:
        process.terminate()
        process.wait(timeout=60)
        logs.close()


def test_the_banner_comes_once_after_the_logs_and_ends_with_exports_to_paste(server: Server) -> None:
    assert set(server.exports) == {"API", "VENDOR", "BUYER", "SHOP", "LINE"}
    assert [line for line in server.stdout if line.startswith("K2K local cloud is up")] == server.banner[:1]
    # In one piece, after the seed's logs (JSON lines): the exports are the last thing printed at start.
    assert any(line.startswith("{") for line in server.stdout[:server.stdout.index(server.banner[0])])
    assert not any(line.startswith("{") for line in server.banner)
    vendor = server.client("VENDOR").get(f"/inventory/{server.exports['LINE']}")
    assert (vendor.status, vendor.json()["line"]["box_code"]) == (200, "FR50HB")
    assert server.client("SHOP").get("/company").status == 200


def test_the_token_command_the_banner_prints_works_as_printed(server: Server) -> None:
    [line] = [line for line in server.banner if "-m infra.localcloud.token" in line]
    command = line[line.index(".venv/bin/python") if ".venv/bin/python" in line else line.index(sys.executable):]
    minted = subprocess.run(command, shell=True, cwd=ROOT, capture_output=True, text=True, check=True)
    company = ApiClient(server.exports["API"], minted.stdout.strip()).get("/company")
    assert (company.status, company.json()["company_id"]) == (200, "bloom")


def test_the_readme_walks_run_top_to_bottom_without_an_error(server: Server, tmp_path: Path) -> None:
    walks, start_over = _walk_blocks()
    assert "export CART=<the cart_id in the answer>" in walks  # the walk is still the one this test knows

    walked = _run(server, walks, tmp_path, keep=("CART", "ORDER"))

    vendor, buyer, shop, local = (server.client(who) for who in ("VENDOR", "BUYER", "SHOP", None))
    order = vendor.get(f"/orders/{walked['ORDER']}").json()
    assert order["status"] == "CONFIRMED" and order["awb"]
    assert order["lines"][0]["boxes"] == 2 and "customer_code" not in order["lines"][0]  # the buyer's business
    po = buyer.get(f"/purchase-orders/{order['po_id']}").json()["purchase_order"]
    assert po["lines"][0]["customer_code"] == "FLORA"
    # The timer's cart: expired when the clock moved, its box back in the vendor's stock.
    assert shop.get(f"/carts/{walked['CART']}").json()["status"] == "EXPIRED"
    line = vendor.get(f"/inventory/{server.exports['LINE']}").json()["line"]
    assert (line["on_hold"], line["price"], line["boxes_held"]) == (False, "0.40", 0)
    # What the helpers showed along the way.
    emails = _eventually(lambda: local.get("/_local/emails", params={"to": "orders@flora.example"}).json()["emails"])
    assert emails[0]["to"] == ["orders@flora.example"]
    kinds = {e["detail_type"] for e in local.get("/_local/events", params={"limit": 100}).json()["events"]}
    assert {"InventoryLineChanged", "PurchaseOrderPlaced", "CartExpired"} <= kinds
    assert buyer.get("/staging").status == 200
    # Flora's statement: the hand invoice for the two received boxes, and a balance that is its sum.
    statement = shop.get("/customers/FLORA/statement").json()
    assert [(e["entry_type"], e["amount"]) for e in statement["entries"]] == [("HAND_INVOICE", "260.00")]
    assert statement["balance"] == statement["entries"][-1]["balance_after"] == "260.00"

    again = _run(server, start_over, tmp_path, keep=("LINE", "VENDOR"))

    assert again["LINE"] != server.exports["LINE"]
    fresh = ApiClient(server.exports["API"], again["VENDOR"])
    assert fresh.items("/orders") == []
    line = fresh.get(f"/inventory/{again['LINE']}").json()["line"]
    assert (line["box_code"], line["boxes_on_hand"], line["price"]) == ("FR50HB", 12, "0.35")
    assert local.get("/_local/emails").json()["emails"] == []


def test_swagger_ui_needs_nothing_from_the_internet(server: Server) -> None:
    page = server.client().get("/docs")
    assert page.status == 200 and "SwaggerUIBundle" in page.text
    assert re.findall(r"https?://", page.text.replace(server.exports["API"], "")) == []
    for asset in re.findall(r'(?:src|href)="([^"]+)"', page.text):
        assert asset.startswith("/docs/"), asset
        assert server.client().get(asset).status == 200


def test_a_port_in_use_says_which_variable_to_set() -> None:
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        taken = holder.getsockname()[1]
        for variable in ("K2K_LOCAL_API_PORT", "K2K_LOCAL_MOTO_PORT"):
            other = "K2K_LOCAL_MOTO_PORT" if variable == "K2K_LOCAL_API_PORT" else "K2K_LOCAL_API_PORT"
            run = subprocess.run([sys.executable, "-m", "infra.localcloud"], cwd=ROOT, capture_output=True,
                                 text=True, timeout=PATIENCE_SECONDS,
                                 env={**os.environ, variable: str(taken), other: str(_free_port())})
            assert run.returncode == 1
            assert f"port {taken}" in run.stderr and f"{variable}=" in run.stderr
            assert "Traceback" not in run.stderr and run.stdout == ""


def _walk_blocks() -> tuple[str, str]:
    """README's sh blocks of the walks, and those of 'Start over', in order."""
    text = README.read_text()
    walks = text[text.index(WALKS[0]):text.index(WALKS[1])]
    before, _, after = walks.partition(START_OVER)

    def blocks(part: str) -> str:
        return "\n".join(re.findall(r"```sh\n(.*?)```", part, re.DOTALL))

    return blocks(before), blocks(after)


def _run(server: Server, script: str, workdir: Path, keep: tuple[str, ...]) -> dict[str, str]:
    """Run README's commands in bash with the banner's exports; the variables named in keep, at the end."""
    pasted = re.compile(rf"^export ({'|'.join(server.exports)})=.*$", re.MULTILINE)
    script = pasted.sub(r"# (\1 comes from the banner)", script)  # the reader pastes the banner's instead
    # An assignment of its own, so a value missing from the answer stops the walk (set -e), as it stops a reader.
    script = PLACEHOLDER.sub(r'\1="$(from_answer \2)"; export \1', script)
    ending = "".join(f'echo "{name}=${name}" >> "$WALK/kept"\n' for name in keep)
    run = subprocess.run(["bash", "-c", PREAMBLE + script + "\n" + ending], cwd=ROOT, capture_output=True,
                         text=True, timeout=PATIENCE_SECONDS,
                         env={**os.environ, **server.exports, "WALK": str(workdir), "PYTHON": sys.executable,
                              "FIND": FIND})
    assert run.returncode == 0, f"{run.stderr}\n--- the walk's answers, last first:\n" + \
        "\n".join(reversed(run.stdout.splitlines()[-12:]))
    kept = (workdir / "kept").read_text().splitlines()
    (workdir / "kept").unlink()
    return dict(line.split("=", 1) for line in kept)


def _eventually(get: Callable[[], Any]) -> Any:
    """What get() returns once it is not empty: the outcome, however long the machine takes to get there."""
    deadline = time.monotonic() + PATIENCE_SECONDS
    while not (found := get()) and time.monotonic() < deadline:
        time.sleep(0.2)
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
