"""Faces: enrolled face photos, their embeddings, and the image files behind them."""
