"""Training on a site's own data: splits, datasets, loops and the training CLI.

- ``splits``: patient-grouped, label-stratified train/validation/test splits and k-fold.
"""

from ankle_core.training.splits import Split, group_kfold, split_grouped

__all__ = ["Split", "group_kfold", "split_grouped"]
