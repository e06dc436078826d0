"""The two-stage chain-of-thought circuit model (docs/cot.md): Level 0 closed form and the Level 1
trainable two-stage associative memory."""
