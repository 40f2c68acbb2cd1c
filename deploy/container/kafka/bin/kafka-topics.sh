#!/bin/sh
# /opt/kafka/bin/kafka-topics.sh - Kafka's topic tool (same path as in Apache's image), e.g.
#   kafka-topics.sh --bootstrap-server localhost:9092 --list
# Quiet logging, a small heap: it also serves as the container's healthcheck.
conf=${KAFKA_CONFIG_DIR:-/tmp/kafka-config}
mkdir -p "$conf" 2>/dev/null
[ -f "$conf/tools-log4j.properties" ] || printf '%s\n' 'log4j.rootLogger=WARN, stderr' \
  'log4j.appender.stderr=org.apache.log4j.ConsoleAppender' 'log4j.appender.stderr.Target=System.err' \
  'log4j.appender.stderr.layout=org.apache.log4j.PatternLayout' \
  'log4j.appender.stderr.layout.ConversionPattern=[%d] %p %m (%c)%n' >"$conf/tools-log4j.properties"
exec java -Xmx256m -XX:TieredStopAtLevel=1 -Xshare:auto -Djava.awt.headless=true \
  -Dlog4j.configuration="file:$conf/tools-log4j.properties" \
  -cp '/opt/kafka/libs/*' org.apache.kafka.tools.TopicCommand "$@"
