"""The PostgreSQL wire server: point psql, a driver or a BI tool at dpproxy.

Module map, from the socket inwards:

* ``server``: asyncio; accepts connections and moves bytes, runs sessions in a thread pool;
* ``protocol``: the sans-IO connection state machine (startup, TLS, SCRAM, messages);
* ``codec`` and ``messages``: bytes to message objects and back, precompiled ``struct``s;
* ``scram``: SCRAM-SHA-256 from stored verifiers (``dpproxy passwd`` makes them);
* ``backend``: one session: simple and extended query, statements, portals, errors;
* ``statements``: what a statement is (DP query, catalog, session chatter, EXPLAIN);
* ``params``: ``$n`` parameters, their types from the policy, bound as SQL literals;
* ``chatter``: SET, SHOW, BEGIN/COMMIT/ROLLBACK, DISCARD; ``dpproxy.epsilon`` and
  ``dpproxy.budget``;
* ``catalog`` and ``pgcatalog``: pg_catalog/information_schema answered from the policy,
  on a separate empty DuckDB (catalog SQL never reaches the data);
* ``notices``: the NOTICE after each DP result and EXPLAIN's dry-run pricing;
* ``results`` and ``types``: outcomes, type OIDs, text and binary encodings;
* ``cli``: ``dpproxy serve`` and ``dpproxy passwd``.
"""
