"""General image classification: ImageNet top-k labels (``POST /classify``)."""
