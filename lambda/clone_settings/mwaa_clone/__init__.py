"""The clone of an MWAA environment's settings (clone_rules, run at synth) and the deploy-time source check (the
thin source_check_handler over source_check). One asset, lambda/clone_settings/."""
