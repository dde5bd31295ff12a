#!/bin/sh
# Creates every topic the services use (services/common/topics.py; the names and the
# single-partition DLQs as in devstack/kafka.py DEFAULT_TOPIC_PARTITIONS). More partitions than
# the laptop's where Kubernetes scales consumers: a partition has one consumer per group, so
# fte.tickets.incoming has 30 (up to 30 inbound workers) and each outbound topic 12 (up to 12
# dispatchers): KEDA never scales past them (autoscaling.yaml). Idempotent: an existing topic
# is left as it is (grow one with kafka-topics.sh --alter --partitions).
# Run by the kafka-topics Job from the ConfigMap flowboard-scripts.
set -eu
: "${KAFKA_BOOTSTRAP_SERVERS:?}"
RF="${FTE_TOPIC_REPLICATION_FACTOR:-1}"
# With one broker (RF 1) a write cannot need two in-sync replicas.
MIN_ISR=$(( RF > 2 ? 2 : 1 ))
create() {
  /opt/kafka/bin/kafka-topics.sh --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --create \
    --if-not-exists --topic "$1" --partitions "$2" --replication-factor "$RF" \
    --config min.insync.replicas="$MIN_ISR"
}
create fte.tickets.incoming 30
create fte.channels.email.inbound 3
create fte.channels.email.outbound 12
create fte.channels.whatsapp.outbound 12
create fte.channels.web_form.outbound 12
create fte.escalations 3
create fte.dlq 1
create fte.escalations.dlq 1
/opt/kafka/bin/kafka-topics.sh --bootstrap-server "$KAFKA_BOOTSTRAP_SERVERS" --list
