"""The cut-over's Lambda-side modules (archive reader, REST transports, importer, verifier), for `cutover.py`.

They live in one Lambda asset folder as top-level modules (that is how the Lambda runtime imports them, with no
bundling), so this puts the folder on sys.path once; the CLI then imports them by module name, as the Lambdas do.
"""

from __future__ import annotations

import sys
from pathlib import Path

CUTOVER_DIR = Path(__file__).resolve().parent.parent / "lambda" / "cutover"
if str(CUTOVER_DIR) not in sys.path:
    sys.path.insert(0, str(CUTOVER_DIR))

__all__ = ["CUTOVER_DIR"]
