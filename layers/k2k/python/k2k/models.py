"""The base of every k2k pydantic model.

defer_build: a model's validator and serializer are built the first time the model is used,
not when its module is imported. A handler imports the whole domain but one invocation uses
a few of its models, so a cold start no longer builds them all (bench/bench_coldstart.py).
"""

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(defer_build=True)
