"""The operator's command, ``python -m shared.ops`` (``accord-ops``): what the pipeline holds
and where it is stuck, read from the broker and from each service's database, and the redrive
of dead letters after a fix. ``cli`` parses the command line, ``commands`` runs one and
``output`` prints; the other modules each read one thing (``groups``, ``backlog``, ``parked``,
``webhooks``) or redrive (``redrive``, recorded in ``redrives``), from what ``sources`` opens.

Nothing here is imported by a service at run time except ``redrives_table`` (through
``shared/orm.py``), so the services do not load the operator's output libraries."""
