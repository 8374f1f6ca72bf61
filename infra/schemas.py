"""Event schemas as code: JSON schemas generated from the pydantic event models.

    python -m infra.schemas          write infra/schemas/<DetailType>.json
    python -m infra.schemas --check  exit 1 if the committed schemas drifted

External systems taking part as EventBridge partners follow these files.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCHEMAS = ROOT / "infra" / "schemas"
sys.path.insert(0, str(ROOT / "layers" / "k2k" / "python"))

from k2k.event_catalogue import all_events  # noqa: E402
from k2k.events import detail_schema  # noqa: E402


def render() -> dict[str, str]:
    return {f"{name}.json": json.dumps(detail_schema(spec), indent=2, sort_keys=True) + "\n"
            for name, spec in all_events().items()}


def main(argv: list[str]) -> int:
    wanted = render()
    if "--check" in argv:
        have = {p.name: p.read_text() for p in SCHEMAS.glob("*.json")}
        drift = sorted(n for n in wanted.keys() | have.keys() if wanted.get(n) != have.get(n))
        if drift:
            print("event schemas drifted from the models: " + ", ".join(drift) + " (run make schemas)")
            return 1
        return 0
    SCHEMAS.mkdir(exist_ok=True)
    for old in SCHEMAS.glob("*.json"):
        if old.name not in wanted:
            old.unlink()
    for name, text in wanted.items():
        (SCHEMAS / name).write_text(text)
    print(f"wrote {len(wanted)} schemas to {SCHEMAS.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
