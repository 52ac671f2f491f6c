"""The edge runtime: onnxruntime + OpenCV + numpy only (never torch).

    from digitedge.runtime import DigitClassifier, read_image, text_of
    clf = DigitClassifier()                       # shipped int8 model
    digits = clf.classify(read_image("page.jpg"))
    print(text_of(digits))
"""

from .classifier import DEFAULT_THRESHOLD, Digit, DigitClassifier, text_of
from .imageio import ImageError, read_image
from .model import OnnxModel, read_metadata

__all__ = ["DEFAULT_THRESHOLD", "Digit", "DigitClassifier", "ImageError", "OnnxModel", "read_image", "read_metadata",
           "text_of"]
