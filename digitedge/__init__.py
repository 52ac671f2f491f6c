"""digitedge: handwritten-digit classification from MNIST training to int8 ONNX at the edge."""

import os

__version__ = "0.1.0"

# OpenCV reads its decompression-bomb limit once, when cv2 is first imported (its default is ~1 G pixels:
# a 20000x20000 JPEG would take 2.4 GB before being refused). Every digitedge module is imported after
# this package, so setting it here is before any cv2 import of ours. 67 MP is beyond any phone photo.
MAX_IMAGE_PIXELS = 1 << 26
os.environ.setdefault("OPENCV_IO_MAX_IMAGE_PIXELS", str(MAX_IMAGE_PIXELS))
# OpenCV and ffmpeg log their own lines ("can't read header", "can't open camera by index", "Connection
# refused") for what digitedge already reports in one line of its own. Set the variables yourself to see them.
os.environ.setdefault("OPENCV_LOG_LEVEL", "OFF")
os.environ.setdefault("OPENCV_FFMPEG_LOGLEVEL", "-8")  # AV_LOG_QUIET
