"""Fracture centre-heat-map localiser on ImageNet MobileNetV2 (``centernet_mobilenet_v2``).

A CenterNet-style network (Zhou et al., "Objects as Points", 2019) built for CPU training on
cached features:

- ``features[0:14]`` of torchvision's MobileNetV2 (ImageNet, frozen, ``FrozenBatchNorm2d``)
  give the stride-8 map ``c3`` (``features[6]``, 32 channels) and the stride-16 map
  ``c4`` (``features[13]``, 96 channels). These two are what the trainer caches.
- ``features[14:18]`` (ImageNet-initialised, trained, BatchNorm frozen) give ``c5``
  (stride 32, 320 channels).
- A small top-down pyramid merges c5 -> c4 -> c3 at stride 8, where a head predicts a
  fracture-centre heat map (1 channel, logits), box size (2: log of width and height in
  stride-8 cells) and the centre's sub-cell offset (2: x, y in cells).
- An image head reads global average and max pooling of ``c5`` plus the heat map's largest
  logit and gives one image-level fracture logit.
- Ensemble (``members`` k > 1, card ``architecture_params``): k trained parts (blocks
  ``frozen_blocks``-17, pyramid, tower, heads, image head) share the frozen trunk; the
  outputs are the members' means (heat-map logits, log sizes, offsets, image logits).
  :func:`merge_member_states` builds its weights from k single-model runs.
- ``frozen_blocks`` (card ``architecture_params``, default 14): 14 freezes ``features[0:14]``
  (the cached-map recipe); 7 freezes only the stem ``features[0:7]``, so blocks 7-13 are
  trained too (the recipe trained on freshly augmented pixels) and each member computes its
  own ``c4`` from the shared ``c3``.

- Score members (``score_members`` m > 0, card ``architecture_params``): a second ensemble of
  m members (``score_net``, with its own ``score_frozen_blocks``) that reads the same frozen
  stem ``c3`` and adds one image-level output only, its own ``(sigmoid(image logit) +
  sigmoid(largest heat-map logit)) / 2``: the boxes, sizes, offsets and Grad-CAM stay the
  box ensemble's. :func:`score_member_state` builds its weights. It lets a family of runs
  that scores images better but places boxes worse join the image score alone.

``heads(c3, c4)`` is the whole trained part, so cached-map evaluation works unchanged (with
``frozen_blocks`` 7, ``c4`` is not needed and is ignored); :meth:`FractureHeatmapNet.
member_c4s` and :meth:`FractureHeatmapNet.heads_from_c4s` split it at each member's ``c4``
for the Grad-CAM.

Input: (B, 3, S, S) ImageNet-normalised, S a multiple of 32 (see :func:`prepare_input`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torchvision.models import mobilenet_v2
from torchvision.ops import nms
from torchvision.ops.misc import FrozenBatchNorm2d

from ankle_core.models.registry import register_architecture

__all__ = [
    "FROZEN_BLOCKS",
    "FROZEN_CHOICES",
    "FractureHeatmapNet",
    "HeatmapDetections",
    "HeatmapMember",
    "PreparedInput",
    "build_fracture_heatmap_net",
    "decode_heatmap",
    "merge_member_states",
    "prepare_input",
    "score_member_state",
]

#: MobileNetV2 ``features`` blocks that stay frozen by default (their outputs are cached for
#: training).
FROZEN_BLOCKS = 14
#: The allowed ``frozen_blocks``: the cached-map recipe (14) or a frozen stem only (7; ``c3``
#: is ``features[6]``'s output, the last map every member shares).
FROZEN_CHOICES = (7, FROZEN_BLOCKS)
_MEAN = (0.485, 0.456, 0.406)
_STD = (0.229, 0.224, 0.225)


class _HeadLayers(nn.Module):
    """The trained layers after ``c5`` of one member: pyramid, tower, heads and image head."""

    def _init_head_layers(self, width: int, dropout: float) -> None:
        self.lat3 = nn.Conv2d(32, width, 1)
        self.lat4 = nn.Conv2d(96, width, 1)
        self.lat5 = nn.Conv2d(320, width, 1)
        self.tower = nn.Sequential(
            nn.Conv2d(width, width, 3, padding=1),
            nn.GroupNorm(8, width),
            nn.ReLU(inplace=True),
            nn.Conv2d(width, width, 3, padding=1),
            nn.GroupNorm(8, width),
            nn.ReLU(inplace=True),
        )
        self.heat = nn.Conv2d(width, 1, 1)
        self.size = nn.Conv2d(width, 2, 1)
        self.offset = nn.Conv2d(width, 2, 1)
        self.dropout = nn.Dropout(dropout)
        self.image_fc = nn.Linear(2 * 320 + 1, 1)
        with torch.no_grad():
            self.heat.bias.fill_(-4.6)  # type: ignore[union-attr]  # prior 0.01 (focal loss)
            self.size.weight.zero_()
            self.size.bias.fill_(1.5)  # type: ignore[union-attr]  # e^1.5 cells = 36 px
            self.offset.weight.zero_()
            self.offset.bias.fill_(0.5)  # type: ignore[union-attr]

    def _member_heads(
        self, blocks: nn.Module, c3: torch.Tensor, c4: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        c5 = blocks(c4)
        p5 = self.lat5(c5)
        p4 = self.lat4(c4) + F.interpolate(p5, size=c4.shape[-2:], mode="nearest")
        p3 = self.lat3(c3) + F.interpolate(p4, size=c3.shape[-2:], mode="nearest")
        t = self.tower(p3)
        heat = self.heat(t)
        pooled = torch.cat([c5.mean(dim=(2, 3)), c5.amax(dim=(2, 3)), heat.amax(dim=(2, 3))], dim=1)
        image_logit = self.image_fc(self.dropout(pooled)).squeeze(1)
        return heat, self.size(t), self.offset(t), image_logit


class HeatmapMember(_HeadLayers):
    """One further ensemble member: its own ``features[frozen_blocks:18]`` and head layers.

    Args:
        width: channels of the pyramid and head.
        dropout: dropout before the image head's linear layer.
        frozen_blocks: first block this member owns (see :data:`FROZEN_CHOICES`).
    """

    def __init__(
        self, width: int = 48, dropout: float = 0.3, frozen_blocks: int = FROZEN_BLOCKS
    ) -> None:
        super().__init__()
        _check_frozen(frozen_blocks)
        self.frozen_blocks = frozen_blocks
        self.blocks: nn.Sequential = mobilenet_v2(
            weights=None, norm_layer=FrozenBatchNorm2d
        ).features[frozen_blocks:18]
        self._init_head_layers(width, dropout)

    def own_c4(self, c3: torch.Tensor, c4a: torch.Tensor | None) -> torch.Tensor:
        """This member's ``c4``: its own blocks 7-13 on ``c3``, or the shared ``c4a``."""
        if self.frozen_blocks < FROZEN_BLOCKS:
            return self.blocks[: FROZEN_BLOCKS - self.frozen_blocks](c3)  # type: ignore[no-any-return]
        return _shared_c4(c4a)

    def heads_from_c4(
        self, c3: torch.Tensor, c4: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """This member's ``(heat, size, offset, image_logit)`` from ``c3`` and its ``c4``."""
        return self._member_heads(self.blocks[FROZEN_BLOCKS - self.frozen_blocks :], c3, c4)

    def member_heads(
        self, c3: torch.Tensor, c4a: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """This member's ``(heat, size, offset, image_logit)`` from the shared frozen maps."""
        return self.heads_from_c4(c3, self.own_c4(c3, c4a))


def _check_frozen(frozen_blocks: int) -> None:
    if frozen_blocks not in FROZEN_CHOICES:
        raise ValueError(f"frozen_blocks must be one of {FROZEN_CHOICES}, got {frozen_blocks}.")


def _shared_c4(c4a: torch.Tensor | None) -> torch.Tensor:
    """The shared frozen ``c4a`` of a network that freezes blocks 7-13."""
    if c4a is None:
        raise ValueError("this network freezes blocks 7-13: heads() needs their map c4a.")
    return c4a


class FractureHeatmapNet(_HeadLayers):
    """Centre heat map, box size, offset and image logit from a radiograph.

    With ``members`` k > 1 the network is an ensemble of k trained parts on one shared frozen
    trunk (``features[0:frozen_blocks]``): member 0 is ``features[frozen_blocks:18]`` plus
    this module's own head layers (the k = 1 layout, so a single model's weights load
    unchanged); members 1..k-1 are :class:`HeatmapMember` modules in ``extra_members``. Every
    output is the members' mean of the heat-map logits, log sizes, offsets and image logits.

    Args:
        width: channels of the pyramid and head.
        dropout: dropout before the image head's linear layer.
        members: ensemble size k (1: a single model).
        frozen_blocks: MobileNetV2 blocks shared and frozen (see :data:`FROZEN_CHOICES`).
        score_members: size of the image-score-only ensemble (0: none; see the module
            docstring). :meth:`forward` then returns a fifth output.
        score_frozen_blocks: that ensemble's ``frozen_blocks``.
    """

    def __init__(
        self,
        width: int = 48,
        dropout: float = 0.3,
        members: int = 1,
        frozen_blocks: int = FROZEN_BLOCKS,
        score_members: int = 0,
        score_frozen_blocks: int = FROZEN_BLOCKS,
    ) -> None:
        super().__init__()
        if members < 1:
            raise ValueError(f"members must be at least 1, got {members}.")
        if score_members < 0:
            raise ValueError(f"score_members must be 0 or more, got {score_members}.")
        _check_frozen(frozen_blocks)
        self.frozen_blocks = frozen_blocks
        self.features: nn.Sequential = mobilenet_v2(
            weights=None, norm_layer=FrozenBatchNorm2d
        ).features[:18]
        self._init_head_layers(width, dropout)
        self.extra_members = nn.ModuleList(
            [HeatmapMember(width, dropout, frozen_blocks) for _ in range(members - 1)]
        )
        for p in self.features[:frozen_blocks].parameters():
            p.requires_grad_(False)
        self.score_net: FractureHeatmapNet | None = None
        if score_members:
            self.score_net = FractureHeatmapNet(
                width, dropout, members=score_members, frozen_blocks=score_frozen_blocks
            )
            self.score_net.requires_grad_(False)

    @property
    def members(self) -> int:
        """Ensemble size k."""
        return 1 + len(self.extra_members)

    def frozen_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``c3`` (B, 32, S/8, S/8) and ``c4`` (B, 96, S/16, S/16) of ``features[7:14]``.

        With ``frozen_blocks`` 14 both are frozen (what the trainer caches); with 7 only
        ``c3`` is, and ``c4`` is member 0's (:meth:`heads` recomputes each member's).
        """
        c3 = self.features[:7](x)
        c4a = self.features[7:FROZEN_BLOCKS](c3)
        return c3, c4a

    def shared_maps(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What every member shares: ``c3``, and ``c4`` when blocks 7-13 are frozen (else None).

        :meth:`heads` and :meth:`member_c4s` take exactly these; a frozen-stem network does
        not run blocks 7-13 here, since each member runs its own.
        """
        if self.frozen_blocks == FROZEN_BLOCKS:
            return self.frozen_maps(x)
        return self.features[:7](x), None

    def _extra(self) -> list[HeatmapMember]:
        out = []
        for member in self.extra_members:
            if not isinstance(member, HeatmapMember):  # ModuleList items are typed loosely
                raise TypeError("extra_members holds a module that is not a HeatmapMember.")
            out.append(member)
        return out

    def member_c4s(self, c3: torch.Tensor, c4a: torch.Tensor | None) -> list[torch.Tensor]:
        """Each member's ``c4``; with ``frozen_blocks`` 14 it is the one shared ``c4a``."""
        if self.frozen_blocks == FROZEN_BLOCKS:
            return [_shared_c4(c4a)] * self.members
        own = [self.features[7:FROZEN_BLOCKS](c3)]
        return own + [m.own_c4(c3, c4a) for m in self._extra()]

    def heads_from_c4s(
        self, c3: torch.Tensor, c4s: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """:meth:`heads` from ``c3`` and each member's ``c4`` (see :meth:`member_c4s`)."""
        if len(c4s) != self.members:
            raise ValueError(f"expected {self.members} c4 maps, got {len(c4s)}.")
        outs = [self._member_heads(self.features[FROZEN_BLOCKS:18], c3, c4s[0])]
        outs += [m.heads_from_c4(c3, c4) for m, c4 in zip(self._extra(), c4s[1:], strict=True)]
        if len(outs) == 1:
            return outs[0]
        heat, size, offset, image_logit = (
            torch.stack([o[j] for o in outs]).mean(dim=0) for j in range(4)
        )
        return heat, size, offset, image_logit

    def heads(
        self, c3: torch.Tensor, c4a: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """The trained part, from the frozen maps (cached during training).

        Args:
            c3: stride-8 map of the frozen stem.
            c4a: stride-16 map of the frozen blocks 7-13; ignored (may be None) when
                ``frozen_blocks`` is 7, as every member then computes its own.

        Returns:
            ``(heat, size, offset, image_logit)``: heat-map logits (B, 1, S/8, S/8), log box
            size in cells (B, 2, S/8, S/8; width, height), centre offset in cells
            (B, 2, S/8, S/8; x, y) and image-level logits (B,); for an ensemble, each is the
            members' mean.
        """
        return self.heads_from_c4s(c3, self.member_c4s(c3, c4a))

    def score_members_score(self, c3: torch.Tensor) -> torch.Tensor:
        """The score members' image score (B,) in [0, 1] from the shared stem's map ``c3``.

        ``(sigmoid(image logit) + sigmoid(largest heat-map logit)) / 2`` of the score
        ensemble's mean outputs: its "mean" image-score rule. Only the stem is shared (what
        :func:`score_member_state` checks): score members that froze blocks 7-13 too run
        their own copy of them.

        Raises:
            ValueError: the network has no score members.
        """
        score = self.score_net
        if score is None:
            raise ValueError("this network has no score members.")
        c4a = score.features[7:FROZEN_BLOCKS](c3) if score.frozen_blocks == FROZEN_BLOCKS else None
        heat, _, _, logit = score.heads(c3, c4a)
        top = heat.flatten(1).amax(dim=1)
        return (torch.sigmoid(logit) + torch.sigmoid(top)) / 2

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, ...]:
        """``x`` (B, 3, S, S) normalised; returns :meth:`heads`' four tensors.

        With score members a fifth follows: :meth:`score_members_score` (B,).
        """
        c3, c4a = self.shared_maps(x)
        out = self.heads(c3, c4a)
        if self.score_net is None:
            return out
        return (*out, self.score_members_score(c3))


def merge_member_states(
    states: Sequence[Mapping[str, torch.Tensor]], frozen_blocks: int = FROZEN_BLOCKS
) -> dict[str, torch.Tensor]:
    """One ensemble state dict from k single-model (``members=1``) state dicts.

    The first state keeps its keys (member 0); state i > 0 goes to ``extra_members.{i-1}``:
    ``features.{n}.*`` (n >= ``frozen_blocks``) becomes ``blocks.{n}.*`` (the slice keeps
    MobileNetV2's block numbers) and every head layer keeps its name. The frozen trunk
    (``features[0:frozen_blocks]``) must be identical in all of them: it is shared.

    Args:
        states: k state dicts of :class:`FractureHeatmapNet` with ``members=1``.
        frozen_blocks: the ensemble's shared frozen blocks (see :data:`FROZEN_CHOICES`).

    Returns:
        A state dict for ``FractureHeatmapNet(members=k, frozen_blocks=frozen_blocks)``.

    Raises:
        ValueError: no state, or the frozen trunks differ.
    """
    _check_frozen(frozen_blocks)
    if not states:
        raise ValueError("merge_member_states needs at least one state dict.")
    first = states[0]
    merged = dict(first)
    frozen = [k for k in first if (b := _block_index(k)) is not None and b < frozen_blocks]
    for i, state in enumerate(states[1:]):
        for key in frozen:
            if not torch.equal(state[key], first[key]):
                raise ValueError(f"member {i + 1} has another frozen trunk ({key} differs).")
        for key, value in state.items():
            block = _block_index(key)
            if block is None:
                merged[f"extra_members.{i}.{key}"] = value
            elif block >= frozen_blocks:
                rest = key.split(".", 2)[2]
                merged[f"extra_members.{i}.blocks.{block}.{rest}"] = value
    return merged


def score_member_state(
    box_state: Mapping[str, torch.Tensor], score_state: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """The state dict of a network with score members, from its two ensembles' states.

    Args:
        box_state: state of the box ensemble (``FractureHeatmapNet`` without score members).
        score_state: state of the score ensemble (e.g. from :func:`merge_member_states`).

    Returns:
        ``box_state`` plus ``score_state`` under ``score_net.``.

    Raises:
        ValueError: the two stems (``features[0:7]``, which only the box ensemble runs)
            differ.
    """
    for key, value in score_state.items():
        block = _block_index(key)
        if block is not None and block < 7 and not torch.equal(value, box_state[key]):
            raise ValueError(f"the score members have another stem ({key} differs).")
    return {**box_state, **{f"score_net.{k}": v for k, v in score_state.items()}}


def _block_index(key: str) -> int | None:
    """``features.<n>.*`` -> n; None for a head-layer key."""
    parts = key.split(".")
    return int(parts[1]) if parts[0] == "features" else None


@register_architecture("centernet_mobilenet_v2")
def build_fracture_heatmap_net(
    width: int = 48,
    dropout: float = 0.3,
    input_side: int = 384,
    members: int = 1,
    frozen_blocks: int = FROZEN_BLOCKS,
    score_members: int = 0,
    score_frozen_blocks: int = FROZEN_BLOCKS,
) -> FractureHeatmapNet:
    """Build the network (random weights; the trainer copies ImageNet MobileNetV2 in).

    Args:
        width: pyramid and head channels.
        dropout: image-head dropout.
        input_side: square input side, pixels (recorded in the card; a multiple of 32).
        members: ensemble size k (card ``architecture_params["members"]``; 1: single model).
        frozen_blocks: shared frozen MobileNetV2 blocks (card
            ``architecture_params["frozen_blocks"]``; see :data:`FROZEN_CHOICES`).
        score_members: image-score-only members (card ``architecture_params
            ["score_members"]``; 0: none).
        score_frozen_blocks: their ``frozen_blocks`` (card ``architecture_params
            ["score_frozen_blocks"]``).
    """
    if input_side % 32:
        raise ValueError(f"input_side must be a multiple of 32, got {input_side}.")
    return FractureHeatmapNet(
        width=width,
        dropout=dropout,
        members=members,
        frozen_blocks=frozen_blocks,
        score_members=score_members,
        score_frozen_blocks=score_frozen_blocks,
    )


@dataclass(frozen=True)
class PreparedInput:
    """A radiograph resized and padded for the network.

    Attributes:
        tensor: (1, 3, S, S) float32, ImageNet-normalised, zero padding at right/bottom.
        scale: network pixels per input pixel.
        shape: the input radiograph's (H, W).
    """

    tensor: torch.Tensor
    scale: float
    shape: tuple[int, int]


def prepare_input(pixels: np.ndarray, side: int = 384) -> PreparedInput:
    """Resize (long side = ``side``, bilinear, antialiased), normalise and pad a radiograph.

    Args:
        pixels: (H, W) grey values in [0, 1], bone bright.
        side: network input side, pixels.

    Returns:
        The :class:`PreparedInput`.
    """
    img = torch.tensor(np.asarray(pixels, dtype=np.float32))[None, None]
    h, w = int(img.shape[-2]), int(img.shape[-1])
    scale = side / max(h, w)
    nh, nw = max(1, min(side, round(h * scale))), max(1, min(side, round(w * scale)))
    img = F.interpolate(img, size=(nh, nw), mode="bilinear", antialias=True, align_corners=False)
    img = img.clamp(0.0, 1.0).expand(1, 3, nh, nw)
    mean = torch.tensor(_MEAN).view(1, 3, 1, 1)
    std = torch.tensor(_STD).view(1, 3, 1, 1)
    out = torch.zeros(1, 3, side, side)
    out[:, :, :nh, :nw] = (img - mean) / std
    return PreparedInput(out, scale, (h, w))


@dataclass(frozen=True)
class HeatmapDetections:
    """Decoded boxes of one image, by score (descending).

    Attributes:
        boxes: (N, 4) float32 (x0, y0, x1, y1), pixels of the network input.
        scores: (N,) float32 heat-map probabilities.
        cells: (N, 2) int64 heat-map cell (row, column) of each box's peak.
    """

    boxes: np.ndarray
    scores: np.ndarray
    cells: np.ndarray


def decode_heatmap(
    heat: torch.Tensor,
    size: torch.Tensor,
    offset: torch.Tensor,
    *,
    stride: int = 8,
    top_k: int = 20,
    nms_iou: float = 0.5,
    min_score: float = 0.0,
) -> HeatmapDetections:
    """Peaks of one heat map (3x3 local maxima) to boxes, then NMS.

    Args:
        heat: (1, H, W) logits.
        size: (2, H, W) log width and height in cells.
        offset: (2, H, W) centre offset in cells (x, y).
        stride: input pixels per cell.
        top_k: most peaks kept (before NMS).
        nms_iou: NMS IoU threshold.
        min_score: lowest probability kept.

    Returns:
        :class:`HeatmapDetections` in network-input pixels.
    """
    prob = torch.sigmoid(heat.float())
    peaks = prob == F.max_pool2d(prob[None], 3, stride=1, padding=1)[0]
    flat = (prob * peaks).flatten()
    k = min(top_k, int(flat.numel()))
    scores, idx = flat.topk(k)
    keep = scores > min_score
    scores, idx = scores[keep], idx[keep]
    w_cells = int(heat.shape[-1])
    rows, cols = idx // w_cells, idx % w_cells
    cx = (cols.float() + offset[0].flatten()[idx].float()) * stride
    cy = (rows.float() + offset[1].flatten()[idx].float()) * stride
    bw = size[0].flatten()[idx].float().clamp(-2.0, 5.0).exp() * stride
    bh = size[1].flatten()[idx].float().clamp(-2.0, 5.0).exp() * stride
    boxes = torch.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], dim=1)
    if len(boxes):
        kept = nms(boxes, scores, nms_iou)
        boxes, scores, rows, cols = boxes[kept], scores[kept], rows[kept], cols[kept]
    return HeatmapDetections(
        boxes=boxes.detach().numpy().astype(np.float32),
        scores=scores.detach().numpy().astype(np.float32),
        cells=torch.stack([rows, cols], dim=1).numpy().astype(np.int64),
    )
