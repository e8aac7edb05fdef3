"""STAR-1 safety policies: categories with definitions, objectives and numbered rules.

The bundled pack (``default/``) defines the 8 STAR-1 categories plus "Other". The teacher model
reads the policies of a prompt's categories (:meth:`PolicyPack.render`) and cites rules as
``"<Category> rule <n>"``; the classifier sees :meth:`PolicyPack.summary`; labels from source
datasets and model output are mapped with :meth:`PolicyPack.normalise`. A user pack is a folder
with the same layout, passed to :func:`load_policy_pack`.
"""

from star1.policies.loader import load_policy_pack, pack_hash
from star1.policies.pack import (
    ACTIONS,
    CATEGORY_NAMES,
    OTHER,
    Policy,
    PolicyPack,
    Rule,
    UnknownCategory,
)

__all__ = [
    "ACTIONS",
    "CATEGORY_NAMES",
    "OTHER",
    "Policy",
    "PolicyPack",
    "Rule",
    "UnknownCategory",
    "load_policy_pack",
    "pack_hash",
]
