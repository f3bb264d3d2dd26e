"""Synthetic LLM API request logs with ground-truth labels.

Deterministic given ``Scenario.seed``.  Emits contract-v1 events
(``shared/spec/api-request-v1.md``) from benign archetypes (chat apps, RAG apps,
coding agents, batch jobs, eval runners) and harvesting archetypes (reasoning
and logprob harvesters, template sweepers, hydra networks, low-and-slow
accounts, compromised keys).  See :mod:`simulator.archetypes` for the rate table.

>>> from simulator import Scenario, accounts, generate
>>> sc = Scenario(seed=1, hours=0.1, scale=0.05)
>>> len(accounts(sc)) > 10
True
>>> t, acct, raw = next(generate(sc))
>>> raw.startswith(b'{"request_id":')
True
"""

from .generate import accounts, generate
from .io import write_file, write_kafka
from .scenario import AccountLabel, Scenario

__all__ = ["AccountLabel", "Scenario", "accounts", "generate", "write_file", "write_kafka"]
