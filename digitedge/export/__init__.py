"""Export side: checkpoint -> fp32 ONNX -> static int8 ONNX, each parity-checked before it is written."""
