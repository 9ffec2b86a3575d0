"""Context parallelism on torch.distributed (gloo): 2 and 4 processes each rotate their shard
of a packed batch (load-balanced two-chunk split, sequences of different lengths); the
all-gathered forward result and gradient equal rotating the whole batch in one process."""
import os
import sys

import pytest
import torch.distributed
import torch.multiprocessing as mp

sys.path.insert(0, os.path.dirname(__file__))
import _cp_worker  # noqa: E402

pytestmark = pytest.mark.skipif(not torch.distributed.is_gloo_available(), reason="torch has no gloo backend")


# forkserver: one server process imports torch and rotary once (it runs no kernel, so it has
# no threads), and every rank forks from it: seconds, not an interpreter start per rank.
mp.set_forkserver_preload(["torch", "rotary", "_cp_worker"])


@pytest.mark.parametrize("world_size", [2, 4])
def test_sharded_equals_whole(world_size, tmp_path):
    mp.start_processes(_cp_worker.run, args=(world_size, str(tmp_path / "init")), nprocs=world_size,
                       start_method="forkserver")
