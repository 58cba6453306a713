"""The workflow deployment: DAGs, requirements.txt, plugins.zip and the startup script into the new environment's
source bucket (the thin workflow_handler over workflow_deploy). One asset, lambda/deploy_workflows/."""
