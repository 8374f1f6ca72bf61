"""Build template.yaml's functions and layers the way `sam build` lays them out in Lambda.

    python -m infra.build [--lambda-platform] [--python PATH] [--out DIR]

The packaging check (tests/packaging) and the cold-start bench import every handler from
this layout in a clean interpreter, so the dev venv can never hide a missing dependency or
a wrong layer path. What goes in a layer is defined once, by the make target `sam build`
runs for it (layers/<name>/Makefile, BuildMethod makefile); this module runs the same
target with ARTIFACTS_DIR pointing here:

    <out>/<FunctionId>/             the function's CodeUri: its task root (/var/task)
    <out>/<LayerId>/python/         the layer as Lambda mounts it (/opt/python)
    <out>/runtime/                  boto3 and botocore, standing for the Lambda runtime's

By default the layers' packages are resolved for `python` (this machine's platform and
version), so that interpreter can import their compiled parts (pydantic_core); with
`lambda_platform` they are resolved for Lambda itself (arm64, CPython 3.12, wheels only),
which proves every dependency has a wheel there, and `sam build` is used when it and a
python3.12 are on PATH. A layer is rebuilt only when its folder, the interpreter or the
platform changed (pip's cache serves the rest); builds are serialized by a file lock.
"""

from __future__ import annotations

import argparse
import fcntl
import hashlib
import os
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from infra.localcloud.template import Template, load

ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = ROOT / "template.yaml"
DEFAULT_OUT = ROOT / ".aws-sam" / "k2k-check"
RUNTIME_PACKAGES = ("boto3", "botocore")  # what the Lambda runtime provides (pinned in requirements-dev.txt)
LAYER_TYPE = "AWS::Serverless::LayerVersion"
STAMP = ".k2k-build"


class BuildError(RuntimeError):
    """The application does not build; the message says which part and why."""


@dataclass(frozen=True)
class Build:
    root: Path
    python: str  # the interpreter the layout was built for
    task_roots: dict[str, Path]  # function logical id -> task root
    layers: dict[str, Path]  # layer logical id -> its python/ folder
    function_layers: dict[str, tuple[str, ...]]  # function logical id -> its layers, in order
    runtime: Path

    def sys_path(self, function: str) -> list[Path]:
        """What Lambda's Python searches for this function: task root, the layers' python/, the runtime."""
        return [self.task_roots[function], *(self.layers[lid] for lid in self.function_layers[function]),
                self.runtime]


def layer_ids(tpl: Template, function: str) -> tuple[str, ...]:
    """The function's layers as SAM attaches them: the Globals' first, then its own."""
    refs = [*(tpl.globals_function.get("Layers") or []), *(tpl.raw_properties(function).get("Layers") or [])]
    ids = [ref.get("Ref") for ref in refs if isinstance(ref, dict)]
    return tuple(lid for lid in ids if lid in tpl.resources and tpl.type_of(lid) == LAYER_TYPE)


def build(out: Path = DEFAULT_OUT, *, python: str = sys.executable, lambda_platform: bool = False,
          template: Path = TEMPLATE) -> Build:
    """The application in out/, built for `python` (or for Lambda's platform)."""
    tpl = load(template)
    out = out / ("lambda" if lambda_platform else "host-" + _python_tag(python))
    out.mkdir(parents=True, exist_ok=True)
    with _locked(out / ".lock"):
        if lambda_platform and _sam_available():
            _sam_build(tpl, out)
        else:
            for lid in tpl.of_type(LAYER_TYPE):
                _layer(tpl, lid, out / lid, python, lambda_platform)
            for lid, fn in tpl.functions.items():
                _copy_code(fn.code_uri, out / lid)
        runtime = out / "runtime"
        if not lambda_platform:
            _runtime(runtime, python)
    layers = {lid: out / lid / "python" for lid in tpl.of_type(LAYER_TYPE)}
    return Build(root=out, python=python, task_roots={lid: out / lid for lid in tpl.functions},
                 layers=layers, function_layers={lid: layer_ids(tpl, lid) for lid in tpl.functions},
                 runtime=runtime)


def _layer(tpl: Template, lid: str, dest: Path, python: str, lambda_platform: bool) -> None:
    metadata = tpl.resources[lid].get("Metadata") or {}
    if metadata.get("BuildMethod") != "makefile":
        raise BuildError(f"{lid}: BuildMethod {metadata.get('BuildMethod')!r}; layers are built by a Makefile")
    content = tpl.properties(lid).get("ContentUri")
    source = (tpl.root / str(content)).resolve()
    if not (source / "Makefile").is_file():
        raise BuildError(f"{lid}: no Makefile in its ContentUri {content!r}")
    overrides = [] if lambda_platform else ["PIP_PLATFORM=", f"COMPILE_PYTHON={python}"]
    key = _digest(source, python, *overrides)
    if _stamp(dest) == key:
        return
    shutil.rmtree(dest, ignore_errors=True)
    dest.mkdir(parents=True)
    # Like sam build: in a copy of ContentUri, so the build can never write into the sources.
    scratch = dest.parent / f".{lid}-scratch"
    shutil.rmtree(scratch, ignore_errors=True)
    shutil.copytree(source, scratch, ignore=shutil.ignore_patterns("__pycache__", ".aws-sam"))
    try:
        _run(["make", "--no-print-directory", f"build-{lid}", f"ARTIFACTS_DIR={dest}", f"PYTHON={python}",
              *overrides], cwd=scratch, what=f"{lid} (make build-{lid} in {content})")
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    (dest / STAMP).write_text(key)


def _runtime(dest: Path, python: str) -> None:
    pins = _runtime_pins()
    key = hashlib.sha256(f"{python}\n{_python_tag(python)}\n{pins}".encode()).hexdigest()
    if _stamp(dest) == key:
        return
    shutil.rmtree(dest, ignore_errors=True)
    _run([python, "-m", "pip", "install", "--quiet", "--target", str(dest), *pins],
         cwd=ROOT, what="the runtime's boto3 (pip install --target)")
    (dest / STAMP).write_text(key)


def _runtime_pins() -> list[str]:
    text = (ROOT / "requirements-dev.txt").read_text()
    pins = [m.group(0) for name in RUNTIME_PACKAGES
            for m in [re.search(rf"^{name}==\S+", text, re.MULTILINE)] if m]
    if len(pins) != len(RUNTIME_PACKAGES):
        raise BuildError(f"requirements-dev.txt must pin {', '.join(RUNTIME_PACKAGES)} (the runtime's versions)")
    return pins


def _copy_code(code_uri: Path, dest: Path) -> None:
    shutil.rmtree(dest, ignore_errors=True)
    shutil.copytree(code_uri, dest, ignore=shutil.ignore_patterns("__pycache__"))


def _sam_available() -> bool:
    return shutil.which("sam") is not None and shutil.which("python3.12") is not None and subprocess.run(
        ["python3.12", "-c", ""], capture_output=True).returncode == 0


def _sam_build(tpl: Template, out: Path) -> None:
    sam_out = out / ".sam"
    assert tpl.path is not None
    _run(["sam", "build", "--template-file", str(tpl.path), "--build-dir", str(sam_out)],
         cwd=tpl.root, what="sam build")
    for lid in [*tpl.of_type(LAYER_TYPE), *tpl.functions]:
        shutil.rmtree(out / lid, ignore_errors=True)
        shutil.move(sam_out / lid, out / lid)


def _run(cmd: list[str], *, cwd: Path, what: str) -> None:
    done = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True)
    if done.returncode != 0:
        raise BuildError(f"{what} failed ({done.returncode}):\n{done.stdout[-4000:]}{done.stderr[-4000:]}")


def _digest(folder: Path, *extra: str) -> str:
    h = hashlib.sha256("\n".join(extra).encode())
    for path in sorted(folder.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            h.update(str(path.relative_to(folder)).encode())
            h.update(path.read_bytes())
    return h.hexdigest()


def _stamp(dest: Path) -> str | None:
    stamp = dest / STAMP
    return stamp.read_text() if stamp.is_file() else None


def _python_tag(python: str) -> str:
    tag = subprocess.run([python, "-c", "import sys, sysconfig; print(sys.implementation.cache_tag, "
                          "sysconfig.get_platform())"], capture_output=True, text=True, check=True)
    return tag.stdout.strip().replace(" ", "-")


@contextmanager
def _locked(path: Path) -> Iterator[None]:
    with path.open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT)
    parser.add_argument("--python", default=sys.executable, help="the interpreter to build for (default: this one)")
    parser.add_argument("--lambda-platform", action="store_true", help="resolve for Lambda (arm64, CPython 3.12)")
    args = parser.parse_args()
    built = build(args.out, python=args.python, lambda_platform=args.lambda_platform)
    print(f"built in {built.root}")
    for lid in built.task_roots:
        print(f"  {lid}: " + os.pathsep.join(str(p.relative_to(built.root)) for p in built.sys_path(lid)))


if __name__ == "__main__":
    main()
