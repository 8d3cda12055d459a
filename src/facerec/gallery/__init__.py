"""Portable gallery export and import: people, photos and descriptors between installations."""
