"""The cut-over: the state machine's Lambda steps (the thin cutover_handler over cutover_steps, wait_steps,
import_steps and pause_steps), the archive reader, the REST transports and importer, and the verifier.
One asset, lambda/cutover/; `cutover.py` imports the same package."""
