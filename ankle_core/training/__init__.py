"""Training on a site's own data: recipes (config in, card out), splits, datasets, loops.

- ``detector``, ``classifier``, ``ct``: the recipes, each a frozen ``...Config`` and a
  ``train_...(config) -> ModelCard`` that writes the model folder; ``phantom_eval``
  measures installed radiograph models on fresh phantoms; ``recipe``: what they share.
- ``radiograph_cli``, ``ct_cli``: ``python -m ankle_core.training ...``; they only parse
  flags into a recipe's config (field name = flag name).
- ``splits``: patient-grouped, label-stratified train/validation/test splits and k-fold.
- ``loop``, ``loaders``, ``distributed``: the epoch loop, the recipes' ``DataLoader``s
  (loader workers, rank-aware samplers) and the data-parallel helpers (``--devices N``
  through Ray Train, :func:`~ankle_core.training.recipe.run_recipe`).
"""

from ankle_core.training.splits import Split, group_kfold, split_grouped

__all__ = ["Split", "group_kfold", "split_grouped"]
