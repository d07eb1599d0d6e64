"""Shared pytest configuration: hypothesis profiles (no deadlines; CI runs a fixed, derandomised profile)."""
import os

import pytest
from hypothesis import HealthCheck, settings

settings.register_profile("ci", max_examples=60, deadline=None, derandomize=True,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=60, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("ci" if os.environ.get("CI") else "dev")

# pytest -n 2 runs one worker per core; torch's default intra-op threads would spin-wait
# against the other worker (a 50x100 matmul measured 25 ms instead of 0.1 ms under load).
import torch  # noqa: E402

torch.set_num_threads(1)

from validation.common.runtime import torch_threads  # noqa: E402


@pytest.fixture
def one_thread():
    """One torch thread for the test (the CLIs' default --threads 1, so float sums match a subprocess run)."""
    with torch_threads(1):
        yield
