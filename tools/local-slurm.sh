#!/usr/bin/env bash
# A real, one-node Slurm on this machine, for the tests (there is no systemd: daemons are
# started by hand and stopped by PID).
#
#   tools/local-slurm.sh install   Debian's munge, slurmctld, slurmd, slurm-client (as root)
#                                  (the test suite never installs: CI runs this first)
#   tools/local-slurm.sh start     write /etc/slurm/slurm.conf, start munged, slurmctld, slurmd
#   tools/local-slurm.sh stop      stop the three daemons by PID, remove the config it wrote
#   tools/local-slurm.sh status    sinfo
#
# Shaped like a real cluster, on one node (localhost, CPUs = nproc): a default partition `cpu`
# and a partition `gpu` whose jobs may ask for the node's two fake GPUs (gres.conf
# File=/dev/null: schedulable, nothing runs on them). No slurmdbd: the Snakemake profile uses
# `squeue` for status, and MinJobAge keeps finished jobs visible to it; an account string is
# recorded as given. A prolog writes each job's record (`scontrol show job`) to $RUN/jobs/.
# slurm.conf must live in /etc/slurm: the step inside a job does not see SLURM_CONF. `stop`
# removes it again (and puts back a slurm.conf that was there before): with a slurm.conf but no
# slurmctld, every later Snakemake start waits ~9 s on the Slurm plugin's `scontrol` probe.
set -euo pipefail

RUN=/run/attnablate-slurm
CONF=/etc/slurm
SPOOL=/var/spool/attnablate-slurm

install() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null && command -v sbatch >/dev/null \
    && command -v munged >/dev/null; then
    return 0
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq munge slurmctld slurmd slurm-client >/dev/null
}

MARK="# Written by tools/local-slurm.sh"

write_conf() {
  local host cpus mem
  host=$(hostname -s)
  cpus=$(nproc)
  mem=$(($(awk '/MemTotal/ {print $2}' /proc/meminfo) / 1024 - 1024))
  mkdir -p "$CONF" "$SPOOL/ctld" "$SPOOL/d" "$RUN"
  for name in slurm.conf gres.conf; do  # someone else's config is kept aside, not lost
    if [ -f "$CONF/$name" ] && ! grep -q "^$MARK" "$CONF/$name"; then
      mv "$CONF/$name" "$CONF/$name.attnablate-saved"
    fi
  done
  cat >"$CONF/slurm.conf" <<EOF
$MARK: a one-node test cluster on this machine.
ClusterName=attnablate
SlurmctldHost=$host
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$SPOOL/ctld
SlurmdSpoolDir=$SPOOL/d
SlurmctldPidFile=$RUN/slurmctld.pid
SlurmdPidFile=$RUN/slurmd.pid
SlurmctldLogFile=$RUN/slurmctld.log
SlurmdLogFile=$RUN/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
# Each job's record as the scheduler holds it at its start (partition, account, CPUs, nodes,
# GPUs, the rule in its comment), one file per job in $RUN/jobs/: read back by the tests.
Prolog=$RUN/prolog.sh
PrologFlags=Alloc
MpiDefault=none
ReturnToService=2
# Finished jobs stay visible to squeue for a minute: the status command of the profile.
MinJobAge=60
SchedulerParameters=sched_interval=1
GresTypes=gpu,shard
NodeName=$host NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$mem Gres=gpu:2,shard:200 State=UNKNOWN
PartitionName=cpu Nodes=ALL Default=YES MaxTime=INFINITE State=UP
PartitionName=gpu Nodes=ALL MaxTime=INFINITE State=UP
EOF
  mkdir -p "$RUN/jobs"
  cat >"$RUN/prolog.sh" <<'EOF'
#!/bin/sh
scontrol show job --oneliner "$SLURM_JOB_ID" >"$(dirname "$0")/jobs/$SLURM_JOB_ID.txt" 2>&1
exit 0
EOF
  chmod +x "$RUN/prolog.sh"
  cat >"$CONF/gres.conf" <<EOF
$MARK: two fake GPUs, schedulable; nothing runs on them. Each is also 100 shards,
# as a cluster that packs small jobs on its GPUs defines them (profiles/slurm).
NodeName=$host Name=gpu File=/dev/null
NodeName=$host Name=gpu File=/dev/zero
NodeName=$host Name=shard Count=100 File=/dev/null
NodeName=$host Name=shard Count=100 File=/dev/zero
EOF
}

running() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {
  if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null; then
    echo "Slurm is not installed: run $0 install (as root) first" >&2
    return 1
  fi
  write_conf
  mkdir -p /run/munge && chown munge:munge /run/munge
  if ! running /run/munge/munged.pid; then
    runuser -u munge -- /usr/sbin/munged --pid-file=/run/munge/munged.pid
  fi
  running "$RUN/slurmctld.pid" || /usr/sbin/slurmctld
  running "$RUN/slurmd.pid" || /usr/sbin/slurmd
  for _ in $(seq 60); do
    if sinfo -h -o '%t' 2>/dev/null | grep -qE '^(idle|mix|alloc)'; then
      echo "local Slurm is up: $(sinfo -h -o '%P %D %t %G')"
      return 0
    fi
    scontrol update nodename="$(hostname -s)" state=resume >/dev/null 2>&1 || true
    sleep 1
  done
  echo "local Slurm did not come up; logs in $RUN" >&2
  tail -n 20 "$RUN/slurmctld.log" "$RUN/slurmd.log" >&2 || true
  return 1
}

stop() {
  for pidfile in "$RUN/slurmd.pid" "$RUN/slurmctld.pid" /run/munge/munged.pid; do
    if running "$pidfile"; then
      kill "$(cat "$pidfile")"
    fi
  done
  for name in slurm.conf gres.conf; do
    if [ -f "$CONF/$name" ] && grep -q "^$MARK" "$CONF/$name"; then
      rm -f "$CONF/$name"
    fi
    if [ -f "$CONF/$name.attnablate-saved" ]; then
      mv "$CONF/$name.attnablate-saved" "$CONF/$name"
    fi
  done
}

case "${1:-}" in
  install) install ;;
  start) start ;;
  stop) stop ;;
  status) sinfo ;;
  *) echo "usage: $0 install|start|stop|status" >&2; exit 2 ;;
esac
