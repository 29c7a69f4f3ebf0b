"""The ALTReco model: backbone, heads, packaged weights, ONNX export."""
