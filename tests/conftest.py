import os

import pytest
import torch

# Tests are small; one intra-op thread avoids oversubscribing the 2-core CI machine.
torch.set_num_threads(1)
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Keep caches (teachers, classifiers) of tests out of the user's home directory: session-scoped, so that
    module-scoped fixtures (which run before any per-test fixture) use the session's cache too."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RLGAN_LS_CACHE", str(tmp_path_factory.getbasetemp() / "cache"))
        yield
