"""Import one handler from a Lambda layout and invoke it, as the Lambda runtime would.

Run by tests/packaging in a clean interpreter (`python -I -S lambda_runner.py`): standard
library only, and nothing on sys.path but what the job names (task root, layers, runtime).
Reads a job as JSON on stdin; prints one JSON line: what happened, and where the key
packages were loaded from.
"""

import importlib
import json
import sys
import traceback
import uuid


class Context:
    """The attributes of Lambda's context object that Powertools reads."""

    def __init__(self, function_name: str) -> None:
        self.function_name = function_name
        self.function_version = "$LATEST"
        self.invoked_function_arn = f"arn:aws:lambda:us-east-1:123456789012:function:{function_name}"
        self.memory_limit_in_mb = 512
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = f"/aws/lambda/{function_name}"
        self.log_stream_name = "packaging-check"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


def run(job: dict) -> dict:
    sys.path[:0] = job["sys_path"]
    leaked = [p for p in sys.path if any(p.startswith(f) for f in job["forbidden"])]
    if leaked:
        return {"stage": "sys.path", "error": f"the interpreter sees what Lambda would not: {leaked}"}
    module_name, _, attr = job["handler"].rpartition(".")
    try:
        module = importlib.import_module(module_name)
    except BaseException:
        return {"stage": "import", "error": traceback.format_exc()}
    handler = getattr(module, attr, None)
    if not callable(handler):
        return {"stage": "handler", "error": f"{module.__file__} has no callable {attr!r}"}
    results = []
    for event in job["events"]:
        try:
            results.append(handler(event, Context(job["function_name"])))
        except BaseException:
            return {"stage": "invoke", "error": traceback.format_exc()}
    loaded = {name: getattr(sys.modules.get(name), "__file__", None) for name in job["report_modules"]}
    return {"stage": "done", "results": results, "loaded": loaded}


if __name__ == "__main__":
    print(json.dumps(run(json.load(sys.stdin)), default=str))
