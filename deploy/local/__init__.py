"""Run Accord's local stack as real processes, without Docker: a small library of the
standard library only (but for the dead-letter count of ``status``, which uses aiokafka).

PostgreSQL comes from Debian's packages, the Kafka broker (KRaft, one combined
broker+controller) from its jars on Maven Central, and the three services run as child
processes of the venv's Python. Every component keeps its state, pid file and log under one
runtime directory, so a test can run a stack of its own next to the developer's.

- ``processes``: starting, watching and stopping detached processes (``ServiceProcess``,
  ``free_port``, pid files, health checks, logs), and ``StackError``.
- ``postgres``: a PostgreSQL server of our own (``Postgres``).
- ``kafka``: a single-node Kafka broker (``Kafka``, its jars under ``KAFKA_LIBS``).
- ``stack``: the developer's stack composed of them (``LocalStack``, ``SERVICES``), and
  ``restart`` of one part without installs or migrations.
- ``probes``: whether a part answers (HTTP, Kafka ApiVersions, ``pg_isready``), each within a
  short timeout, and the dead-letter count; ``status``: what ``deploy/stack status`` says.
- ``__main__``: ``python -m deploy.local up|down|status|restart|logs`` (behind
  ``deploy/stack``).

Tests import ``Postgres``, ``Kafka`` and ``ServiceProcess`` from their modules.
"""
