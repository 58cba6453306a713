"""How long the cut-over machine's loops wait between looks, and how many rounds each may take.

Step Functions ends a Standard execution at 25,000 history events, and a poll round costs 9 (a Task's 5, a Choice's
and a Wait's 2 each); tests/test_cutover_history.py counts the longest execution of each cut-over stack at the
largest accepted inputs. So a poll waits 5 s at first (a step that is quick is seen within seconds: the drain, the
export and the import are on the downtime's critical path), then a tenth of the time waited so far (a run is seen
at most about 10% late), at most 5 minutes.
"""

from __future__ import annotations

import math

FIRST_WAIT_SECONDS = 5
MAX_WAIT_SECONDS = 300
# A REST import slice stops at 12 minutes, or 2 minutes before the function's own timeout, whichever is first.
SLICE_SECONDS = 12 * 60
SLICE_MARGIN_SECONDS = 120
# Slices of one execution's unpause or rollback: each runs until its deadline (about 3 minutes in a 5-minute
# function) and changes at least one DAG, so this bounds the loop, and the execution's history, whatever the DAGs.
MAX_SLICES = 100


def next_wait(elapsed_seconds: float) -> int:
    """Seconds until the next look, `elapsed_seconds` after the wait began. Never less for a longer elapsed time
    (the history test's bound rests on that)."""
    return int(min(MAX_WAIT_SECONDS, max(FIRST_WAIT_SECONDS, elapsed_seconds // 10)))


def import_slices(wait_timeout_seconds: int) -> int:
    """How many REST import slices an execution may take: the import gets wait_timeout_seconds, like each wait."""
    return max(1, math.ceil(wait_timeout_seconds / SLICE_SECONDS))
