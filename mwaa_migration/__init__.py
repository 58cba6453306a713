"""Migration-file model, validation and pre-flight checks for the mwaa-migration CDK app."""
