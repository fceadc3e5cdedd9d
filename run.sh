#!/usr/bin/env bash
# Run the default experiment end to end (config.yaml) on this machine; extra arguments go to
# snakemake, e.g. ./run.sh --dry-run, or ./run.sh --configfile configs/other.yaml.
source "$(dirname "$0")/tools/venv.sh"
snakemake --cores all "$@"
