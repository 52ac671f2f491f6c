"""SimpleCNN is exactly the paper's Table 1."""

import torch

from digitedge.training.model import MNIST_MEAN, MNIST_STD, SimpleCNN

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


def layers(model, x):
    """SimpleCNN's layers without its first line (the normalisation)."""
    x = model.pool(model.relu(model.conv1(x)))
    x = model.pool(model.relu(model.conv2(x)))
    x = model.relu(model.conv3(x))
    return model.fc2(model.relu(model.fc1(torch.flatten(x, 1))))


def test_normalisation_is_inside_the_model():
    """forward(x) on [0, 1] pixels is the layers applied to (x - mean) / std, and not the layers applied to x: a model
    that dropped (or doubled) its normalisation fails here, so no consumer has to normalise."""
    torch.manual_seed(0)
    model = SimpleCNN().eval()
    x = torch.rand(8, 1, 28, 28)
    with torch.no_grad():
        out, normalised, raw = model(x), layers(model, (x - MNIST_MEAN) / MNIST_STD), layers(model, x)
    torch.testing.assert_close(out, normalised, rtol=0, atol=1e-5)
    assert (out - raw).abs().max() > 1e-2, "forward must normalise its input"
