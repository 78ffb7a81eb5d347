#!/bin/bash
# Starts the broker with the configuration file given, as the official script does (its
# heap and JVM defaults, overridden by the same variables); what the image's entrypoint and
# a compose file's own start-up script run.
set -euo pipefail
config="${1:?usage: kafka-server-start.sh server.properties}"
log4j=/opt/kafka/config/defaults/log4j2.properties
if [ -n "${KAFKA_LOG4J_ROOT_LOGLEVEL:-}" ]; then
    log4j=/opt/kafka/config/log4j2.properties
    sed "s/^rootLogger.level = .*/rootLogger.level = $KAFKA_LOG4J_ROOT_LOGLEVEL/" \
        /opt/kafka/config/defaults/log4j2.properties >"$log4j"
fi
# shellcheck disable=SC2086 # the options are lists of words, as in Kafka's own scripts
exec java ${KAFKA_HEAP_OPTS:--Xmx1G -Xms1G} \
    ${KAFKA_JVM_PERFORMANCE_OPTS:--server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35} \
    ${KAFKA_OPTS:-} \
    -Djava.awt.headless=true \
    -Dlog4j2.configurationFile="$log4j" \
    -cp '/opt/kafka/libs/*' kafka.Kafka "$config"
