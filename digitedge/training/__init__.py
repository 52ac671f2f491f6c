"""Training side (PyTorch): data, model, training loop, reports. Only `data` works without torch."""
