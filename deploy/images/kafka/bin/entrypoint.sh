#!/bin/bash
# Entrypoint of the apache/kafka stand-in. Any KAFKA_<NAME> variable (other than the few
# below that are not settings) is the broker setting <name>: lower case, '_' -> '.', '__' -> '_',
# '___' -> '-' (KAFKA_LOG_DIRS -> log.dirs), as in the official image; given any, they are
# the whole configuration. The data directory is formatted once with CLUSTER_ID.
set -euo pipefail

CONFIG=/opt/kafka/config/server.properties
DEFAULTS=/opt/kafka/config/defaults
# The official image's variables that are not broker settings.
NOT_SETTINGS=" KAFKA_VERSION KAFKA_HEAP_OPTS KAFKA_OPTS KAFKA_JVM_PERFORMANCE_OPTS \
KAFKA_GC_LOG_OPTS KAFKA_JMX_OPTS KAFKA_LOG4J_OPTS KAFKA_LOG4J_ROOT_LOGLEVEL KAFKA_LOG4J_LOGGERS \
KAFKA_TOOLS_LOG4J_LOGLEVEL "

# As the official image: a KRaft node needs its cluster id.
if [ -n "${KAFKA_PROCESS_ROLES:-}" ] && [ -z "${CLUSTER_ID:-}" ]; then
    echo "kafka: CLUSTER_ID is required when KAFKA_PROCESS_ROLES is set" >&2
    exit 1
fi

settings=()
for name in $(compgen -e); do
    [[ "$name" == KAFKA_* ]] || continue
    [[ "$NOT_SETTINGS" == *" $name "* ]] && continue
    key="${name#KAFKA_}"
    key="${key,,}"
    key="${key//___/-}"
    key="${key//__/@}"
    key="${key//_/.}"
    key="${key//@/_}"
    settings+=("$key=${!name}")
done

if [ "${#settings[@]}" -gt 0 ]; then
    printf '%s\n' "${settings[@]}" >"$CONFIG"
else
    cp "$DEFAULTS/server.properties" "$CONFIG"
fi

java_base=(java -Djava.awt.headless=true -cp '/opt/kafka/libs/*')
"${java_base[@]}" -Dlog4j2.configurationFile="$DEFAULTS/tools-log4j2.properties" \
    kafka.tools.StorageTool format --ignore-formatted \
    --cluster-id="${CLUSTER_ID:-5L6g3nShT-eMCtK--X86sw}" -c "$CONFIG" >/dev/null

exec /opt/kafka/bin/kafka-server-start.sh "$CONFIG"
