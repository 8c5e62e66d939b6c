"""Test-only switches from the environment, read once when the test session starts and then removed
from it: the code under test refuses unknown BOUNCED_* variables (as it should), and in-process
commands read the real environment.

- BOUNCED_TEST_DSN: an admin DSN of a PostgreSQL server to use instead of a throwaway one.
- BOUNCED_REQUIRE_SYSTEMD_ANALYZE: make the systemd unit tests fail, not skip, without systemd-analyze.
- BOUNCED_REQUIRE_PROMTOOL (or CI=true): make the alert-rule and dashboard tests fail, not skip,
  without promtool.
"""

from __future__ import annotations

import os

TEST_DSN: str | None = os.environ.pop("BOUNCED_TEST_DSN", None) or None
REQUIRE_SYSTEMD_ANALYZE: bool = bool(os.environ.pop("BOUNCED_REQUIRE_SYSTEMD_ANALYZE", ""))
_PROMTOOL_FLAG = bool(os.environ.pop("BOUNCED_REQUIRE_PROMTOOL", ""))
REQUIRE_PROMTOOL: bool = _PROMTOOL_FLAG or os.environ.get("CI") == "true"

# Nothing else from the developer's shell (a BOUNCED_DATABASE_URL, say) leaks into the tests: each
# test sets the settings it means.
for _name in [name for name in os.environ if name.startswith("BOUNCED_")]:
    del os.environ[_name]
