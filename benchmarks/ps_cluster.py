"""An in-process ParameterServerStrategy cluster on localhost, for benchmarks and tests: this
process is the chief; one worker and ``num_ps`` parameter servers run as in-process servers on
ports the OS picks. Variables made in ``strategy.scope()`` are sharded by a
``FixedShardsPartitioner``, whose ``_num_shards`` may be changed between models."""

from __future__ import annotations

import socket
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("localhost", 0))
        return s.getsockname()[1]


def ps_cluster(shards: int, *, num_ps: int = 2) -> tuple[Any, Any]:
    """``(strategy, partitioner)``; the servers live as long as the strategy."""
    import tensorflow as tf

    spec = tf.train.ClusterSpec({
        "chief": [f"localhost:{free_port()}"],
        "worker": [f"localhost:{free_port()}"],
        "ps": [f"localhost:{free_port()}" for _ in range(num_ps)],
    })
    servers = [tf.distribute.Server(spec, job_name="worker", task_index=0, protocol="grpc", start=True)]
    servers += [tf.distribute.Server(spec, job_name="ps", task_index=i, protocol="grpc", start=True)
                for i in range(num_ps)]
    resolver = tf.distribute.cluster_resolver.SimpleClusterResolver(spec, rpc_layer="grpc", task_type="chief",
                                                                    task_id=0)
    partitioner = tf.distribute.experimental.partitioners.FixedShardsPartitioner(shards)
    strategy = tf.distribute.ParameterServerStrategy(resolver, variable_partitioner=partitioner)
    strategy._warmstart_servers = servers  # keep them alive with the strategy
    return strategy, partitioner
