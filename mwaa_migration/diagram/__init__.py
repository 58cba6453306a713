"""docs/architecture.md, drawn from the synthesized templates: `python -m mwaa_migration.diagram` (`make diagram`)
writes it (architecture), from the templates read as a model (model) into the deploy diagram (deploy), the data
flow (flow) and the state machine's modes (states), as Mermaid text (mermaid)."""
