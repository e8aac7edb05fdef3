"""star1: STAR-1 safety alignment of reasoning models, end to end.

The command line (``star1 --help``) is a thin layer over this package:
``star1.engines`` (model calls), ``star1.policies``, ``star1.pipeline`` (classify, deliberate,
score, select, benign), ``star1.collect``, ``star1.train`` and ``star1.eval``.
"""

__version__ = "0.1.0"
