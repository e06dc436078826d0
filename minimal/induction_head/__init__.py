"""Minimal induction-head models (ih3, ih2, ih2-labels) on the in-context classification task."""
