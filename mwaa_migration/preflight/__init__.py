"""The pre-flight checks of a migration's workflow: workflows runs ruff, puts the checks together and reports them;
the checks are in requirements, code (DAG and plugin code), context (removed template variables) and plugins, each
reporting findings (findings) on files read and parsed by files, never imported."""
