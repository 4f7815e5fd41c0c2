# A PyTorchJob replica as users write them: torch.distributed with init_method="env://" reads
# MASTER_ADDR, MASTER_PORT, WORLD_SIZE and RANK from what the operator (here ringmaster) injected,
# then every rank allreduces rank + 1; with N ranks each must see N (N + 1) / 2.
import datetime
import os

import torch
import torch.distributed as dist

dist.init_process_group(backend="gloo", init_method="env://", timeout=datetime.timedelta(seconds=60))
rank, world = dist.get_rank(), dist.get_world_size()
t = torch.tensor([float(rank + 1)])
dist.all_reduce(t)
print(f"torch rank={rank} world={world} sum={t.item():g} nnodes={os.environ.get('PET_NNODES')}", flush=True)
dist.destroy_process_group()
