"""The two-stage chain-of-thought circuit model (cot.md §9): Level 0 closed form and the Level 1
trainable two-stage associative memory."""
