"""The cut-over: the state machine's Lambda steps (the thin cutover_handler over cutover_steps, wait_steps,
import_steps and pause_steps), the archive reader, the REST transports and importer, the verifier, and the
migration bucket's key layout (bucket_keys). One asset, lambda/cutover/; `cutover.py` imports the same package."""
