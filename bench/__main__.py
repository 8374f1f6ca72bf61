"""make bench: run every bench/bench_*.py main(), in name order."""

import importlib
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "k2k" / "python")]

for path in sorted(Path(__file__).parent.glob("bench_*.py")):
    if len(sys.argv) > 1 and not any(word in path.stem for word in sys.argv[1:]):
        continue
    print(f"\n=== {path.stem} ===", flush=True)
    importlib.import_module(f"bench.{path.stem}").main()
