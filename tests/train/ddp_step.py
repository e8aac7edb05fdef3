"""Run by ``torch.distributed.run`` from test_loss_weighting_ddp.py: one optimizer step of ``star1 train``
(its real ``train()``) over several CPU processes, saving on rank 0 the gradients the optimizer is
about to apply and the logged loss.

    python -m torch.distributed.run --standalone --nproc_per_node 2 ddp_step.py CONFIG.json RESULT.pt
"""

import json
import os
import sys

import torch
from transformers import TrainerCallback

from star1.train.config import TrainConfig
from star1.train.run import train


class SaveGrads(TrainerCallback):
    def __init__(self, path: str):
        self.path = path

    def on_pre_optimizer_step(self, args, state, control, model=None, **kwargs):
        if int(os.environ.get("RANK", "0")) == 0:
            grads = {n: p.grad.detach().clone() for n, p in model.named_parameters() if p.grad is not None}
            torch.save({"grads": grads, "world_size": int(os.environ["WORLD_SIZE"])}, self.path + ".grads")


def main() -> None:
    config_path, result_path = sys.argv[1:3]
    torch.set_num_threads(1)
    config = TrainConfig(**json.loads(open(config_path, encoding="utf-8").read()))
    result = train(config, callbacks=[SaveGrads(result_path)], quiet=True)
    if result.trainer.is_world_process_zero():
        saved = torch.load(result_path + ".grads")
        saved["loss"] = next(e["loss"] for e in result.trainer.state.log_history if "loss" in e)
        saved["accumulation"] = result.resolved.accumulation
        saved["processes"] = result.trainer.accelerator.num_processes
        torch.save(saved, result_path)


if __name__ == "__main__":
    main()
