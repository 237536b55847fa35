"""The bug hypotheses of the layers that make a network a graph (``cases.graph_layers``),
in the form of ``sequence_hypotheses.LAYER_BUGS`` (finding kind, changes the forward too,
override, what it says after "layer i (kind): "): attention's softmax backward over the
wrong axis, its 1/√d forgotten in backward, its causal mask leaking gradient; a residual
block whose branch's gradient is not added to the skip path, or whose skip path's is dropped;
multi-head attention whose backward splits or joins the heads' gradients without the transpose,
or scales the scores' gradient without 1/√d_head or by 1/√E.
"""

from __future__ import annotations

from conformance.oracles import graph_whatif as bugs

#: Hypotheses that only a causal attention can show (a plain one has no mask to leak through).
CAUSAL_ONLY = frozenset({"attention_mask_leaks_gradient"})

GRAPH_LAYER_BUGS = {
    "attention": [("attention_softmax_wrong_axis", False, bugs.attention_bug("wrong_axis"),
                   "softmax backward summed over the wrong axis (the queries', where each row's softmax runs "
                   "over the keys)"),
                  ("attention_scale_missing_in_backward", False, bugs.attention_bug("no_scale"),
                   "the 1/√d scale is left out of the scores' gradient in backward (the forward applies it)"),
                  ("attention_mask_leaks_gradient", False, bugs.attention_bug("mask_leak"),
                   "the causal mask leaks gradient: backward goes through the unmasked softmax, so the masked "
                   "(future) positions receive gradient")],
    "residual": [("residual_branch_not_added", False, bugs.residual_branch_not_added,
                  "the inner branch's gradient is not added to the skip path (the block's input gets only the "
                  "upstream gradient)"),
                 ("residual_skip_not_added", False, bugs.residual_skip_not_added,
                  "the skip path's gradient is not added to the inner branch's (the block's input gets only the "
                  "branch's gradient, where the upstream gradient plus the branch's is due)")],
    "multihead_attention": [
        ("multihead_heads_joined_wrong", False, bugs.multihead_heads_joined_wrong,
         "backward moves the gradient between (batch, seq, E) and (batch, heads, seq, d_head) by a reshape "
         "without the heads' transpose: each head's gradient lands on another head's features"),
        ("multihead_scale_missing_in_backward", False, bugs.multihead_scale("missing"),
         "the 1/√d_head scale is left out of the scores' gradient in backward (the forward applies it)"),
        ("multihead_scale_of_model_in_backward", False, bugs.multihead_scale("model"),
         "backward scales the scores' gradient by 1/√E (the model's width) where 1/√d_head (the head's) is "
         "due")],
}


def applies(kind: str, layer) -> bool:
    """Whether hypothesis ``kind`` can show at this layer."""
    return kind not in CAUSAL_ONLY or getattr(layer, "causal", False)
