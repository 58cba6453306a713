#!/bin/sh
# MWAA runs this on every Airflow container before Airflow starts; keep it quick and free of side effects.
echo "mwaa-migration example startup script on ${MWAA_AIRFLOW_COMPONENT:-unknown component}"
