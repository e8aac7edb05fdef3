"""Supervised fine-tuning on STAR data: faithful rendering (reasoning kept), padding-free packing, paper
defaults. Entry points: ``star1 train`` (:mod:`star1.train.cli`) and :func:`star1.train.run.train`."""
