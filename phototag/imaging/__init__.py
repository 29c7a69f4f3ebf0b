"""Turning photo files into pixels: decoding every format, fast."""
