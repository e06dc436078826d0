"""Linear self-attention trained on in-context regression, and its equivalence with gradient
descent (docs/lsa.md)."""
