"""One quick training run shared by the tests of this package (written into a tmp dir)."""

from __future__ import annotations

import pytest

from training.pipeline import TrainConfig, train


@pytest.fixture(scope="session")
def quick_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("artifacts") / "surrogate"
    run = train(TrainConfig.quick_config(), out, "pytest quick run")
    return run, out
