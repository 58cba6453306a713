"""The source-check Lambda asset's modules, for synth, plan.py and snapshot.py: the clone rules exist once, there.

The asset's modules are top-level (that is how the Lambda runtime imports them), so this puts their folder on
sys.path once and hands out the module.
"""

from __future__ import annotations

import sys
from pathlib import Path

CLONE_SETTINGS_DIR = Path(__file__).resolve().parent.parent / "lambda" / "clone_settings"
if str(CLONE_SETTINGS_DIR) not in sys.path:
    sys.path.insert(0, str(CLONE_SETTINGS_DIR))

import clone_rules  # noqa: E402
import mwaa_limits  # noqa: E402
import sensitive_options  # noqa: E402
import source_check  # noqa: E402

__all__ = ["CLONE_SETTINGS_DIR", "clone_rules", "mwaa_limits", "sensitive_options", "source_check"]
