import os
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SHARED = ROOT.parent / "shared"
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

FIXTURES = ROOT / "fixtures"

# The suite's clock: the rules that compare dates (end of life, certificates) read `clock.today`, else
# SOURCE_DATE_EPOCH (scanner.config.Policy.today); pinned here, and inherited by every `dkscan`
# subprocess, so that no test's answer changes with the calendar. The examples' date (2026-01-01).
os.environ.setdefault("SOURCE_DATE_EPOCH", "1767225600")


@pytest.fixture
def root() -> Path:
    return ROOT


def shared_path(*parts: str) -> Path:
    p = SHARED.joinpath(*parts)
    if not p.exists():
        pytest.fail(f"../shared/{'/'.join(parts)} is missing: CI lays shared/ beside the checkout")
    return p
