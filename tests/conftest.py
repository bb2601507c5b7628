import os

import pytest
import torch

# Tests are small; one intra-op thread avoids oversubscribing the 2-core CI machine.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Keep caches (teachers, classifiers) of tests out of the user's home directory."""
    monkeypatch.setenv("RLGAN_LS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
