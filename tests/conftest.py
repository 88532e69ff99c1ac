"""Test-session settings: Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``) makes property tests derandomized: the same
examples every run, so a CI verdict is reproducible and never depends on luck. Local runs
keep the default profile, which explores new random examples each time (that is how the
``find_by_char`` range bug was found); a failure found that way gets pinned with
``@example``.

The session also checks that no test leaves a run history in the checkout: ``Config()``'s
state file is relative to the working folder, so a test that runs the pipeline with the
default config from the repository would write ``.enricher/`` there (and two test runs would
then share, and lock, one history).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from hypothesis import settings

from enricher.config import DEFAULT_STATE_FILE

settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))


@pytest.fixture(scope="session", autouse=True)
def _no_history_in_the_working_folder() -> Iterator[None]:
    state = Path.cwd() / DEFAULT_STATE_FILE
    existed = state.exists()
    yield
    assert existed or not state.exists(), (
        f"a test wrote {state}: give its Config a state_file under tmp_path, or None")


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    """A test certificate authority (one per module: its certificates differ per module)."""
    return trustme.CA()


@pytest.fixture(scope="module")
def bundle(ca: trustme.CA, tmp_path_factory: pytest.TempPathFactory) -> str:
    """``ca``'s certificate as a CA bundle file (``--ca-bundle``)."""
    path = tmp_path_factory.mktemp("ca") / "ca.pem"
    ca.cert_pem.write_to_path(str(path))
    return str(path)
