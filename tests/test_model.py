"""SimpleCNN is exactly the paper's Table 1."""

import torch

from digitedge.training.model import SimpleCNN

# Table 1: (layer, output shape, parameters)
TABLE_1 = [
    ("conv1", (1, 32, 28, 28), 320),
    ("pool", (1, 32, 14, 14), 0),
    ("conv2", (1, 64, 14, 14), 18_496),
    ("pool", (1, 64, 7, 7), 0),
    ("conv3", (1, 128, 7, 7), 73_856),
    ("fc1", (1, 128), 802_944),
    ("fc2", (1, 10), 1_290),
]


def test_parameter_count_matches_the_paper():
    model = SimpleCNN()
    assert sum(p.numel() for p in model.parameters()) == 896_906
    assert all(p.requires_grad for p in model.parameters())


def test_every_layer_output_shape_and_parameters_match_table_1():
    model = SimpleCNN().eval()
    seen = []
    hooks = [m.register_forward_hook(lambda mod, inp, out, name=name: seen.append((name, tuple(out.shape))))
             for name, m in model.named_children() if name in ("conv1", "conv2", "conv3", "fc1", "fc2", "pool")]
    with torch.no_grad():
        out = model(torch.rand(1, 1, 28, 28))
    for h in hooks:
        h.remove()
    assert out.shape == (1, 10)
    assert seen == [(name, shape) for name, shape, _ in TABLE_1]
    for name, _, params in TABLE_1:
        assert sum(p.numel() for p in getattr(model, name).parameters()) == params


def test_normalisation_is_inside_the_model():
    """A blank [0, 1] image and its normalised twin must not give the same logits: the model normalises."""
    model = SimpleCNN().eval()
    x = torch.zeros(1, 1, 28, 28)
    with torch.no_grad():
        a = model(x)
        b = model((x - 0.1307) / 0.3081)
    assert not torch.allclose(a, b)
