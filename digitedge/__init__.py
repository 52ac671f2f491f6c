"""digitedge: handwritten-digit classification from MNIST training to int8 ONNX at the edge."""

__version__ = "0.1.0"
