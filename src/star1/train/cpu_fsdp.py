"""FSDP over CPU processes (gloo) through ``accelerate launch --config_file configs/accelerate/fsdp.yaml``.

accelerate (1.16, read in ``accelerate/state.py``) turns a launch's ``ACCELERATE_USE_FSDP`` into
``DistributedType.FSDP`` only inside its branch for accelerator devices (MULTI_GPU, MULTI_XPU, ...).
Processes on CPUs are MULTI_CPU, so the same launch silently trains plain DDP: measured here, the
checkpoint held ``model.safetensors`` + ``optimizer.pt`` instead of FSDP's ``pytorch_model_fsdp.bin``,
and DDP warned about ``find_unused_parameters``. torch's FSDP2 (``fully_shard``) itself runs over gloo.

:func:`honour_fsdp_launch` lets accelerate take that branch on CPU processes: before the Trainer builds
its ``Accelerator``, the already initialised process state (gloo, device ``cpu``) is marked as the
accelerator kind the FSDP branch reads; accelerate then records the run as FSDP, keeps the CPU device
and shards with FSDP2 as on GPUs. It does nothing on GPUs, outside an FSDP launch, or once the state
is built. DeepSpeed needs no such step: its branch does not look at the device kind.
"""

from __future__ import annotations

import os


def fsdp_launch() -> bool:
    """Launched by ``accelerate launch`` with an FSDP config (the launcher sets this variable)."""
    return os.environ.get("ACCELERATE_USE_FSDP", "false").lower() == "true"


def honour_fsdp_launch() -> bool:
    """On CPU processes of an FSDP launch, make accelerate build FSDP instead of DDP. True if it did."""
    if not fsdp_launch():
        return False
    from accelerate.state import AcceleratorState, PartialState
    from accelerate.utils import DistributedType

    shared = PartialState._shared_state
    if shared.get("distributed_type") != DistributedType.MULTI_CPU or AcceleratorState._shared_state:
        return False
    shared["distributed_type"] = DistributedType.MULTI_GPU  # read once, by AcceleratorState, which sets FSDP
    return True
