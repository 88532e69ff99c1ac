"""Test-session settings: Hypothesis profiles.

``HYPOTHESIS_PROFILE=ci`` (set by ``.ci/run``) makes property tests derandomized: the same
examples every run, so a CI verdict is reproducible and never depends on luck. Local runs
keep the default profile, which explores new random examples each time (that is how the
``find_by_char`` range bug was found); a failure found that way gets pinned with
``@example``.
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "default"))
