#!/bin/bash
# Runs one of Kafka's command-line classes with the image's jars (what the admin scripts call).
# shellcheck disable=SC2086 # KAFKA_OPTS is a list of words, as in Kafka's own scripts
exec java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
    ${KAFKA_OPTS:-} \
    -Dlog4j2.configurationFile=/opt/kafka/config/defaults/tools-log4j2.properties \
    -cp '/opt/kafka/libs/*' "$@"
