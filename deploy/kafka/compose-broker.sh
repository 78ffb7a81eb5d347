#!/usr/bin/env bash
# The Kafka broker of docker-compose.yml, in the official apache/kafka image: one KRaft node
# (broker and controller) that authenticates every client with SASL/SCRAM and authorises with
# ACLs, configured like the local stack's broker (deploy/local/kafka.py); alone, or one node
# of a cluster (docker-compose.kafka-cluster.yml: three, decision 37).
#
# The image's own start-up formats an empty volume without users and cannot take a JAAS
# setting from its environment (it drops values that contain '='), so this script writes the
# whole configuration, formats the volume once with the SCRAM users (the admin and one per
# service, their passwords from the environment), and starts the broker. Users are only
# added when the volume is formatted: to change a password later, use kafka-configs.sh with
# the admin's client settings (see the README's operators section).
#
# Environment: BROKER_ADMIN_PASSWORD, BROKER_PLANS_PASSWORD, BROKER_MEETINGS_PASSWORD,
# BROKER_NOTIFICATIONS_PASSWORD (required); BROKER_CLUSTER_ID (required, 22 characters);
# BROKER_HOST (advertised host, default kafka), BROKER_PORT (9092),
# BROKER_CONTROLLER_PORT (9093), BROKER_DATA_DIR (/var/lib/kafka/data),
# BROKER_CONFIG_DIR (/tmp/accord-kafka), KAFKA_HOME (/opt/kafka). In a cluster:
# BROKER_NODE_ID (1), BROKER_QUORUM_VOTERS (every controller, id@host:port, comma-separated;
# default this node alone) and BROKER_REPLICATION (copies of each partition of the internal
# topics and of topics created without one, 1; writes then need min(2, it) in sync).
set -euo pipefail

: "${BROKER_CLUSTER_ID:?}" "${BROKER_ADMIN_PASSWORD:?}" "${BROKER_PLANS_PASSWORD:?}"
: "${BROKER_MEETINGS_PASSWORD:?}" "${BROKER_NOTIFICATIONS_PASSWORD:?}"
host="${BROKER_HOST:-kafka}"
port="${BROKER_PORT:-9092}"
controller_port="${BROKER_CONTROLLER_PORT:-9093}"
data_dir="${BROKER_DATA_DIR:-/var/lib/kafka/data}"
config_dir="${BROKER_CONFIG_DIR:-/tmp/accord-kafka}"
kafka_home="${KAFKA_HOME:-/opt/kafka}"
mechanism=SCRAM-SHA-512
node_id="${BROKER_NODE_ID:-1}"
voters="${BROKER_QUORUM_VOTERS:-$node_id@$host:$controller_port}"
replication="${BROKER_REPLICATION:-1}"
min_in_sync=$((replication < 2 ? replication : 2))

for password in "$BROKER_ADMIN_PASSWORD" "$BROKER_PLANS_PASSWORD" \
    "$BROKER_MEETINGS_PASSWORD" "$BROKER_NOTIFICATIONS_PASSWORD"; do
    # They go into JAAS settings and --add-scram arguments unquoted.
    if [[ ! "$password" =~ ^[A-Za-z0-9._~-]+$ ]]; then
        echo "a BROKER_*_PASSWORD may hold only letters, digits, '.', '_', '~' and '-'" >&2
        exit 2
    fi
done

umask 077
mkdir -p "$config_dir"
admin_login="username=\"admin\" password=\"$BROKER_ADMIN_PASSWORD\""
cat > "$config_dir/server.properties" <<EOF
process.roles=broker,controller
node.id=$node_id
controller.quorum.voters=$voters
listeners=CLIENT://:$port,CONTROLLER://:$controller_port
advertised.listeners=CLIENT://$host:$port
inter.broker.listener.name=CLIENT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CLIENT:SASL_PLAINTEXT,CONTROLLER:SASL_PLAINTEXT
listener.name.client.sasl.enabled.mechanisms=$mechanism
sasl.mechanism.inter.broker.protocol=$mechanism
listener.name.client.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required $admin_login;
listener.name.controller.sasl.enabled.mechanisms=PLAIN
sasl.mechanism.controller.protocol=PLAIN
listener.name.controller.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required $admin_login user_admin="$BROKER_ADMIN_PASSWORD";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin
log.dirs=$data_dir
auto.create.topics.enable=false
offsets.topic.replication.factor=$replication
offsets.topic.num.partitions=1
transaction.state.log.replication.factor=$replication
transaction.state.log.min.isr=$min_in_sync
share.coordinator.state.topic.replication.factor=$replication
share.coordinator.state.topic.min.isr=$min_in_sync
default.replication.factor=$replication
min.insync.replicas=$min_in_sync
unclean.leader.election.enable=false
group.initial.rebalance.delay.ms=0
EOF
# The admin's client settings, for the healthcheck and for an operator's kafka-*.sh commands.
cat > "$config_dir/admin.properties" <<EOF
security.protocol=SASL_PLAINTEXT
sasl.mechanism=$mechanism
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required $admin_login;
EOF

if [ ! -e "$data_dir/meta.properties" ]; then
    "$kafka_home/bin/kafka-storage.sh" format --cluster-id="$BROKER_CLUSTER_ID" \
        --config "$config_dir/server.properties" \
        --add-scram "$mechanism=[name=admin,password=$BROKER_ADMIN_PASSWORD]" \
        --add-scram "$mechanism=[name=plans,password=$BROKER_PLANS_PASSWORD]" \
        --add-scram "$mechanism=[name=meetings,password=$BROKER_MEETINGS_PASSWORD]" \
        --add-scram "$mechanism=[name=notifications,password=$BROKER_NOTIFICATIONS_PASSWORD]"
fi
exec "$kafka_home/bin/kafka-server-start.sh" "$config_dir/server.properties"
