"""The momentum-distilled ITC step that pretraining and retrieval fine-tuning share."""

from __future__ import annotations

import torch

from blipctl.models.protocols import MomentumContrastive
from blipctl.objectives.gather import gather
from blipctl.objectives.itc import ITCLoss, enqueue_


def momentum_itc(model: MomentumContrastive, images: torch.Tensor, ids: torch.Tensor,
                 mask: torch.Tensor, itc: ITCLoss, alpha: float, image_ids: torch.Tensor | None = None):
    """Encodes images and texts, EMA-updates the momentum copies, computes ITC against the
    momentum features and queues, then enqueues the world batch's momentum features.

    Returns image tokens (B, N, D), the ITC loss, and sim_i2t, sim_t2i (B, W*B) for ITM.
    """
    with torch.no_grad():
        model.temp.clamp_(0.001, 0.5)
    image = model.encode_image(images)  # (B, N, D)
    image_feat = model.image_features(image)  # (B, E)
    text_feat = model.text_features(ids, mask)
    with torch.no_grad():
        model.momentum_update()
        image_feat_m, text_feat_m = model.momentum_features(images, ids, mask)
    id_queue = model.idx_queue.view(-1) if image_ids is not None else None
    loss, sim_i2t, sim_t2i = itc(image_feat, text_feat, model.temp, image_feat_m, text_feat_m,
                                 model.image_queue, model.text_queue, alpha=alpha,
                                 image_ids=image_ids, id_queue=id_queue)
    queues, values = [model.image_queue, model.text_queue], [gather(image_feat_m), gather(text_feat_m)]
    if image_ids is not None:
        queues.append(model.idx_queue)
        values.append(gather(image_ids))
    enqueue_(model.ptr_queue, queues, values)
    return image, loss, sim_i2t, sim_t2i
