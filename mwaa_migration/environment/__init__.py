"""The new environment, planned at synth from the migration file: the settings cloned or defaulted
(environment_plan, with the plan's types in plan_types), the file's values in CreateEnvironment terms
(clone_overrides), and what the execution role reads for the secrets backend (secrets_access). Pure: no aws_cdk."""
