"""`python -m mwaa_migration.diagram` (`make diagram`): writes docs/architecture.md, or the path given."""

from __future__ import annotations

import sys

from mwaa_migration.diagram.architecture import main

sys.exit(main())
