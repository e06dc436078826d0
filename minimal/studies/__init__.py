"""Studies built from the model families (each a library function, a CLI command and figures)."""
