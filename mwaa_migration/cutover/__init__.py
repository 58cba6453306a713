"""The cut-over's operator side, for `cutover.py`: what it acts on (target: the archive and the Airflow API to
call), following a state machine execution (follow), and the deterministic names of a migration's bucket and
cut-over machine (names), which the stacks use too. The Lambda side is mwaa_cutover (lambda/cutover/)."""
