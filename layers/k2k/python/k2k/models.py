"""The base of every k2k pydantic model.

defer_build: a model's validator and serializer are built the first time the model is used,
not when its module is imported. A handler imports the whole domain but one invocation uses
a few of its models, so a cold start no longer builds them all (bench/bench_coldstart.py).

Modules that define many models do without `from __future__ import annotations`: with it every
field's annotation is a string, which pydantic turns into a typing.ForwardRef at class creation,
and each ForwardRef compiles its string - about a third of such a module's import (k2k.network:
~13 -> ~8 ms of CPU, in every handler). Name a class inside its own body as `Self`.
"""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
